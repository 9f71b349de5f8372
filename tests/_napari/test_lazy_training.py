"""Train on a lazy (dask-backed) cube layer in a real viewer (issue 17): a scene larger than the
window is handed to the Trainer as it is and never read whole; progress, previews, Stop and the
final map work as for an in-memory cube."""

import threading

import dask.array as da
import numpy as np
import pytest

import napari_ssdgl.training.trainer as trainer_module
import napari_ssdgl.transforms.normalize as normalize
from napari_ssdgl._napari._sample_data import scene_layers
from napari_ssdgl._napari._widget import SSDGLWidget
from napari_ssdgl.datasets import make_synthetic_scene
from tests._napari.gui_helpers import TIMEOUT_MS, wait_idle, wait_trainer
from tests._napari.test_widget import FREENET_TINY, sparse_labels
from tests.conftest import Recording

pytestmark = pytest.mark.gui

# larger than a scoring tile (256 px): on a smaller scene one tile is the whole cube
BANDS, SIZE, WINDOW = 16, 288, 32
FULL = BANDS * SIZE * SIZE




@pytest.fixture(scope="module")
def big_scene():
    return make_synthetic_scene(size=SIZE, bands=BANDS)


@pytest.fixture
def lazy_dock(make_napari_viewer, big_scene, monkeypatch):
    """(viewer, widget, cube layer, recording source): the scene's cube as a dask array in one
    chunk (so any read of the whole array shows as one full-size read), labels painted, ground
    truth picked, a tiny model training in 32 px windows."""
    # streamed statistics in blocks of 16 rows (the default budget reads this cube in one go)
    monkeypatch.setattr(normalize, "STREAM_BYTES", BANDS * SIZE * 4 * 16)
    viewer = make_napari_viewer()
    (cube, cube_kw, _), (gt, gt_kw, _) = scene_layers(big_scene)
    source = Recording(np.ascontiguousarray(cube))
    layer = viewer.add_image(da.from_array(source, chunks=source.shape),
                             **(cube_kw | {"metadata": cube_kw["metadata"] | {"lazy": True}}))
    gt_layer = viewer.add_labels(gt, **gt_kw)
    widget = SSDGLWidget(viewer)
    viewer.window.add_dock_widget(widget, name="SSDGL classifier")
    widget.data.cube_picker.value = layer
    widget.gt_picker.value = gt_layer
    widget.new_labels_layer().data = sparse_labels(gt)
    widget.config_overrides = dict(FREENET_TINY, window=WINDOW, windows_per_batch=2)
    # the map after training in tiles smaller than the scene (the default, a chunk and its
    # margins, is larger than this small scene: it would be one read of all of it)
    widget.lazy_options = {"tile_size": 192}
    # only what the dock reads counts: napari's first slice of a new layer reads it whole
    source.reads.clear()
    return viewer, widget, layer, source


