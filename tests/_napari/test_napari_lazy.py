"""Big scenes in napari: zarr directories and files over the lazy threshold open as dask-backed
layers (a few chunks read for the contrast limits, nothing more), and "Apply to cube" on such a
layer predicts it tile by tile in the background, filling the class map as the tiles finish.

Scenes are 40 x 48 px with 6 bands in 16 px chunks, the model the tiny SSDGL trained for 30
iterations (about 2 s); tiles of 80 px with 32 px of overlap give 9 tiles whose map equals the
in-memory whole-scene map exactly.
"""

from __future__ import annotations

import threading
import time
import warnings

import dask.array as da
import numpy as np
import pytest
import zarr

from napari_ssdgl._napari import _lazy_apply, _reader
from napari_ssdgl._napari._reader import LAZY_BYTES_ENV, get_reader
from tests._napari.gui_helpers import TIMEOUT_MS, Notes, wait_idle
from tests.conftest import tiny_classifier, toy_scene

BANDS, ROWS, COLS, CHUNK = 6, 40, 48, 16
BOXES = ((2, 18, 2, 22, 1), (22, 38, 2, 20, 2), (4, 36, 26, 46, 3))
WL = [450.0, 500.0, 550.0, 600.0, 650.0, 700.0]
TILES = {"tile_size": 80, "overlap": 32}  # 9 tiles; equals whole-scene prediction here


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray]:
    return toy_scene(bands=BANDS, size=ROWS, cols=COLS, boxes=BOXES)


def write_zarr(path, cube: np.ndarray, wavelengths=WL):
    z = zarr.open_array(str(path), mode="w", shape=cube.shape, chunks=(cube.shape[0], CHUNK, CHUNK),
                        dtype=cube.dtype)
    z[:] = cube
    if wavelengths is not None:
        z.attrs["wavelengths"] = list(wavelengths)
    return path


@pytest.fixture
def count_reads(monkeypatch) -> list:
    """The zarr chunk reads made from here on (one entry per ``zarr.Array.__getitem__``)."""
    reads: list = []
    original = zarr.Array.__getitem__

    def counting(self, key):
        out = original(self, key)
        if np.asarray(out).size:  # dask may take a 0-size slice for its meta
            reads.append(key)
        return out

    monkeypatch.setattr(zarr.Array, "__getitem__", counting)
    return reads


