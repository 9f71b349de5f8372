"""Apply to cube with another sensor's cube (issue 20, item 4), in memory and lazy (dask): the
cube is resampled to the model's band centres with a warning in the dock's message line, and a
cube that does not cover the model's range is refused with a clear error, nothing lost.

The model is the tiny SSDGL on a 6-band toy scene (450-700 nm, 50 nm apart). The "other
sensor" has 11 bands 25 nm apart over the same range, the new bands the mean of their
neighbours: linear resampling gives back the 6 bands exactly, so its map must be the model's
map of the scene itself.
"""

from __future__ import annotations

import dataclasses

import dask.array as da
import numpy as np
import pytest

from napari_ssdgl._napari._lazy_apply import LazyJob
from napari_ssdgl._napari._widget import SSDGLWidget
from tests._napari.gui_helpers import Notes, wait_idle
from tests.conftest import tiny_classifier, toy_scene

WL = [450.0, 500.0, 550.0, 600.0, 650.0, 700.0]
OTHER_WL = [float(v) for v in np.arange(450.0, 701.0, 25.0)]
VNIR_WL = [float(v) for v in np.arange(400.0, 601.0, 25.0)]


@pytest.fixture(scope="module")
def scene():
    return toy_scene(bands=len(WL), size=32, cols=32,
                     boxes=((2, 14, 2, 30, 1), (16, 30, 2, 14, 2), (16, 30, 18, 30, 3)))


@pytest.fixture(scope="module")
def clf(scene):
    return dataclasses.replace(tiny_classifier(*scene), wavelengths=np.array(WL),
                               wavelength_units="nm")


def other_sensor(cube: np.ndarray) -> np.ndarray:
    """The scene at 25 nm: the model's bands, and between them the mean of the two."""
    out = np.empty((2 * cube.shape[0] - 1, *cube.shape[1:]), np.float32)
    out[::2] = cube
    out[1::2] = (cube[:-1] + cube[1:]) / 2
    return out


@pytest.fixture
def dock(make_napari_viewer, clf):
    viewer = make_napari_viewer()
    w = SSDGLWidget(viewer)
    viewer.window.add_dock_widget(w, name="SSDGL classifier")
    w.classifier = clf
    w.lazy_options = {"tile_size": 80, "overlap": 32}
    return viewer, w


def _add(viewer, data, name, wavelengths):
    return viewer.add_image(data, name=name, metadata={"wavelengths": wavelengths,
                                                       "wavelength_units": "nm"})


@pytest.mark.parametrize("lazy", [False, True], ids=["in memory", "dask"])
def test_other_sensor_is_resampled_with_a_warning(dock, scene, clf, qtbot, lazy):
    viewer, w = dock
    cube = other_sensor(scene[0])
    data = da.from_array(cube, chunks=(cube.shape[0], 16, 16)) if lazy else cube
    layer = _add(viewer, data, "other", OTHER_WL)
    notes = Notes()
    job = w.apply_to_cube(layer)
    assert job is not None and isinstance(job, LazyJob) == lazy
    assert job.bands.kind == "resample" and job.bands.bands_in == len(OTHER_WL)
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors
    [warning] = [m for m in notes.warnings if "resampled" in m]
    assert "'other'" in warning and "11 bands" in warning and "6 band centres" in warning
    assert "linear" in warning and "largest spectral gap" in warning
    assert warning in w.messages.messages[-1]  # in the dock's message line, whole
    out = viewer.layers["other prediction"].data
    np.testing.assert_array_equal(out, clf.predict(scene[0]).labels)
    assert "Model applied" in w.status.text()