def test_lazy_layer_trains_in_windows_without_reading_the_cube_whole(lazy_dock, big_scene,
                                                                     qtbot, notes, monkeypatch):
    viewer, w, layer, source = lazy_dock
    streamed_in = []  # the statistics pass over the whole cube: minutes on a big scene
    real = trainer_module._streamed_statistics
    monkeypatch.setattr(trainer_module, "_streamed_statistics", lambda cube: (
        streamed_in.append(threading.current_thread()), real(cube))[1])
    w.config_overrides |= {"iterations": 20, "preview_every": 10, "eval_every": 10}
    # previews by iteration count only: the dock's clock asks for one more after 4 s, which a
    # loaded machine reaches within these 20 iterations (previews seen at [10, 12, 20])
    w.settings.preview_seconds.setValue(0)
    previews = []
    original = w.training._on_event

    def recording(job, event):
        if event.preview is not None:
            previews.append(event.iteration)
        original(job, event)

    w.training._on_event = recording
    said = []
    set_text = w.training.status.setText
    w.training.status.setText = lambda text: (said.append(text), set_text(text))[1]
    job = w.train()
    assert wait_trainer(qtbot, job).windowed
    assert len(streamed_in) == 1 and streamed_in[0] is not threading.main_thread()
    assert job.cube is layer.data and job.lazy  # handed over, not copied
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors
    # then the map came tile by tile, as Apply makes it, and was scored once, on the ground truth
    assert w.status.text().startswith("Model trained: "), w.status.text()
    assert "OA" in w.status.text() and w.results.metrics is not None
    mapping = [t for t in said if "mapping" in t]
    assert mapping and mapping[0].startswith("Model trained; mapping"), said
    assert "tile by tile" in mapping[-1] and "scene statistics" not in mapping[-1], mapping
    assert any(f"in {WINDOW} px windows (2 per iteration)" in t for t in said), said
    assert job.outcome.prediction is None and job.trainer.best_metrics.get("oa") is None
    assert w.classifier.metrics["oa"] == w.results.metrics["oa"]  # kept with the model
    # its uncertainty came with the tiles: the next labels can be suggested from it
    uncertainty = viewer.layers[f"{layer.name} uncertainty"].data
    assert uncertainty.shape == (SIZE, SIZE) and (uncertainty > 0).mean() > 0.9
    points = w.suggest_labels(10)
    assert points is not None and len(points.data) == 10
    assert previews == [10, 20] and len(w.plot.iters) == 20
    clf = w.classifier
    assert clf is not None and clf.layer_statistics is not None
    pred = viewer.layers[f"{layer.name} prediction"].data
    # the map is the model's own one-pass map of tiles: the whole in-memory cube predicted
    # with the same statistics gives the same classes (but for a few close calls)
    whole = clf.predict(big_scene.cube.data, device="cpu").labels
    assert pred.shape == (SIZE, SIZE) and (pred == whole).mean() > 0.99
    assert len(np.unique(pred)) > 1
    # the cube was read in windows, statistics blocks and tiles, never whole
    assert (BANDS, WINDOW, WINDOW) in source.reads and (BANDS, 16, SIZE) in source.reads
    assert source.largest_read() < FULL, sorted(set(source.reads))


def test_stop_on_a_lazy_layer_keeps_the_best_model(lazy_dock, qtbot, notes):
    viewer, w, layer, source = lazy_dock
    w.config_overrides |= {"iterations": 100_000, "preview_every": 0, "eval_every": 2}
    job = w.train()
    assert job.cube is layer.data and w.stop_button.isEnabled()
    qtbot.waitUntil(lambda: len(w.plot.iters) >= 3, timeout=TIMEOUT_MS)
    w.stop_button.click()
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors
    assert "Stopped at iteration" in w.status.text(), w.status.text()
    assert w.classifier is not None and job.trainer.iterations_done < 100_000
    assert viewer.layers[f"{layer.name} prediction"].data.shape == (SIZE, SIZE)
    assert w.train_button.isEnabled() and not w.stop_button.isEnabled()
    assert source.largest_read() < FULL, sorted(set(source.reads))


def test_the_map_after_training_a_lazy_layer_stops_on_its_own(lazy_dock, qtbot, notes):
    """The map of a lazy cube comes after training, as a job of its own: Stop then stops the
    map (the tiles done stay), and the trained model is kept either way."""
    from napari_ssdgl._napari._lazy_apply import LazyJob

    viewer, w, layer, source = lazy_dock
    w.config_overrides |= {"iterations": 3, "preview_every": 0, "eval_every": 0}
    job = w.train()
    qtbot.waitUntil(lambda: any(isinstance(j, LazyJob) for j in w.runner.jobs),
                    timeout=TIMEOUT_MS)
    mapping = w.runner.jobs[0]
    assert mapping.trained is job and mapping.classifier is w.classifier
    assert w.running and w.stop_button.isEnabled() and not w.train_button.isEnabled()
    w.stop()
    wait_idle(qtbot, w, mapping)
    assert not notes.errors, notes.errors
    assert w.status.text().startswith("Stopped: "), w.status.text()
    assert w.classifier is job.outcome.classifier and w.train_button.isEnabled()
    assert w.suggest_labels() is None and "all its tiles" in notes.warnings[-1]  # a part map