# -- reader --------------------------------------------------------------------------------------
def test_zarr_directory_opens_as_a_lazy_layer_reading_a_few_chunks(scene, tmp_path, count_reads):
    cube = scene[0]
    path = write_zarr(tmp_path / "flight.zarr", cube)
    count_reads.clear()
    reader = get_reader(str(path))
    assert callable(reader)
    [(data, kwargs, kind)] = reader(str(path))
    assert kind == "image" and isinstance(data, da.Array) and data.shape == cube.shape
    chunks = (ROWS // CHUNK + 1) * (COLS // CHUNK)  # 3 x 3
    assert 0 < len(count_reads) <= 4 < chunks  # the contrast limits' sample, not the cube
    assert kwargs["metadata"]["lazy"] is True and kwargs["metadata"]["wavelengths"] == WL
    lo, hi = kwargs["contrast_limits"]
    assert cube.min() <= lo < hi <= cube.max()
    assert kwargs["name"] == "flight" and kwargs["rgb"] is False
    np.testing.assert_array_equal(data[:, 5, 7].compute(), cube[:, 5, 7])
    assert get_reader(path) is not None  # a Path works as well as a str


def test_file_over_the_threshold_opens_lazily(scene, tmp_path, monkeypatch):
    cube = scene[0]
    npy = tmp_path / "cube.npy"
    np.save(npy, np.moveaxis(cube, 0, -1))  # bands last, as many tools write them
    [(small, _, _)] = get_reader(str(npy))(str(npy))
    assert isinstance(small, np.ndarray)  # under 1 GiB: read into memory as before

    def whole_array(*args, **kwargs):
        raise AssertionError("robust_limits reads the whole array")

    monkeypatch.setattr(_reader, "robust_limits", whole_array)
    monkeypatch.setenv(LAZY_BYTES_ENV, "1000")  # the file is ~46 kB
    [(data, kwargs, kind)] = get_reader(str(npy))(str(npy))
    assert kind == "image" and isinstance(data, da.Array) and kwargs["metadata"]["lazy"]
    np.testing.assert_array_equal(data.compute(), cube)

    from spectral.io import envi  # ENVI: the size is the data file's, read off the header

    envi.save_image(str(tmp_path / "c.hdr"), np.moveaxis(cube, 0, -1), interleave="bsq",
                    force=True, metadata={"wavelength": WL})
    [(data, kwargs, _)] = get_reader(str(tmp_path / "c.hdr"))(None)
    assert isinstance(data, da.Array) and kwargs["metadata"]["wavelengths"] == WL
    monkeypatch.undo()
    monkeypatch.setenv(LAZY_BYTES_ENV, str(cube.nbytes))  # not more than the threshold
    [(data, _, _)] = get_reader(str(tmp_path / "c.hdr"))(None)
    assert isinstance(data, np.ndarray)


def test_prediction_zarr_opens_as_labels_and_foreign_zarr_is_left_alone(tmp_path):
    from napari_ssdgl.prediction.dask_predict import DaskPrediction
    from napari_ssdgl.workflows.dask_run import write_prediction

    probs = np.random.default_rng(0).random((3, ROWS, COLS), dtype=np.float32)
    pred = DaskPrediction(da.from_array(probs, chunks=(3, CHUNK, CHUNK)), np.array([1, 2, 5]))
    labels = pred.labels.compute()
    write_prediction(pred, tmp_path / "map.zarr", outputs=("labels", "probabilities"),
                     attrs={"colors": {1: "#ff0000"}, "class_names": {1: "water"}})
    group = zarr.open_group(str(tmp_path / "map.zarr"), mode="r+")
    [(data, kwargs, kind)] = get_reader(str(tmp_path / "map.zarr"))(None)
    assert kind == "labels" and isinstance(data, da.Array)
    np.testing.assert_array_equal(data.compute(), labels)
    assert kwargs["name"] == "map prediction" and kwargs["metadata"]["class_names"] == {1: "water"}
    assert kwargs["colormap"][1] == "#ff0000"

    group.attrs["complete"] = False  # left by a run that did not finish: explained
    with pytest.warns(UserWarning, match="incomplete"):
        assert get_reader(str(tmp_path / "map.zarr")) is None
    flat = zarr.open_array(str(tmp_path / "flat.zarr"), mode="w", shape=(8, 8), dtype="f4")
    flat[:] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not a cube: napari's own zarr reader may take it
        assert get_reader(str(tmp_path / "flat.zarr")) is None
        assert get_reader(str(tmp_path)) is None  # a plain folder


def test_manifest_offers_the_reader_for_zarr_directories(tmp_path):
    from npe2 import PluginManager

    path = write_zarr(tmp_path / "c.zarr", np.zeros((BANDS, 4, 4), np.float32))
    pm = PluginManager.instance()
    pm.discover()
    readers = {r.plugin_name for r in pm.iter_compatible_readers([str(path)])}
    assert "napari-ssdgl" in readers


# -- Apply to cube on a lazy layer -----------------------------------------------------------
@pytest.fixture(scope="module")
def clf(scene):
    return tiny_classifier(*scene)


@pytest.fixture
def lazy_dock(make_napari_viewer, scene, clf, tmp_path):
    """(viewer, widget, lazy cube layer): the zarr scene opened through the plugin's reader."""
    from napari_ssdgl._napari._widget import SSDGLWidget

    viewer = make_napari_viewer()
    path = write_zarr(tmp_path / "scene.zarr", scene[0])
    [layer] = viewer.open(str(path), plugin="napari-ssdgl")
    widget = SSDGLWidget(viewer)
    viewer.window.add_dock_widget(widget, name="SSDGL classifier")
    widget.classifier = clf
    widget.lazy_options = dict(TILES)

    def no_copy(*args, **kwargs):
        raise AssertionError("the lazy cube was copied into memory")

    widget.data.copy_cube = no_copy
    return viewer, widget, layer


@pytest.fixture
def events(monkeypatch) -> list:
    """(kind, filled pixels after it, on the main thread) per worker event the dock applied."""
    seen: list = []
    original = _lazy_apply.on_event

    def recording(job, event):
        text = original(job, event)
        seen.append((event[0], int(np.count_nonzero(job.output)),
                     threading.current_thread() is threading.main_thread()))
        return text

    monkeypatch.setattr(_lazy_apply, "on_event", recording)
    return seen


@pytest.mark.gui
def test_apply_to_lazy_cube_fills_the_map_tile_by_tile(lazy_dock, scene, clf, qtbot, events):
    from napari_ssdgl.analysis.metrics import classification_metrics
    from napari_ssdgl.training import split_per_class

    viewer, w, layer = lazy_dock
    cube, gt = scene
    assert isinstance(layer.data, da.Array) and layer.metadata["lazy"]
    train = split_per_class(gt, 5, seed=0)[0].astype(np.uint8)
    w.labels_picker.value = viewer.add_labels(train, name="painted")
    w.gt_picker.value = viewer.add_labels(gt, name="truth")
    notes = Notes()
    job = w.apply_to_cube(layer)
    assert isinstance(job, _lazy_apply.LazyJob) and job.blocks == 9
    out = viewer.layers["scene prediction"]  # there from the start, empty
    assert not out.data.any() and out.data.shape == (ROWS, COLS)
    assert w.stop_button.isEnabled() and not w.apply_button.isEnabled()
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors

    blocks = [filled for kind, filled, _ in events if kind == "block"]
    assert len(blocks) == 9 and blocks == sorted(blocks)
    assert 0 < blocks[0] < ROWS * COLS  # the first tile showed alone, before the others
    assert any(kind == "pass" for kind, _, _ in events)  # scene statistics reported
    assert all(main for _, _, main in events)  # layers touched on the main thread only
    expected = clf.predict(cube).labels  # in memory, whole scene
    np.testing.assert_array_equal(out.data, expected)
    assert out is viewer.layers["scene prediction"] and out.metadata["ssdgl_role"] == "prediction"
    assert "Model applied" in w.status.text() and "OA" in w.status.text()
    oa = classification_metrics(expected, gt, exclude=train > 0, class_values=clf.class_values)
    assert w.metrics["oa"] == pytest.approx(oa["oa"])  # scored without the painted pixels
    assert w.apply_button.isEnabled() and not w.stop_button.isEnabled()
    assert job.pbar.n == job.pbar.total == job.passes + 9
    bar = w.training.progress  # the dock's own bar, not napari's (whose indicator animates)
    assert bar.value() == bar.maximum() == job.pbar.total and bar.format() == "done"

    # again: the same layer is reused and filled again
    wait_idle(qtbot, w, w.apply_to_cube(layer))
    assert viewer.layers["scene prediction"] is out
    np.testing.assert_array_equal(out.data, expected)


@pytest.mark.gui
def test_result_arriving_inside_the_last_tile_is_not_overwritten(lazy_dock, qtbot, monkeypatch):
    """napari's progress bar processes pending Qt events when it moves, so the worker's
    returned/finished signals can run inside the last tile's slot: the final status must win."""
    viewer, w, layer = lazy_dock
    original = _lazy_apply.on_event

    def last_tile_after_the_worker_ended(job, event):
        if event[0] == "block" and job.blocks_done == job.blocks - 1:
            assert job.done.wait(60)  # returned and finished are queued behind this slot now
        return original(job, event)

    monkeypatch.setattr(_lazy_apply, "on_event", last_tile_after_the_worker_ended)
    job = w.apply_to_cube(layer)
    wait_idle(qtbot, w, job)
    assert job.blocks_done == job.blocks and "Model applied" in w.status.text()
    assert w.apply_button.isEnabled() and not w.stop_button.isEnabled()


@pytest.mark.gui
def test_predict_over_flips_on_a_lazy_cube(lazy_dock, scene, clf, qtbot):
    """'Predict over flips': the 8 views' statistics passes, then the map of in-memory TTA."""
    viewer, w, layer = lazy_dock
    w.lazy_options = {"tile_size": 112, "overlap": 32}  # one window: 8 views stay quick
    w.settings.tta.setChecked(True)
    notes = Notes()
    job = w.apply_to_cube(layer)
    wait_idle(qtbot, w, job)
    assert not notes.errors and not notes.warnings, (notes.errors, notes.warnings)
    assert job.tta and job.blocks_done == job.blocks == 1 and "Model applied" in w.status.text()
    assert job.pbar.total == job.passes + 1 and job.passes % 8 == 0
    expected = clf.predict(scene[0], tta=True).labels
    np.testing.assert_array_equal(viewer.layers["scene prediction"].data, expected)
    assert w.apply_button.isEnabled() and not w.stop_button.isEnabled()


@pytest.mark.gui
def test_numpy_layer_over_the_threshold_is_not_copied(lazy_dock, scene, clf, qtbot, monkeypatch):
    viewer, w, _ = lazy_dock
    big = viewer.add_image(scene[0], name="in memory")
    monkeypatch.setenv(LAZY_BYTES_ENV, "1000")
    job = w.apply_to_cube(big)
    assert isinstance(job, _lazy_apply.LazyJob)
    wait_idle(qtbot, w, job)
    np.testing.assert_array_equal(viewer.layers["in memory prediction"].data,
                                  clf.predict(scene[0]).labels)


@pytest.mark.gui
def test_stop_during_the_statistics_keeps_the_previous_map(lazy_dock, qtbot, monkeypatch):
    viewer, w, layer = lazy_dock
    wait_idle(qtbot, w, w.apply_to_cube(layer))
    before = viewer.layers["scene prediction"].data.copy()
    n_layers = len(viewer.layers)
    original = _lazy_apply.on_event

    def stop_at_second_pass(job, event):
        if event[0] == "pass" and event[1] == 1:
            w.stop()
        return original(job, event)

    monkeypatch.setattr(_lazy_apply, "on_event", stop_at_second_pass)
    job = w.apply_to_cube(layer)
    wait_idle(qtbot, w, job)
    assert job.stopping and job.blocks_done == 0
    assert "Stopped" in w.status.text() and len(viewer.layers) == n_layers
    np.testing.assert_array_equal(viewer.layers["scene prediction"].data, before)


@pytest.mark.gui
def test_stop_while_tiles_arrive_keeps_the_tiles_done(lazy_dock, qtbot, monkeypatch):
    viewer, w, layer = lazy_dock
    w.lazy_options = {"tile_size": 48, "overlap": 16}  # 9 smaller tiles
    original = _lazy_apply.on_event

    def stop_at_first_tile(job, event):
        if event[0] == "block" and job.blocks_done == 0:
            w.stop()
        return original(job, event)

    monkeypatch.setattr(_lazy_apply, "on_event", stop_at_first_tile)
    job = w.apply_to_cube(layer)
    wait_idle(qtbot, w, job)
    out = viewer.layers["scene prediction"].data
    assert 1 <= job.blocks_done <= job.blocks and "Stopped" in w.status.text()
    assert 0 < np.count_nonzero(out)  # the tiles done stay on screen


@pytest.mark.gui
def test_closing_the_viewer_mid_apply_ends_the_worker(lazy_dock, qtbot, events):
    viewer, w, layer = lazy_dock
    job = w.apply_to_cube(layer)
    qtbot.waitUntil(lambda: any(kind == "pass" for kind, _, _ in events), timeout=TIMEOUT_MS)
    t0 = time.perf_counter()
    viewer.close()
    assert job.done.is_set() and job.cancelled  # close waited for the thread to end
    assert time.perf_counter() - t0 < 30 and job.blocks_done < job.blocks


@pytest.mark.gui
def test_bad_input_and_worker_errors_leave_the_layers_intact(lazy_dock, scene, qtbot,
                                                             monkeypatch):
    viewer, w, layer = lazy_dock
    notes = Notes()
    wrong = viewer.add_image(da.from_array(scene[0][:4], chunks=(4, CHUNK, CHUNK)),
                             name="four bands")
    n_layers = len(viewer.layers)
    assert w.apply_to_cube(wrong) is None
    assert any("Band mismatch" in m and "4 bands" in m and "trained on 6" in m
               for m in notes.errors), notes.errors
    assert len(viewer.layers) == n_layers and not w.running

    def broken(*args, **kwargs):
        raise RuntimeError("corrupt chunk in [0:6, 16:32, 0:16]")

    monkeypatch.setattr(_lazy_apply, "predict_dask", broken)
    wait_idle(qtbot, w, w.apply_to_cube(layer))  # no earlier map: the new layer goes again
    assert any("Prediction failed: corrupt chunk" in m for m in notes.errors), notes.errors
    assert len(viewer.layers) == n_layers and "scene prediction" not in viewer.layers
    assert w.apply_button.isEnabled() and not w.stop_button.isEnabled()
    assert "Prediction failed" in w.status.text()

    monkeypatch.undo()
    w.lazy_options = dict(TILES)
    wait_idle(qtbot, w, w.apply_to_cube(layer))
    before = viewer.layers["scene prediction"].data.copy()
    monkeypatch.setattr(_lazy_apply, "predict_dask", broken)
    wait_idle(qtbot, w, w.apply_to_cube(layer))  # an earlier map: put back as it was
    np.testing.assert_array_equal(viewer.layers["scene prediction"].data, before)
