"""The SSDGL dock in a real napari viewer (run under Xvfb): paint, train, inspect, reuse.

Scenes are small (32x32, 16 bands) and models tiny (width 16) so each training run takes
about a second on a CPU; the accuracy bar (OA > 0.8 against chance ~0.2) is still one that a
broken pipeline (shuffled labels, wrong band order, no learning) cannot clear.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from napari.layers import Image, Labels, Points
from qtpy.QtCore import QTimer

from napari_ssdgl._napari._sample_data import scene_layers
from napari_ssdgl._napari._widget import SSDGLWidget
from napari_ssdgl.datasets import make_synthetic_scene
from napari_ssdgl.training import split_per_class
from tests._napari.gui_helpers import TIMEOUT_MS, wait_idle, wait_trainer

pytestmark = pytest.mark.gui

SSDGL_TINY = dict(model="ssdgl", iterations=80, lr=0.003 * 3, eval_every=20, preview_every=20,
                  model_kwargs=dict(widths=[16] * 4, decoder_width=16, groups=4, time_steps=2))
FREENET_TINY = dict(model="freenet", iterations=30, lr=0.01, eval_every=10, preview_every=10,
                    model_kwargs=dict(widths=[16] * 4, decoder_width=16, groups=4))


@pytest.fixture
def dock(opened, scene):
    """(viewer, widget) with the scene's cube and ground truth, ground truth picked for scoring."""
    viewer, widget = opened
    widget.gt_picker.value = viewer.layers[scene.gt.name]
    widget.config_overrides = dict(FREENET_TINY)
    return viewer, widget


def sparse_labels(gt: np.ndarray, per_class: int = 8, seed: int = 0) -> np.ndarray:
    """A few ground-truth pixels per class, as a user would paint them."""
    return split_per_class(gt, per_class, seed=seed)[0].astype(np.uint16)


def paint(widget, gt) -> Labels:
    layer = widget.new_labels_layer()
    layer.data = sparse_labels(gt)
    return layer


def test_new_labels_layer_classes_table_and_hotkeys(dock, scene):
    viewer, w = dock
    layer = w.new_labels_layer()
    assert isinstance(layer, Labels)
    assert layer.data.shape == scene.gt.data.shape and layer.data.ndim == 2
    assert viewer.layers.selection.active is layer and layer.mode == "paint"
    assert w.labels_picker.value is layer
    # names/colours from the scene registry, counts live while painting
    assert w.classes.classes() == scene.gt.class_names
    data = layer.data.copy()
    data[:2, :3] = 2
    layer.data = data
    row = list(w.classes.classes()).index(2)
    assert w.classes.item(row, 3).text() == "6"
    assert w.classes.item(row, 2).background().color().name() == scene.gt.colors[2]
    w.classes.item(row, 1).setText("Old forest")
    assert layer.metadata["class_names"][2] == "Old forest"
    # 1-9 pick the class (not napari's digit mode shortcuts) on this layer only
    for key in ("4", "1"):
        viewer.window._qt_viewer._key_map_handler.press_key(key)
        viewer.window._qt_viewer._key_map_handler.release_key(key)
        assert layer.selected_label == int(key) and layer.mode == "paint"


def test_status_line_says_the_next_step_until_the_first_run(make_napari_viewer, dock, scene,
                                                             qtbot, notes):
    empty = SSDGLWidget(make_napari_viewer())
    assert "Open a hyperspectral cube" in empty.status.text()
    viewer, w = dock
    assert "Click 'New labels layer'" in w.status.text()  # the sample: a cube, no labels yet
    layer = w.new_labels_layer()
    assert w.status.text().startswith("0 px of 0 classes painted")
    data = layer.data.copy()
    data[:2, :3] = 2
    layer.data = data
    assert w.status.text().startswith("6 px of 1 class painted: paint a few pixels of at least 2")
    data[5:9, 5] = 3
    layer.data = data
    assert w.status.text().startswith("10 px in 2 classes painted: press Train")
    layer.data = sparse_labels(scene.gt.data)
    job = w.train()
    wait_idle(qtbot, w, job)
    done = w.status.text()
    layer.data = np.zeros_like(layer.data)  # after a run the status keeps its result
    assert w.status.text() == done and "painted" not in done