def test_previews_of_a_lazy_layer_cover_the_part_in_view(lazy_dock, qtbot, notes,
                                                         monkeypatch):
    """A windowed run previews the part of the scene in view (here, with nothing drawn yet,
    the central square), not the whole scene; the final map covers it all."""
    import napari_ssdgl._napari._training_box as training_box

    viewer, w, layer, source = lazy_dock
    monkeypatch.setattr(training_box, "PREVIEW_PX", 64)
    asked = []
    original = trainer_module.Trainer.request_preview
    monkeypatch.setattr(trainer_module.Trainer, "request_preview",
                        lambda self, region=None: (asked.append(region),
                                                   original(self, region))[1])
    w.settings.preview_seconds.setValue(0.2)
    w.config_overrides |= {"iterations": 100_000, "preview_every": 0, "eval_every": 0}
    job = w.train()
    name = f"{layer.name} prediction"
    qtbot.waitUntil(lambda: name in viewer.layers, timeout=TIMEOUT_MS)
    preview = np.array(viewer.layers[name].data)
    middle = slice((SIZE - 64) // 2, (SIZE - 64) // 2 + 64)
    assert asked[0] == (middle, middle)
    assert preview[middle, middle].all() and not preview[:middle.start].any()
    w.stop_button.click()
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors
    assert viewer.layers[name].data.all()  # the final map: every pixel
    assert source.largest_read() < FULL


def test_the_train_tabs_window_settings_and_a_lazy_cube_never_trained_whole(lazy_dock, notes,
                                                                             monkeypatch):
    viewer, w, layer, source = lazy_dock
    w.config_overrides = dict(FREENET_TINY)  # the window comes from the Train tab
    w.settings.window.setValue(WINDOW)
    w.settings.windows_per_batch.setValue(3)
    config = w.settings.config()
    assert (config.window, config.windows_per_batch) == (WINDOW, 3)
    w.settings.windows_per_batch.setValue(0)  # auto: chosen from the labels
    assert w.settings.windows_per_batch.text() == "auto"
    assert w.settings.config().windows_per_batch is None
    assert w.settings.window.text() == f"{WINDOW} px"
    w.settings.window.setValue(0)  # 0: the whole scene
    assert w.settings.window.text() == "whole scene"
    assert w.settings.config().window is None
    monkeypatch.setenv("NAPARI_SSDGL_LAZY_BYTES", "1000")  # this lazy cube is "too big"
    assert w.train() is None and not w.running
    assert "Training window" in notes.errors[-1] and "too big to load" in notes.errors[-1]
    assert not source.reads  # nothing was loaded


def test_which_cubes_are_handed_over_and_which_are_copied(lazy_dock, monkeypatch):
    viewer, w, layer, source = lazy_dock
    assert w.data.training_cube(layer, WINDOW) is layer.data  # lazy and larger than a window
    small = w.data.training_cube(layer, 320)  # fits one window: read into memory, as before
    assert isinstance(small, np.ndarray) and small.dtype == np.float32
    np.testing.assert_array_equal(small, source._data)
    # a numpy array over the lazy threshold: handed over only when it is read-only (a
    # writable one could be edited in place while training reads it)
    monkeypatch.setenv("NAPARI_SSDGL_LAZY_BYTES", "1000")
    big = viewer.add_image(source._data.copy(), name="big in memory")
    assert w.data.training_cube(big, WINDOW) is not big.data
    frozen = source._data.copy()
    frozen.flags.writeable = False
    big.data = frozen
    assert w.data.training_cube(big, WINDOW) is big.data


def test_band_selection_on_a_lazy_layer_is_read_window_by_window(lazy_dock, big_scene, qtbot,
                                                                 notes):
    """Bands excluded in the Bands box are dropped as each window and tile is read: the model
    takes the kept bands and the lazy cube is still never read whole."""
    viewer, w, layer, source = lazy_dock
    w.config_overrides |= {"iterations": 6, "preview_every": 0, "eval_every": 0}
    w.bands.exclude.setText("0-2")
    job = w.train()
    assert job is not None and job.cube is layer.data
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors
    clf = w.classifier
    assert clf.bands == BANDS - 3 and clf.band_selection.excluded == [0, 1, 2]
    pred = viewer.layers[f"{layer.name} prediction"].data
    whole = clf.predict(big_scene.cube.data, device="cpu").labels  # the full-band cube
    assert (pred == whole).mean() > 0.99
    assert source.largest_read() < FULL, sorted(set(source.reads))
