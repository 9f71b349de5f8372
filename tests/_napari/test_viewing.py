"""Hyperspectral viewing in a real viewer (Xvfb): RGB composite and the spectral profile dock."""

from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from napari.utils.interactions import mouse_move_callbacks, mouse_press_callbacks
from qtpy.QtCore import QCoreApplication, QEvent

from napari_ssdgl._napari._rgb import rgb_composite
from napari_ssdgl._napari._spectrum_plot import SpectralProfileWidget
from napari_ssdgl.analysis import spectra

pytestmark = pytest.mark.gui

WL = np.linspace(400.0, 2500.0, 48)
CLASS_WAIT_MS = 400  # longer than the class-mean throttle


def _cube(bands=48, size=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((bands, size, size), dtype=np.float32) + np.arange(bands)[:, None, None]


def _event(kind, position, shift=True):
    return SimpleNamespace(type=kind, is_dragging=False, position=position,
                           modifiers=["Shift"] if shift else [], handled=False)


def _rgb_widget(viewer):
    widget = rgb_composite()
    viewer.window.add_dock_widget(widget)
    return widget


def test_rgb_composite_nearest_wavelengths_and_reuse(make_napari_viewer):
    viewer = make_napari_viewer()
    cube = _cube()
    layer = viewer.add_image(cube, name="cube", scale=(1, 2, 2),
                             metadata={"wavelengths": list(WL), "wavelength_units": "nm",
                                       "rgb_bands": [40, 30, 20]})
    widget = _rgb_widget(viewer)
    widget(cube=layer)
    rgb = viewer.layers["cube RGB"]
    assert rgb.rgb and rgb.data.shape == (24, 24, 3) and rgb.data.dtype == np.uint8
    nearest = [int(np.argmin(np.abs(WL - t))) for t in (640, 545, 460)]
    assert rgb.metadata["rgb_bands"] == [[b] for b in nearest] == [[5], [3], [1]]
    np.testing.assert_array_equal(rgb.data, spectra.rgb_composite(cube, nearest))
    np.testing.assert_array_equal(rgb.scale, [2, 2])

    # false colour from wavelengths with a window, then from band indices: same layer reused
    widget(cube=layer, mode="wavelengths", red=860, green=650, blue=550, width_nm=100)
    assert rgb.metadata["rgb_bands"][0] == list(spectra.bands_in_window(WL, 860, 100))
    widget.cube.value = layer
    widget.mode.value = "bands"  # switching mode fills in that mode's defaults
    assert (widget.red.value, widget.green.value, widget.blue.value) == tuple(nearest)
    widget(cube=layer, mode="bands", red=7, green=8, blue=9)
    assert [ly.name for ly in viewer.layers] == ["cube", "cube RGB"]
    assert viewer.layers["cube RGB"] is rgb and rgb.metadata["rgb_bands"] == [[7], [8], [9]]


def test_rgb_composite_fallbacks(make_napari_viewer):
    viewer = make_napari_viewer()
    cube = _cube(bands=20, size=16)
    registry = viewer.add_image(cube, name="reg", metadata={"rgb_bands": [12, 6, 2]})
    bare = viewer.add_image(cube, name="bare")
    widget = _rgb_widget(viewer)
    widget(cube=registry)
    assert viewer.layers["reg RGB"].metadata["rgb_bands"] == [[12], [6], [2]]
    assert [ly.name for ly in viewer.layers] == ["reg", "reg RGB", "bare"]  # just above its cube
    widget(cube=bare, output="three additive layers")
    spaced = spectra.spaced_bands(20)
    for colour, band in zip(("red", "green", "blue"), spaced, strict=True):
        ly = viewer.layers[f"bare RGB {colour}"]
        assert ly.blending == "additive" and ly.colormap.name == colour
        assert np.shares_memory(ly.data, cube)  # a view of the band, not a copy
        np.testing.assert_array_equal(ly.data, cube[band])
    n = len(viewer.layers)
    widget(cube=bare, mode="wavelengths")  # no wavelengths: a warning, nothing added
    assert len(viewer.layers) == n


def test_profile_follows_shift_hover_and_pins(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    cube = _cube()
    viewer.add_image(cube, name="cube", scale=(1, 2, 2),
                     metadata={"wavelengths": list(WL), "wavelength_units": "nm"})
    widget = SpectralProfileWidget(viewer)
    viewer.window.add_dock_widget(widget)
    canvas = widget.canvas
    assert widget.cube is viewer.layers["cube"]
    assert canvas.ax.get_xlabel() == "wavelength (nm)"

    mouse_move_callbacks(viewer, _event("mouse_move", (0, 6.2, 9.8), shift=False))
    assert widget.live_pixel is None  # no Shift: no live spectrum
    mouse_move_callbacks(viewer, _event("mouse_move", (0, 6.2, 9.8)))  # world -> pixel (3, 5)
    assert widget.live_pixel == (3, 5)
    np.testing.assert_array_equal(canvas.live.get_xdata(), WL)
    np.testing.assert_allclose(canvas.live.get_ydata(), cube[:, 3, 5])
    canvas.draw()  # from now on hover updates are blitted over the cached background
    assert canvas._bg is not None
    mouse_move_callbacks(viewer, _event("mouse_move", (0, 40.0, 2.0)))  # throttled, then shown
    qtbot.waitUntil(lambda: widget.live_pixel == (20, 1), timeout=2000)
    np.testing.assert_allclose(canvas.live.get_ydata(), cube[:, 20, 1])
    lo, hi = canvas.ax.get_ylim()
    assert lo <= cube[:, 20, 1].min() and cube[:, 20, 1].max() <= hi

    mouse_press_callbacks(viewer, _event("mouse_press", (0, 2.0, 4.0)))  # Shift+click pins
    mouse_move_callbacks(viewer, _event("mouse_move", (0, 100.0, 100.0)))  # outside: ignored
    assert widget.pinned == [(1, 2)] and widget.live_pixel == (20, 1)
    assert widget.pin()  # Pin button: the last live pixel
    assert widget.pinned == [(1, 2), (20, 1)]
    np.testing.assert_allclose(canvas.pins[0].get_ydata(), cube[:, 1, 2])
    widget.clear_pins()
    assert canvas.pins == [] and widget.pinned == []


def test_class_means_follow_painting(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    cube = _cube(bands=30, size=20)
    viewer.add_image(cube, name="cube")  # no wavelengths: x axis is the band index
    labels = viewer.add_labels(np.zeros((20, 20), dtype=np.int32), name="train")
    labels.brush_size = 3
    widget = SpectralProfileWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.canvas.ax.get_xlabel() == "band"
    widget.labels_combo.setCurrentIndex(widget.labels_combo.findText("train"))
    assert widget.labels is labels and widget.class_stats.values.size == 0

    labels.paint((5, 5), 1)
    labels.paint((14, 12), 3)
    qtbot.waitUntil(lambda: list(widget.class_stats.values) == [1, 3], timeout=3000)

    def check():
        lab = labels.data
        for i, v in enumerate(widget.class_stats.values):
            pix = cube[:, lab == v].astype(np.float64)
            np.testing.assert_allclose(widget.class_stats.mean[i], pix.mean(1), rtol=1e-6)
            np.testing.assert_allclose(widget.class_stats.std[i], pix.std(1), rtol=1e-5)
            line = widget.canvas.class_lines[i]
            np.testing.assert_allclose(line.get_ydata(), pix.mean(1), rtol=1e-6)
            np.testing.assert_allclose(to_rgba(line.get_color())[:3],
                                       np.asarray(labels.get_color(v))[:3], atol=1 / 255)

    check()
    new = labels.data.copy()
    new[:4, :4] = 2
    labels.data = new  # replacing the data also refreshes the curves
    qtbot.waitUntil(lambda: list(widget.class_stats.values) == [1, 2, 3], timeout=3000)
    check()


def test_removing_layers_while_plot_open(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    cube = viewer.add_image(_cube(bands=10, size=12), name="cube")
    labels = viewer.add_labels(np.zeros((12, 12), dtype=np.int32), name="train")
    widget = SpectralProfileWidget(viewer)
    dock = viewer.window.add_dock_widget(widget)
    widget.labels_combo.setCurrentIndex(widget.labels_combo.findText("train"))
    labels.paint((3, 3), 1)
    qtbot.waitUntil(lambda: widget.class_stats.values.size == 1, timeout=3000)
    mouse_move_callbacks(viewer, _event("mouse_move", (0, 3, 3)))
    assert widget.live_pixel == (3, 3)

    viewer.layers.remove(cube)
    assert widget.cube is None and widget.class_stats is None and widget.cube_combo.count() == 0
    mouse_move_callbacks(viewer, _event("mouse_move", (0, 4, 4)))
    mouse_press_callbacks(viewer, _event("mouse_press", (0, 4, 4)))
    assert not widget.pin()
    labels.paint((6, 6), 2)
    qtbot.wait(CLASS_WAIT_MS)
    viewer.layers.remove(labels)
    assert widget.labels is None and widget.labels_combo.count() == 1  # just "none"

    other = viewer.add_image(_cube(bands=5, size=8), name="other")
    assert widget.cube is other  # a new cube is picked up
    mouse_move_callbacks(viewer, _event("mouse_move", (0, 1, 1)))
    assert widget.live_pixel == (1, 1)

    ours = {widget._on_mouse_move, widget._on_mouse_press}
    assert ours <= {*viewer.mouse_move_callbacks, *viewer.mouse_drag_callbacks}
    viewer.window.remove_dock_widget(dock)  # a deleted dock unhooks its viewer callbacks
    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    assert not ours & {*viewer.mouse_move_callbacks, *viewer.mouse_drag_callbacks}
    mouse_move_callbacks(viewer, _event("mouse_move", (0, 2, 2)))