def test_train_outputs_accuracy_and_responsive_gui(dock, scene, qtbot, tmp_path, notes):
    viewer, w = dock
    w.config_overrides = dict(SSDGL_TINY)
    labels = paint(w, scene.gt.data)
    added_while_training = []
    viewer.layers.events.inserted.connect(
        lambda e: added_while_training.append(e.value.name) if w.running else None)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    assert w.train_button.isEnabled()
    w.train_button.click()
    job = w.runner.jobs[0]
    assert w.running and not w.train_button.isEnabled() and w.stop_button.isEnabled()
    t0 = time.perf_counter()
    wait_idle(qtbot, w, job)
    elapsed = time.perf_counter() - t0
    timer.stop()
    assert not notes.errors, notes.errors
    # the event loop kept serving: the timer fired all through training, with no long stall
    # (training on the GUI thread would stall it for the whole run)
    assert len(ticks) > 0.2 * elapsed / 0.01
    assert np.diff(ticks).max() < min(1.5, 0.5 * elapsed)
    # preview map shown before training ended; live curve got every iteration
    assert "Synthetic scene prediction" in added_while_training
    assert len(w.plot.iters) == SSDGL_TINY["iterations"] and len(w.plot.test_oa) >= 3
    assert w.train_button.isEnabled() and not w.stop_button.isEnabled()

    pred = viewer.layers["Synthetic scene prediction"]
    probs = viewer.layers["Synthetic scene probabilities"]
    unc = viewer.layers["Synthetic scene uncertainty"]
    assert isinstance(pred, Labels) and isinstance(probs, Image) and isinstance(unc, Image)
    assert pred.data.shape == (32, 32) and np.issubdtype(pred.data.dtype, np.integer)
    assert probs.data.shape == (6, 1, 32, 32) and probs.data.dtype == np.float32  # classes
    np.testing.assert_allclose(probs.data.sum(0), 1.0, atol=1e-4)
    assert unc.data.shape == (32, 32) and unc.data.dtype == np.float32
    assert set(np.unique(pred.data)) <= set(range(1, 7))
    # prediction in the training colours
    assert np.allclose(pred.get_color(5)[:3], np.array([0x1E, 0x88, 0xE5]) / 255, atol=0.01)
    # accuracy on the ground truth (training pixels excluded) beats chance by far
    assert w.metrics["oa"] > 0.8 and w.metrics["n_test"] == int(
        ((scene.gt.data > 0) & (labels.data == 0)).sum())
    assert w.accuracy.table.rowCount() == 6 and "OA" in w.accuracy.summary.text()
    errors = viewer.layers["Synthetic scene errors"].data
    wrong = (scene.gt.data > 0) & (pred.data != scene.gt.data) & (labels.data == 0)
    np.testing.assert_array_equal(errors > 0, wrong)
    # exports
    w.accuracy.export(tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text())["oa"] == pytest.approx(w.metrics["oa"])
    w.accuracy.export(tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_text().startswith("oa,")
    # where to label next: spread-out points on unlabelled pixels
    points = w.suggest_labels(10)
    assert isinstance(points, Points) and len(points.data) == 10
    rc = points.data.astype(int)
    assert not (labels.data[rc[:, 0], rc[:, 1]] > 0).any()
    assert w.suggest_labels(5) is points and len(points.data) == 5
    # the user's layers are all still there
    assert scene.cube.name in viewer.layers and labels in viewer.layers


def test_result_arriving_inside_the_last_iteration_is_not_overwritten(dock, scene, qtbot,
                                                                     monkeypatch, notes):
    """napari's progress bar processes pending Qt events when it moves, so the worker's
    returned/finished signals can run inside the last iteration's slot: the result must win."""
    viewer, w = dock
    paint(w, scene.gt.data)
    w.config_overrides = dict(FREENET_TINY, iterations=5, preview_every=5)
    original = w.training._on_event

    def last_iteration_after_the_worker_ended(job, event):
        if event.iteration == event.iterations:
            assert job.done.wait(60)  # returned and finished are queued behind this slot now
        original(job, event)

    monkeypatch.setattr(w.training, "_on_event", last_iteration_after_the_worker_ended)
    wait_idle(qtbot, w, w.train())
    assert not notes.errors, notes.errors
    assert w.status.text().startswith("Model trained") and w.classifier is not None
    assert len(w.plot.iters) == 5 and w.train_button.isEnabled()


def test_stop_keeps_best_and_second_run_reuses_layers(dock, scene, qtbot, notes):
    viewer, w = dock
    paint(w, scene.gt.data)
    w.config_overrides = dict(FREENET_TINY, iterations=100_000)
    job = w.train()
    qtbot.waitUntil(lambda: len(w.plot.iters) >= 3, timeout=TIMEOUT_MS)
    w.stop_button.click()
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors
    assert w.classifier is not None and len(w.plot.iters) < 100_000
    assert "Stopped at iteration" in w.status.text()
    assert "Synthetic scene prediction" in viewer.layers
    assert w.train_button.isEnabled() and not w.stop_button.isEnabled()
    names = [layer.name for layer in viewer.layers]
    pred = viewer.layers["Synthetic scene prediction"]
    w.config_overrides = dict(FREENET_TINY, iterations=5)
    wait_idle(qtbot, w, w.train())
    assert [layer.name for layer in viewer.layers] == names
    assert viewer.layers["Synthetic scene prediction"] is pred


def test_save_load_apply_to_second_cube(dock, scene, qtbot, tmp_path, notes):
    viewer, w = dock
    paint(w, scene.gt.data)
    wait_idle(qtbot, w, w.train())
    other = make_synthetic_scene(seed=1, size=40, bands=16)  # same bands, another size
    cube2 = viewer.add_image(other.cube.data, name="second cube")
    wait_idle(qtbot, w, w.apply_to_cube(cube2))
    first = viewer.layers["second cube prediction"].data.copy()
    assert viewer.layers["second cube probabilities"].data.shape == (6, 1, 40, 40)
    assert w.save_model(tmp_path / "model") is not None
    w.classifier = None
    assert w.load_model(tmp_path / "model") is not None
    w.apply_picker.value = cube2
    w.apply_button.click()
    wait_idle(qtbot, w, w.runner.jobs[0])
    np.testing.assert_array_equal(viewer.layers["second cube prediction"].data, first)
    assert not notes.errors, notes.errors
    # a cube with another band count: a clear message, nothing started, nothing lost
    n_layers = len(viewer.layers)
    wrong = viewer.add_image(other.cube.data[:10], name="ten bands")
    assert w.apply_to_cube(wrong) is None
    assert any("Band mismatch" in m and "10 bands" in m and "trained on 16" in m
               for m in notes.errors), notes.errors
    assert len(viewer.layers) == n_layers + 1 and not w.running
    # a folder that is not a model (tmp_path itself now reads as a run folder: it has model/)
    (tmp_path / "not a model").mkdir()
    assert w.load_model(tmp_path / "not a model") is None and w.classifier is not None
    assert any("Could not load the model" in m for m in notes.errors)


def test_predict_over_flips_setting(dock, scene, qtbot, notes):
    viewer, w = dock
    paint(w, scene.gt.data)
    w.settings.augment.setChecked(True)
    w.settings.tta.setChecked(True)
    w.config_overrides = dict(FREENET_TINY, iterations=10, preview_every=0)
    job = w.train()
    assert job.tta and wait_trainer(qtbot, job).config.augment
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors
    cube = scene.cube.data
    expected = w.classifier.predict(cube, device="cpu", tta=True)
    np.testing.assert_array_equal(viewer.layers["Synthetic scene prediction"].data,
                                  expected.labels)
    np.testing.assert_allclose(viewer.layers["Synthetic scene probabilities"].data[:, 0],
                               expected.probabilities, atol=1e-5)
    other = viewer.add_image(make_synthetic_scene(seed=1, size=40, bands=16).cube.data,
                             name="second cube")
    wait_idle(qtbot, w, w.apply_to_cube(other))
    np.testing.assert_array_equal(viewer.layers["second cube prediction"].data,
                                  w.classifier.predict(other.data, device="cpu", tta=True).labels)


def test_ensemble_members_setting(dock, scene, qtbot, tmp_path, notes):
    viewer, w = dock
    paint(w, scene.gt.data)
    w.settings.members.setValue(2)
    w.config_overrides = dict(FREENET_TINY, iterations=10, preview_every=0)
    job = w.train()
    assert wait_trainer(qtbot, job).config.model_kwargs["members"] == 2  # tiny widths kept
    assert job.trainer.config.model_kwargs["widths"] == [16] * 4
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors
    assert len(w.classifier.model.members) == 2
    np.testing.assert_array_equal(viewer.layers["Synthetic scene prediction"].data,
                                  w.classifier.predict(scene.cube.data, device="cpu").labels)
    assert w.save_model(tmp_path / "model") is not None
    assert json.loads((tmp_path / "model" / "model.json").read_text())[
        "model_config"]["members"] == 2


@pytest.mark.parametrize("case", ["no_labels", "no_layer", "one_class", "wrong_shape"])
def test_bad_training_input_gives_a_message(dock, scene, case, notes, qtbot):
    viewer, w = dock
    n_layers = len(viewer.layers)
    if case == "no_layer":
        viewer.layers.remove(scene.gt.name)
        n_layers -= 1
        expected = "No training labels"
    else:
        layer = w.new_labels_layer()
        n_layers += 1
        if case == "one_class":
            layer.data = (sparse_labels(scene.gt.data) == 3).astype(np.uint16) * 3
            expected = "one class"
        elif case == "wrong_shape":
            viewer.layers.remove(layer)
            w.labels_picker.value = viewer.add_labels(np.ones((20, 30), np.uint16), name="small")
            expected = "20×30"
        else:
            expected = "no training labels"
    job = w.train()
    if case in ("no_labels", "one_class"):  # the Trainer says so; the worker builds it
        wait_idle(qtbot, w, job)
        assert job.trainer is None and notes.errors[-1] in w.status.text()
    else:  # the dock's own checks, at once
        assert job is None
    assert any(expected in m for m in notes.errors), notes.errors
    assert len(viewer.layers) == n_layers and not w.running and w.train_button.isEnabled()


def test_nan_cube_trains_with_a_warning(dock, scene, qtbot, notes):
    viewer, w = dock
    cube = viewer.layers[scene.cube.name]
    data = cube.data.copy()
    data[3, 5:9, 5:9] = np.nan
    cube.data = data
    paint(w, scene.gt.data)
    w.config_overrides = dict(FREENET_TINY, iterations=5)
    wait_idle(qtbot, w, w.train())
    assert any("NaN" in m for m in notes.warnings), notes.warnings
    assert not notes.errors, notes.errors
    assert np.isnan(cube.data).sum() == 16  # the user's layer is untouched
    assert "Synthetic scene prediction" in viewer.layers


def test_deleting_layers_while_training(dock, scene, qtbot, notes):
    viewer, w = dock
    labels = paint(w, scene.gt.data)
    w.config_overrides = dict(FREENET_TINY, iterations=60)
    job = w.train()
    qtbot.waitUntil(lambda: len(w.plot.iters) >= 1, timeout=TIMEOUT_MS)
    viewer.layers.remove(labels)
    viewer.layers.remove(scene.cube.name)
    wait_idle(qtbot, w, job)
    assert any("was removed" in m for m in notes.infos), notes.infos
    assert not notes.errors, notes.errors
    assert scene.gt.name in viewer.layers and "Synthetic scene prediction" in viewer.layers
    assert w.classifier is not None


def test_closing_viewer_mid_training_stops_the_worker(make_napari_viewer, scene, qtbot):
    viewer = make_napari_viewer()
    for data, kwargs, kind in scene_layers(scene):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    w = SSDGLWidget(viewer)
    viewer.window.add_dock_widget(w)
    paint(w, scene.gt.data)
    w.config_overrides = dict(FREENET_TINY, iterations=100_000)
    job = w.train()
    qtbot.waitUntil(lambda: len(w.plot.iters) >= 2, timeout=TIMEOUT_MS)
    t0 = time.perf_counter()
    viewer.close()
    assert job.done.is_set() and job.cancelled  # close waited for the thread to end
    assert time.perf_counter() - t0 < 30
    assert job.trainer.iterations_done < 100_000


def test_import_labels_with_remap(dock, scene, tmp_path, notes):
    viewer, w = dock
    raster = sparse_labels(scene.gt.data).astype(np.int32)
    np.save(tmp_path / "sparse.npy", raster)
    layer = w.import_labels(tmp_path / "sparse.npy", remap={3: 1, 6: 0})
    assert isinstance(layer, Labels) and w.labels_picker.value is layer
    assert set(np.unique(layer.data)) == {0, 1, 2, 4, 5}
    assert (layer.data == 1).sum() == ((raster == 1) | (raster == 3)).sum()
    np.save(tmp_path / "small.npy", raster[:10])
    assert w.import_labels(tmp_path / "small.npy") is not None
    assert any("cannot train on this cube" in m for m in notes.warnings)
    (tmp_path / "junk.npy").write_bytes(b"not a label raster")
    n = len(viewer.layers)
    assert w.import_labels(tmp_path / "junk.npy") is None and len(viewer.layers) == n
    assert any("Could not import labels" in m for m in notes.errors)


def test_error_in_the_worker_becomes_a_notification(dock, scene, qtbot, notes, monkeypatch):
    from napari_ssdgl.training import Trainer

    def broken_run(self):
        yield from ()
        raise RuntimeError("the GPU caught fire")

    monkeypatch.setattr(Trainer, "run", broken_run)
    viewer, w = dock
    paint(w, scene.gt.data)
    n_layers = len(viewer.layers)
    wait_idle(qtbot, w, w.train())
    assert any("Training failed: the GPU caught fire" in m for m in notes.errors), notes.errors
    assert len(viewer.layers) == n_layers and w.classifier is None
    assert w.train_button.isEnabled() and not w.stop_button.isEnabled()


def test_close_guard_waits_for_an_accepted_user_close(qtbot):
    """A user's close may be cancelled in napari's dialog: act only once the window hides."""
    from qtpy.QtCore import QEvent
    from qtpy.QtWidgets import QWidget

    from napari_ssdgl._napari._close_guard import CloseGuard

    class Event:
        def __init__(self, kind, spontaneous):
            self.kind, self.spont = kind, spontaneous

        def type(self):
            return self.kind

        def spontaneous(self):
            return self.spont

    window = QWidget()
    qtbot.addWidget(window)
    window.show()
    calls = []
    guard = CloseGuard(lambda: calls.append(1))
    guard.watch(window)
    close, hide = QEvent.Type.Close, QEvent.Type.Hide
    guard.eventFilter(window, Event(close, True))
    assert calls == []
    guard.eventFilter(window, Event(hide, True))  # the close was accepted
    assert calls == [1]
    guard.eventFilter(window, Event(close, True))  # ... this one was cancelled
    qtbot.wait(20)
    guard.eventFilter(window, Event(hide, True))  # e.g. minimised later
    assert calls == [1]
    guard.eventFilter(window, Event(close, False))  # viewer.close() from code
    assert calls == [1, 1]
