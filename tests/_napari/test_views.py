"""Issue 18, items 4-9 in a real viewer (Xvfb): views that read at a glance, the dock's own
progress, nothing lost, suggestions off the border, wavelengths where known."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from napari.layers import Labels
from napari.utils import progress

from napari_ssdgl._napari._progress import SteadyEta
from napari_ssdgl._napari._rgb import rgb_composite
from napari_ssdgl._napari._spectrum_plot import SpectralProfileWidget
from napari_ssdgl.analysis.suggest import default_margin, suggest_pixels
from tests._napari.gui_helpers import TIMEOUT_MS, wait_idle
from tests._napari.test_widget import FREENET_TINY, paint, sparse_labels

pytestmark = pytest.mark.gui


@pytest.fixture
def opened(opened):
    """The conftest's newcomer dock, with the fast test model."""
    viewer, widget = opened
    widget.config_overrides = dict(FREENET_TINY)
    return viewer, widget


def test_pickers_never_default_to_the_ground_truth_as_labels(opened, scene):
    viewer, w = opened
    gt = viewer.layers[scene.gt.name]
    assert w.gt_picker.value is gt  # the sample's ground truth, picked by default
    assert w.labels_picker.value is None  # ... and never offered as the training labels
    # a dense raster named otherwise is shaped like a ground truth: not a default either
    dense = viewer.add_labels(np.asarray(gt.data).copy(), name="reference")
    w._refresh_pickers()
    assert w.labels_picker.value is None
    mine = viewer.add_labels(sparse_labels(scene.gt.data), name="my strokes")
    w._refresh_pickers()
    assert w.labels_picker.value is mine and w.gt_picker.value is gt
    assert dense in viewer.layers


def test_train_refuses_the_ground_truth_as_labels(opened, scene, notes):
    viewer, w = opened
    gt = viewer.layers[scene.gt.name]
    w.labels_picker.value = gt
    assert w.train() is None and not w.running
    assert any("is the ground-truth layer" in m for m in notes.errors), notes.errors


def test_new_labels_layer_hides_the_ground_truth(opened, scene):
    viewer, w = opened
    gt = viewer.layers[scene.gt.name]
    assert gt.visible
    layer = w.new_labels_layer()
    assert not gt.visible and layer.visible and viewer.layers.selection.active is layer


def _train(qtbot, w, **overrides):
    w.config_overrides = dict(FREENET_TINY, **overrides)
    job = w.train()
    wait_idle(qtbot, w, job)
    return job


def test_view_presets_set_visibility_opacity_and_order(opened, scene, qtbot, notes):
    viewer, w = opened
    labels = paint(w, scene.gt.data)
    _train(qtbot, w, iterations=10)
    assert not notes.errors, notes.errors
    w.suggest_labels(5)
    name = scene.cube.name
    layer = {s: viewer.layers[f"{name} {s}"] for s in
             ("prediction", "uncertainty", "errors", "suggested labels", "probabilities")}
    gt = viewer.layers[scene.gt.name]

    w.views.apply("Errors")
    assert layer["errors"].visible and layer["errors"].opacity == 1.0
    assert layer["prediction"].visible and layer["prediction"].opacity == 0.5
    assert not labels.visible and not gt.visible and not layer["uncertainty"].visible
    order = list(viewer.layers)
    assert order.index(layer["errors"]) > order.index(layer["prediction"]) > order.index(gt)

    w.views.apply("Uncertainty")
    assert layer["uncertainty"].visible and not layer["prediction"].visible
    assert layer["suggested labels"].visible and labels.visible

    w.views.apply("Paint")
    assert labels.visible and labels.opacity == 1.0 and not gt.visible
    assert not any(layer[s].visible for s in ("prediction", "uncertainty", "errors"))
    order = list(viewer.layers)
    assert order.index(labels) > max(order.index(layer[s]) for s in
                                     ("prediction", "uncertainty", "errors", "probabilities"))
    assert order.index(layer["suggested labels"]) > order.index(labels)
    assert viewer.layers.selection.active is labels

    w.views.apply("Prediction")
    assert layer["prediction"].visible and layer["prediction"].opacity == 0.65
    assert not layer["errors"].visible and not gt.visible