@pytest.mark.parametrize("lazy", [False, True], ids=["in memory", "dask"])
def test_a_cube_short_of_the_models_range_is_refused_and_nothing_is_lost(dock, scene, clf,
                                                                          qtbot, lazy):
    viewer, w = dock
    wait_idle(qtbot, w, w.apply_to_cube(_add(viewer, scene[0], "first", WL)))
    before = {ly.name: np.array(ly.data, copy=True) for ly in viewer.layers}
    status = w.status.text()
    vnir = np.repeat(scene[0][:1], len(VNIR_WL), axis=0)
    data = da.from_array(vnir, chunks=(len(VNIR_WL), 16, 16)) if lazy else vnir
    layer = _add(viewer, data, "vnir", VNIR_WL)
    notes = Notes()
    assert w.apply_to_cube(layer) is None
    [error] = notes.errors
    assert "Band mismatch" in error and "'vnir'" in error
    assert "400-600 nm" in error and "450-700 nm" in error and "extrapolate" in error
    assert error in w.messages.messages[-1]
    assert "Not applied to 'vnir'" in w.status.text() and w.status.text() != status
    assert not w.running and w.classifier is clf
    now = {ly.name for ly in viewer.layers}
    assert now == set(before) | {"vnir"}  # no output made for the refused cube
    for name, data in before.items():
        np.testing.assert_array_equal(np.asarray(viewer.layers[name].data), data)


def test_same_band_count_without_wavelengths_applies_as_before(dock, scene, clf, qtbot):
    viewer, w = dock
    layer = viewer.add_image(scene[0], name="plain")  # no wavelengths: the band count decides
    notes = Notes()
    job = w.apply_to_cube(layer)
    assert job.bands.kind == "same"
    wait_idle(qtbot, w, job)
    assert not notes.warnings and not notes.errors
    np.testing.assert_array_equal(viewer.layers["plain prediction"].data,
                                  clf.predict(scene[0]).labels)


def test_model_tab_names_the_excluded_bands_and_apply_drops_them(dock, scene, clf, qtbot):
    """A model trained without bands 0 and 7 of an 8-band cube: the Model tab says so, and a
    cube of the training sensor (8 bands, no wavelengths) loses the same bands when applied."""
    from napari_ssdgl.prediction.spectral import BandSelection

    viewer, w = dock
    picked = BandSelection(tuple(range(1, 7)), 8, {0: "low SNR (0.4)", 7: "constant"})
    w.classifier = dataclasses.replace(clf, wavelengths=None, wavelength_units=None,
                                       band_selection=picked)
    assert "6 bands" in w.model.info.text()
    assert "excluded 0,7 of the 8-band training cube" in w.model.info.text()
    assert w.model.info.toolTip().splitlines() == ["band 0: low SNR (0.4)", "band 7: constant"]
    full = np.concatenate([scene[0][:1] * 0, scene[0], scene[0][-1:] + 100.0])  # 8 bands
    job = w.apply_to_cube(viewer.add_image(full, name="full"))
    assert job.bands.kind == "select"
    wait_idle(qtbot, w, job)
    np.testing.assert_array_equal(viewer.layers["full prediction"].data,
                                  clf.predict(scene[0]).labels)
    w.classifier = None
    assert "No model yet" in w.model.info.text() and w.model.info.toolTip() == ""


@pytest.mark.parametrize("lazy", [False, True], ids=["in memory", "dask"])
def test_the_layers_flagged_bands_are_dropped_before_resampling(dock, scene, clf, qtbot,
                                                                  lazy):
    """Band 2 of the other sensor (500 nm, on a model band) is flagged bad in the layer's
    metadata and holds garbage: the model's 500 nm band comes from its usable neighbours, so
    the map is the one of the same cube with clean values there."""
    from napari_ssdgl.io.base import Cube

    viewer, w = dock
    clean = other_sensor(scene[0])
    cube = clean.copy()
    cube[2] = 1e4
    flags = [b == 2 for b in range(len(OTHER_WL))]
    data = da.from_array(cube, chunks=(cube.shape[0], 16, 16)) if lazy else cube
    layer = viewer.add_image(data, name="flagged", metadata={
        "wavelengths": OTHER_WL, "wavelength_units": "nm", "bad_bands": flags})
    notes = Notes()
    job = w.apply_to_cube(layer)
    assert not job.bands.matrix[:, 2].any()
    wait_idle(qtbot, w, job)
    [warning] = [m for m in notes.warnings if "resampled" in m]
    assert "1 flagged bad by the file (bands 2)" in warning
    assert "most of their response on dropped bands: 1 (500 nm)" in warning
    plan = clf.plan_for(Cube(data=clean, wavelengths=np.array(OTHER_WL),
                             wavelength_units="nm", bad_bands=flags))
    expected = clf.predict(clean, bands=plan).labels
    np.testing.assert_array_equal(viewer.layers["flagged prediction"].data, expected)
