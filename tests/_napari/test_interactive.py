"""The interactive loop in a real viewer (issue 18, items 1-3): the live map follows the strokes,
Refine continues from the current model (and takes a new class), the accuracy panel says what
it scores on and the kept model is chosen on held-out painted pixels, never on the ground truth.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_ssdgl._napari._widget import SSDGLWidget
from napari_ssdgl.analysis.metrics import classification_metrics
from napari_ssdgl.datasets import make_synthetic_scene
from napari_ssdgl.training import split_per_class
from tests._napari.gui_helpers import TIMEOUT_MS, status_texts, wait_idle, wait_trainer

pytestmark = pytest.mark.gui

FREENET_TINY = dict(model="freenet", iterations=40, lr=0.01, eval_every=10, preview_every=0,
                    model_kwargs=dict(widths=[16] * 4, decoder_width=16, groups=4))
LIVE = "Synthetic scene live map"
GT = "Synthetic scene ground truth"


@pytest.fixture
def dock(opened):
    viewer, widget = opened
    widget.gt_picker.value = viewer.layers[GT]
    widget.config_overrides = dict(FREENET_TINY)
    return viewer, widget


def _labels(gt, per_class, seed=0, drop=()):
    labels = split_per_class(gt, per_class, seed=seed)[0].astype(np.uint16)
    for v in drop:
        labels[labels == v] = 0
    return labels


def test_live_map_follows_each_stroke(dock, scene, qtbot, notes):
    viewer, w = dock
    layer = w.new_labels_layer()
    w.live.toggle.setChecked(True)
    # turning Live on gets the scene's spectra ready before the first stroke; no map yet
    qtbot.waitUntil(lambda: w.live._scene is not None and not w.live.running,
                    timeout=TIMEOUT_MS)
    assert LIVE not in viewer.layers and w.live.runs == 0
    layer.data = _labels(scene.gt.data, 6, drop=(6,))  # a first set of strokes: 5 classes
    qtbot.waitUntil(lambda: w.live.runs >= 1 and not w.live.running, timeout=TIMEOUT_MS)
    assert not notes.errors, notes.errors
    live = viewer.layers[LIVE]
    assert "Synthetic scene prediction" not in viewer.layers  # its own layer, SSDGL's apart
    assert set(np.unique(live.data)) <= {1, 2, 3, 4, 5}
    gt, painted = scene.gt.data, layer.data > 0
    oa = classification_metrics(live.data, np.where(gt == 6, 0, gt), exclude=painted)["oa"]
    assert oa > 0.7, oa
    assert viewer.layers.selection.active is layer  # strokes keep landing on the labels
    # one more stroke, of a new class, through the paint tool: the map follows
    runs = w.live.runs
    rows, cols = np.nonzero(gt == 6)
    layer.selected_label = 6
    for r, c in list(zip(rows, cols, strict=True))[:6]:
        layer.paint((int(r), int(c)), 6)
    qtbot.waitUntil(lambda: w.live.runs > runs and not w.live.running, timeout=TIMEOUT_MS)
    assert 6 in np.unique(viewer.layers[LIVE].data)
    assert viewer.layers[LIVE] is live and w.live.last[0].class_values.tolist() == [1, 2, 3, 4,
                                                                                    5, 6]
    # off: strokes no longer refit
    w.live.toggle.setChecked(False)
    runs = w.live.runs
    layer.data = _labels(gt, 8, seed=1)
    qtbot.wait(3 * 250)
    assert w.live.runs == runs and not w.live.running


def test_strokes_during_a_live_fit_queue_one_more(dock, scene, qtbot, notes):
    viewer, w = dock
    layer = w.new_labels_layer()
    w.live.toggle.setChecked(True)
    layer.data = _labels(scene.gt.data, 5)
    qtbot.waitUntil(lambda: w.live.running, timeout=TIMEOUT_MS)
    newest = _labels(scene.gt.data, 9, seed=2)
    layer.data = newest
    w.live.update_now()  # while the first fit runs: queued, not lost
    qtbot.waitUntil(lambda: w.live.runs >= 2 and not w.live.running, timeout=TIMEOUT_MS)
    assert not notes.errors, notes.errors
    painted = int((newest > 0).sum())
    assert w.live.last[0] is not None and painted == int((layer.data > 0).sum())


def test_refine_keeps_the_weights_and_takes_a_new_class(dock, scene, qtbot, notes):
    viewer, w = dock
    layer = w.new_labels_layer()
    layer.data = _labels(scene.gt.data, 8, drop=(6,))
    assert not w.refine_button.isEnabled()  # no model yet
    wait_idle(qtbot, w, w.train())
    first = w.classifier
    assert first.class_values.tolist() == [1, 2, 3, 4, 5]
    fresh_loss = w.plot.losses[0]
    assert w.refine_button.isEnabled()
    w.settings.refine_iterations.setValue(10)
    # the same labels: the weights are kept, so the first refine loss is far below a fresh start's
    w.refine_button.click()
    job = w.runner.jobs[0]
    assert wait_trainer(qtbot, job).init_from is first
    # a Refine round starts at its own, lower learning rate (not the fresh start's)
    assert job.trainer.config.lr == w.settings.refine_lr.value() == 0.001
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors
    assert len(w.plot.iters) == 10 and w.status.text().startswith("Model refined")
    assert w.plot.losses[0] < 0.3 * fresh_loss, (w.plot.losses[0], fresh_loss)
    assert w.classifier.class_values.tolist() == [1, 2, 3, 4, 5]
    # now with a new class: it gets a row and is learnt in a short round
    layer.data = _labels(scene.gt.data, 8)
    w.settings.refine_iterations.setValue(20)
    w.settings.refine_lr.setValue(FREENET_TINY["lr"])  # the tiny test model's own rate
    wait_idle(qtbot, w, w.refine())
    assert not notes.errors, notes.errors
    refined = w.classifier
    assert refined is not first and refined.class_values.tolist() == [1, 2, 3, 4, 5, 6]
    assert len(w.plot.iters) == 20
    assert np.array_equal(refined.mean, first.mean)
    assert refined.train_config["refined_from"]["class_values"] == [1, 2, 3, 4, 5]
    pred = viewer.layers["Synthetic scene prediction"].data
    assert (pred[scene.gt.data == 6] == 6).mean() > 0.5


def test_refine_refuses_a_cube_with_other_bands(dock, scene, qtbot, notes):
    viewer, w = dock
    w.new_labels_layer().data = _labels(scene.gt.data, 8)
    wait_idle(qtbot, w, w.train())
    other = make_synthetic_scene(seed=1, size=32, bands=12)
    w.cube_picker.value = viewer.add_image(other.cube.data, name="twelve bands")
    job = w.refine()  # refused by the Trainer, which the worker builds
    wait_idle(qtbot, w, job)
    assert job.trainer is None and w.classifier is not None
    assert any("12" in e and "16 bands" in e for e in notes.errors), notes.errors
    assert w.status.text() == notes.errors[-1] and notes.errors[-1].startswith("Cannot train")


def test_panel_says_what_it_scores_on_and_ground_truth_never_chooses(dock, scene, qtbot, notes):
    viewer, w = dock
    w.new_labels_layer().data = _labels(scene.gt.data, 20)  # 4 per class held out: 24 px
    w.config_overrides = dict(FREENET_TINY, eval_every=5, validation_min=24)
    job = w.train()
    assert wait_trainer(qtbot, job).validation_pixels == 24
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors
    text = w.accuracy.summary.text()
    n_test = w.metrics["n_test"]
    assert f"ground-truth layer '{GT}': {n_test} px, training pixels excluded" in text
    assert "chosen on 24 held-out painted pixels" in text
    # the curve shows both: validation (held-out) and test (ground truth)
    assert len(w.plot.val_oa) == len(w.plot.test_oa) == 8
    assert w.classifier.metrics["selected_on"] == "held-out training pixels (24 px)"
    # the same run with the ground truth scrambled keeps the same model
    kept = w.classifier.metrics["iteration"]
    gt_layer = viewer.layers[GT]
    gt_layer.data = np.random.default_rng(0).integers(0, 7, gt_layer.data.shape).astype(
        gt_layer.data.dtype)
    wait_idle(qtbot, w, w.train())
    assert w.classifier.metrics["iteration"] == kept
    # without a ground truth the panel says what chose the model
    w.gt_picker.value = None
    wait_idle(qtbot, w, w.train())
    assert "held-out painted pixels" in w.accuracy.summary.text()


def test_too_few_painted_pixels_train_all_and_the_panel_says_so(dock, scene, qtbot, notes,
                                                               monkeypatch):
    """At the default minimum, 24 held-out pixels are too few to choose on: all 120 painted
    pixels train, the last model is kept, and the panel says why."""
    viewer, w = dock
    w.new_labels_layer().data = _labels(scene.gt.data, 20)
    w.config_overrides = dict(FREENET_TINY, eval_every=5)
    texts = status_texts(monkeypatch, w.status)
    job = w.train()
    assert wait_trainer(qtbot, job).validation_pixels == 0
    wait_idle(qtbot, w, job)
    assert any("all training: too few to hold some out" in t for t in texts), texts
    assert not notes.errors, notes.errors
    text = w.accuracy.summary.text()
    assert "last model was kept: too few painted pixels to hold any out" in text
    assert "every painted pixel trained" in text


def test_live_map_of_a_lazy_cube_covers_the_view(make_napari_viewer, qtbot, notes,
                                                 monkeypatch):
    """A dask cube is never read whole: the fit reads the painted pixels' chunks, the map the
    part in view (here a window of the scene), and moving the view maps the new part."""
    import dask.array as da

    import napari_ssdgl._napari._live_box as live_box

    big = make_synthetic_scene(size=128, bands=16)
    read = set()

    def counted(block, block_info=None):
        if block_info:
            read.add(tuple(block_info[0]["chunk-location"]))
        return block

    data = da.from_array(big.cube.data, chunks=(16, 16, 16))
    viewer = make_napari_viewer()
    cube = viewer.add_image(data.map_blocks(counted, dtype=data.dtype), name="lazy",
                            metadata={"lazy": True}, visible=False)
    gt = big.gt.data
    window = np.s_[8:40, 4:36]
    painted = np.zeros_like(gt, dtype=np.uint16)
    painted[window][::3, ::3] = gt[window][::3, ::3]  # strokes inside the view
    labels = viewer.add_labels(painted, name="painted")
    w = SSDGLWidget(viewer)
    w.data.cube_picker.value, w.data.labels_picker.value = cube, labels
    views = iter([(slice(8, 40), slice(4, 36), 1), (slice(0, 128), slice(0, 128), 2)])
    monkeypatch.setattr(live_box, "view_region", lambda layer, shape: next(views))
    w.live.toggle.setChecked(True)
    qtbot.waitUntil(lambda: w.live.runs >= 1 and not w.live.running, timeout=TIMEOUT_MS)
    assert not notes.errors, notes.errors
    live = viewer.layers["lazy live map"].data
    assert live.shape == gt.shape and not live[:8].any() and not live[:, 36:].any()
    assert (live[window] == gt[window])[gt[window] > 0].mean() > 0.7
    assert len(read) <= 16 + 9  # the statistics' sample and the view's chunks, of 64
    assert "part in view" in w.live.status.text()
    assert "after the stroke" in w.live.status.text()
    fitted = w.live.last[0]
    viewer.camera.zoom *= 0.5  # the view moves: a map of the new view, every 2nd pixel
    qtbot.waitUntil(lambda: w.live.runs >= 2 and not w.live.running, timeout=TIMEOUT_MS)
    assert viewer.layers["lazy live map"].data[:8].any()
    assert "every 2 px each way" in w.live.status.text()
    assert "after the view moved" in w.live.status.text()
    assert w.live.last[0] is fitted  # the labels did not change: no refit, the same model


def test_the_view_region_is_the_layers_corners_or_the_centre():
    from types import SimpleNamespace

    from napari_ssdgl._napari._live_box import VIEW_PX, view_region

    seen = SimpleNamespace(corner_pixels=np.array([[0, 100, 200], [15, 299, 1399]]))
    assert view_region(seen, (1000, 1000)) == (slice(100, 300), slice(200, 1000), 2)
    blank = SimpleNamespace(corner_pixels=np.zeros((2, 3), int))  # nothing drawn yet
    rows, cols, step = view_region(blank, (2000, 300))
    assert (rows.stop - rows.start, cols.stop - cols.start, step) == (VIEW_PX, 300, 1)
    assert rows.start == (2000 - VIEW_PX) // 2
