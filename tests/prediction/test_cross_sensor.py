"""The issue's bar for reuse across sensors: a model trained on an AVIRIS-like scene (200 bands,
400-2500 nm) with its suspect bands left out applies to the same scene seen by a sensor with a
10 nm grid (resampled, with a warning naming the largest spectral gap) and refuses a cube that
covers only the VNIR."""

import warnings

import numpy as np
import pytest

from napari_ssdgl.io.base import Cube
from napari_ssdgl.prediction.spectral import BandMismatchError
from napari_ssdgl.training import TrainConfig, Trainer
from napari_ssdgl.workflows.band_selection import band_selection
from tests.conftest import TINY
from tests.spectral_scenes import AVIRIS_FWHM, AVIRIS_WL, resampled, scene

GRID = np.arange(400.0, 2501.0, 10.0)
VNIR = np.arange(400.0, 1001.0, 10.0)


def accuracy(pred: np.ndarray, gt: np.ndarray) -> float:
    return float((pred[gt > 0] == gt[gt > 0]).mean())


@pytest.fixture(scope="module")
def trained():
    data, gt = scene()
    cube = Cube(data=data, wavelengths=AVIRIS_WL, wavelength_units="nm", fwhm=AVIRIS_FWHM)
    selection = band_selection(cube, exclude="auto")
    assert selection.excluded == [*range(91, 100), *range(133, 147)]  # the water windows
    cfg = TrainConfig(iterations=60, device="cpu", model_kwargs=TINY, eval_every=0, seed=0)
    clf = Trainer(data, gt, cfg, wavelengths=AVIRIS_WL, wavelength_units="nm",
                  fwhm=AVIRIS_FWHM, bands=selection).fit()
    return clf, data, gt


def test_the_model_applies_to_a_10nm_grid_with_a_warning_naming_the_largest_gap(trained):
    clf, data, gt = trained
    native = clf.predict(Cube(data=data, wavelengths=AVIRIS_WL, wavelength_units="nm"),
                         device="cpu").labels
    assert accuracy(native, gt) > 0.95
    other = Cube(data=resampled(data, AVIRIS_WL, GRID, np.full(GRID.size, 10.0)),
                 wavelengths=GRID, wavelength_units="nm")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = clf.predict(other, device="cpu").labels
    messages = [str(w.message) for w in caught if "resampled" in str(w.message)]
    assert len(messages) == 1
    assert messages[0].startswith("the cube's 211 bands (400-2500 nm) were resampled to the "
                                  "model's 177 band centres")
    assert "largest spectral gap: the model's band at" in messages[0]
    assert "(10 nm apart)" in messages[0]
    assert accuracy(pred, gt) > 0.95
    assert (pred == native).mean() > 0.95


def test_resampling_recovers_the_models_bands_from_the_other_sensor(trained):
    """The model's input made from the 10 nm cube is the training sensor's own bands, within
    the pixel noise (0.01); the 10 nm bands taken as they are would be far off. (The same
    scene, so the class maps above alone could not tell: SSDGL also learns the layout.)"""
    clf, data, _ = trained
    other = resampled(data, AVIRIS_WL, GRID, np.full(GRID.size, 10.0))
    plan = clf.plan_for(Cube(data=other, wavelengths=GRID, wavelength_units="nm"))
    expected = data[list(clf.band_selection.indices)]
    error = np.median(np.abs(plan.apply(other) - expected))
    as_is = np.median(np.abs(other[: clf.bands] - expected))
    assert error < 0.005 and as_is > 0.02


def test_a_cube_with_a_hole_names_it_as_the_largest_gap(trained):
    clf, data, _ = trained
    holed = GRID[(GRID < 1000) | (GRID > 1100)]
    cube = Cube(data=resampled(data, AVIRIS_WL, holed), wavelengths=holed,
                wavelength_units="nm")
    plan = clf.plan_for(cube)
    assert plan.kind == "resample"
    assert "lies between the cube's bands at 990 and 1110 nm (120 nm apart)" in plan.warning


def test_a_vnir_only_cube_is_refused(trained):
    clf, data, _ = trained
    vnir = Cube(data=resampled(data, AVIRIS_WL, VNIR), wavelengths=VNIR, wavelength_units="nm")
    with pytest.raises(BandMismatchError, match=r"cannot resample the cube to the model's bands:"
                       r" the cube's bands cover 400-1000 nm but the model's span 400-2500 nm "
                       r"\(\d+ of its 177 bands outside\); resampling does not extrapolate"):
        clf.predict(vnir, device="cpu")


def test_the_other_sensors_bad_bands_reach_no_model_band(trained):
    """The 10 nm cube with a band its file flags bad (holding garbage) and a band without
    values: both are dropped before resampling, so the map is as good as from the clean cube;
    taken as they are they would spoil it."""
    clf, data, gt = trained
    other = resampled(data, AVIRIS_WL, GRID, np.full(GRID.size, 10.0))
    flagged, empty = int(np.flatnonzero(GRID == 1000)[0]), int(np.flatnonzero(GRID == 2100)[0])
    other[flagged] = 1e3
    other[empty] = np.nan
    flags = np.zeros(GRID.size, bool)
    flags[flagged] = True
    cube = Cube(data=other, wavelengths=GRID, wavelength_units="nm", bad_bands=flags)
    plan = clf.plan_for(cube)
    assert not plan.matrix[:, [flagged, empty]].any()
    assert f"flagged bad by the file (bands {flagged})" in plan.warning
    assert f"without usable values (bands {empty})" in plan.warning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = clf.predict(cube, device="cpu").labels
        leaky = clf.predict(Cube(data=other, wavelengths=GRID, wavelength_units="nm"),
                            device="cpu").labels
    assert accuracy(pred, gt) > 0.95
    assert accuracy(leaky, gt) < accuracy(pred, gt) - 0.1