def test_outputs_never_take_the_active_layer(opened, scene, qtbot, notes, monkeypatch):
    viewer, w = opened
    labels = paint(w, scene.gt.data)
    assert viewer.layers.selection.active is labels
    seen = []  # the active layer after each preview refresh: where the next stroke lands
    original = w.training._on_event

    def record(job, event):
        original(job, event)
        seen.append(viewer.layers.selection.active)

    monkeypatch.setattr(w.training, "_on_event", record)
    _train(qtbot, w, iterations=20, preview_every=5)
    assert not notes.errors, notes.errors
    assert f"{scene.cube.name} prediction" in viewer.layers
    assert viewer.layers.selection.active is labels
    assert seen and all(layer is labels for layer in seen), [getattr(x, "name", x)
                                                             for x in seen]
    w.suggest_labels(3)
    assert viewer.layers.selection.active is labels
    # errors: an outline in a colour no class uses; uncertainty: transparent where sure
    errors = viewer.layers[f"{scene.cube.name} errors"]
    assert errors.contour > 0
    colour = errors.get_color(1)[:3]
    for value, hexcolour in scene.gt.colors.items():
        rgb = np.array([int(hexcolour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
        assert np.abs(colour - rgb).max() > 0.2, value
    unc = viewer.layers[f"{scene.cube.name} uncertainty"]
    assert unc.colormap.map(np.array([0.0]))[0][3] == 0  # alpha 0 at no uncertainty


def test_probabilities_have_their_own_class_axis_with_names(opened, scene, qtbot, notes):
    viewer, w = opened
    paint(w, scene.gt.data)
    _train(qtbot, w, iterations=10)
    assert not notes.errors, notes.errors
    probs = viewer.layers[f"{scene.cube.name} probabilities"]
    assert probs.axis_labels[0] == "class" and probs.data.shape[:2] == (6, 1)
    assert viewer.dims.ndim == 4 and viewer.dims.axis_labels[0] == "class"
    assert probs.metadata["class_names"] == {int(k): v for k, v in scene.gt.class_names.items()}
    # the cube's band slider does not move the class shown; the class slider does
    probs.visible = True
    viewer.dims.set_point(1, 15)  # band 15 of 16
    viewer.dims.set_point(0, 2)
    assert viewer.text_overlay.visible
    assert f"class 3, {scene.gt.class_names[3]}" in viewer.text_overlay.text
    np.testing.assert_allclose(probs._slice.image.raw, probs.data[2, 0])
    probs.visible = False
    assert not viewer.text_overlay.visible


def test_restore_previous_after_a_stopped_run(opened, scene, qtbot, notes):
    viewer, w = opened
    paint(w, scene.gt.data)
    _train(qtbot, w, iterations=30)
    assert not notes.errors, notes.errors
    name = f"{scene.cube.name} prediction"
    first_map, first_model = viewer.layers[name].data.copy(), w.classifier
    first_oa = w.metrics["oa"]
    w.suggest_labels(4)
    assert f"{scene.cube.name} suggested labels" in viewer.layers
    assert not w.views.restore_button.isEnabled() or w.previous.available
    # a second run, stopped after one iteration: worse, and said so
    w.config_overrides = dict(FREENET_TINY, iterations=100_000, preview_every=5)
    job = w.train()
    qtbot.waitUntil(lambda: len(w.plot.iters) >= 1, timeout=TIMEOUT_MS)
    w.stop()
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors
    assert w.classifier is not first_model
    assert "Restore previous" in w.status.text()
    assert f"{scene.cube.name} suggested labels" not in viewer.layers  # stale points gone
    assert w.views.restore_button.isEnabled()
    w.views.restore_button.click()
    np.testing.assert_array_equal(viewer.layers[name].data, first_map)
    assert w.classifier is first_model and w.metrics["oa"] == first_oa
    assert w.accuracy.metrics["oa"] == first_oa
    assert w.restore_previous()  # a second click swaps back
    assert w.classifier is not first_model


def test_progress_bar_moves_with_a_steady_eta(opened, scene, qtbot, notes):
    viewer, w = opened
    paint(w, scene.gt.data)
    values, napari_bars = [], []
    w.training.progress.valueChanged.connect(values.append)
    # no napari progress bar while training: its animated activity indicator halved training
    # speed on a CPU-drawn display
    w.training.progress.valueChanged.connect(
        lambda _: napari_bars.append(len(progress._all_instances)))
    _train(qtbot, w, iterations=12, preview_every=0)
    assert not notes.errors, notes.errors
    assert napari_bars and not any(napari_bars)
    assert w.training.progress.maximum() == 12 and values[-1] == 12
    assert len(set(values)) >= 6  # it moved along, not only at the end
    # the ETA leaves out the set-up inflated first iterations
    eta = SteadyEta(total=100, warmup=3)
    for i, t in [(1, 10.0), (2, 10.5), (3, 11.0), (4, 11.5), (5, 12.0)]:
        left = eta.update(i, t)
    assert left == pytest.approx(0.5 * 95)


def test_suggestions_avoid_the_border_and_spread_over_classes(opened, scene, qtbot):
    # uncertainty highest on the border (as padded windows make it): no point there
    u = np.random.default_rng(0).random((60, 60)) * 0.1
    u[:3] = u[-3:] = 1.0
    u[:, :3] = u[:, -3:] = 1.0
    margin = default_margin(u.shape)
    pts = suggest_pixels(u, 20, margin=3)
    assert len(pts) == 20 and (pts >= 3).all() and (pts < 57).all()
    # one class far more uncertain than the others still gets no more than its share
    classes = np.repeat(np.arange(1, 5), 15)[None, :].repeat(60, 0)
    u2 = np.where(classes == 1, 1.0, 0.1) + 0.01 * np.random.default_rng(1).random((60, 60))
    picked = classes[tuple(suggest_pixels(u2, 8, classes=classes, margin=margin).T)]
    assert sorted(np.bincount(picked, minlength=5)[1:]) == [2, 2, 2, 2]
    # in the dock
    viewer, w = opened
    paint(w, scene.gt.data)
    _train(qtbot, w, iterations=10)
    points = w.suggest_labels(10).data.astype(int)
    m = default_margin(scene.gt.data.shape)
    assert (points >= m).all() and (points < 32 - m).all()


@pytest.mark.skipif(importlib.util.find_spec("tensorly") is None, reason="tensorly not installed")
def test_registry_wavelengths_reach_the_layer_and_the_composite(make_napari_viewer):
    from napari_ssdgl._napari._sample_data import indian_pines

    viewer = make_napari_viewer()
    (cube, kwargs, _), _ = indian_pines()
    md = kwargs["metadata"]
    assert md["wavelength_units"] == "nm" and len(md["wavelengths"]) == 200
    assert md["wavelengths"][0] == pytest.approx(400, abs=1)
    assert md["wavelengths"][-1] == pytest.approx(2490, abs=5)
    layer = viewer.add_image(cube, **kwargs)
    widget = rgb_composite()
    viewer.window.add_dock_widget(widget)
    widget.cube.value = layer
    assert widget.red.label.endswith("(band)")
    assert "nearest 640/545/460 nm" in widget.used_label.text()
    widget()
    rgb = viewer.layers["Indian Pines RGB"]
    wl = np.asarray(md["wavelengths"])
    red, green, blue = (wl[b[0]] for b in rgb.metadata["rgb_bands"])
    assert abs(red - 640) < 10 and abs(green - 545) < 10 and abs(blue - 460) < 10
    plot = SpectralProfileWidget(viewer)
    assert "nm" in plot.canvas.ax.get_xlabel()


def test_no_invented_nm_for_a_cube_without_wavelengths(make_napari_viewer):
    viewer = make_napari_viewer()
    cube = np.random.default_rng(0).random((60, 16, 16), dtype=np.float32)
    layer = viewer.add_image(cube, name="bare", metadata={"rgb_bands": [43, 21, 11]})
    widget = rgb_composite()
    viewer.window.add_dock_widget(widget)
    widget.cube.value = layer
    assert (widget.red.value, widget.green.value, widget.blue.value) == (43, 21, 11)
    assert all("nm" not in getattr(widget, c).label for c in ("red", "green", "blue"))
    assert "nm" not in widget.used_label.text() and "43" in widget.used_label.text()
    widget()
    assert "nm" not in widget.used_label.text()


def test_class_means_have_a_legend_with_many_classes(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    viewer.add_image(rng.random((20, 32, 32), dtype=np.float32), name="cube")
    labels = np.repeat(np.arange(1, 17), 2)[None, :].repeat(32, 0).astype(np.uint16)
    lab = viewer.add_labels(labels, name="classes")
    plot = SpectralProfileWidget(viewer)
    plot.set_labels(lab)
    legend = plot.canvas.ax.get_legend()
    assert legend is not None and len(legend.get_texts()) == 16
    assert isinstance(lab, Labels)


def test_errors_and_warnings_show_in_the_dock_in_full(opened, scene, notes):
    viewer, w = opened
    assert w.messages.isHidden()
    w.labels_picker.value = None
    assert w.train() is None
    assert notes.errors and not w.messages.isHidden()
    assert notes.errors[-1] in w.messages.text()  # the whole message, not a cut toast


def test_confusion_matrix_is_a_heat_map_with_class_names(opened, scene, qtbot, notes):
    viewer, w = opened
    paint(w, scene.gt.data)
    _train(qtbot, w, iterations=10)
    t = w.accuracy.table
    names = [t.verticalHeaderItem(r).text() for r in range(t.rowCount())]
    assert names == [f"{v} {scene.gt.class_names[v]}" for v in sorted(scene.gt.class_names)]
    from napari_ssdgl._napari._accuracy import heat

    for r, row in enumerate(w.metrics["confusion"]):
        for c, n in enumerate(row):
            assert t.item(r, c + 1).background().color() == heat(n / max(1, sum(row)), c == r)
    assert heat(1.0, True).green() > heat(1.0, True).red() > heat(0.0, True).red()
    assert heat(1.0, False).red() > heat(1.0, False).green()
    assert scene.gt.class_names[2] in t.item(0, 2).toolTip()


def test_warm_up_runs_the_training_path_once_in_the_background(monkeypatch):
    from napari_ssdgl._napari import _warmup
    from napari_ssdgl.training.trainer import TrainConfig

    monkeypatch.setenv("NAPARI_SSDGL_WARMUP", "1")
    cfg = TrainConfig(**{k: v for k, v in FREENET_TINY.items() if k != "iterations"})
    thread = _warmup.warm_up((16, 20, 20), cfg)
    assert thread is not None and thread.daemon
    thread.join(120)
    assert not thread.is_alive()
    assert _warmup.warm_up((16, 20, 20), cfg) is None  # once per shape and model
    monkeypatch.setenv("NAPARI_SSDGL_WARMUP", "0")
    assert _warmup.warm_up((16, 24, 24), cfg) is None


def test_previews_come_on_a_clock_not_an_iteration_count(opened, scene, qtbot, notes):
    """A map shows within seconds of Train however slow an iteration is: the dock asks the
    trainer for previews every 'Preview every' seconds (the iteration schedule is off)."""
    viewer, w = opened
    paint(w, scene.gt.data)
    assert w.settings.config().preview_every == 0
    w.settings.preview_seconds.setValue(0.2)
    w.config_overrides = dict(FREENET_TINY, iterations=100_000, preview_every=0)
    name = f"{scene.cube.name} prediction"
    job = w.train()
    qtbot.waitUntil(lambda: name in viewer.layers, timeout=TIMEOUT_MS)
    assert w.running  # a preview, not the final map
    w.stop()
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors
    assert not w.training._preview_clock.isActive()
