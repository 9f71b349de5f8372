"""Band selection, wavelength units and FWHM through training, model.json and prediction: a
model trained on some bands of a cube records them and drops the same bands from a full cube."""

import json
import shutil
import warnings

import numpy as np
import pytest

from napari_ssdgl.prediction.modelfile import ModelFileError, load_classifier, save_classifier
from napari_ssdgl.prediction.spectral import BandSelection
from napari_ssdgl.training import TrainConfig, Trainer, TrainingError
from tests.conftest import TINY, toy_scene

BANDS = 10
KEEP = (0, 1, 2, 4, 5, 7, 8, 9)  # bands 3 and 6 excluded
WL = np.linspace(0.4, 0.9, BANDS)  # micrometres
FWHM = np.array([0.01] * 5 + [np.nan] + [0.012] * 4)


def cfg(**kw) -> TrainConfig:
    return TrainConfig(iterations=2, device="cpu", model_kwargs=TINY, eval_every=0, **kw)


@pytest.fixture(scope="module")
def scene():
    cube, gt = toy_scene(BANDS, 16)
    cube[3] = np.random.default_rng(5).normal(size=cube.shape[1:]) * 50  # a "bad" band
    return cube, gt


@pytest.fixture(scope="module")
def trained(scene, tmp_path_factory):
    cube, gt = scene
    sel = BandSelection(KEEP, BANDS, {3: "low SNR (0.1)", 6: "excluded by the user"})
    clf = Trainer(cube, gt, cfg(), wavelengths=WL, wavelength_units="micrometers", fwhm=FWHM,
                  bands=sel).fit()
    d = save_classifier(clf, tmp_path_factory.mktemp("model") / "m")
    return clf, d


def test_the_classifier_records_the_selected_bands(trained):
    clf, _ = trained
    assert clf.bands == len(KEEP) and clf.band_selection.indices == KEEP
    np.testing.assert_allclose(clf.wavelengths, WL[list(KEEP)])
    np.testing.assert_allclose(clf.fwhm, FWHM[list(KEEP)], equal_nan=True)
    assert clf.wavelength_units == "micrometers"


def test_model_json_round_trip(trained):
    clf, d = trained
    meta = json.loads((d / "model.json").read_text())
    assert meta["wavelength_units"] == "micrometers"
    assert meta["band_selection"] == {"source_bands": BANDS, "indices": list(KEEP),
                                      "excluded": "3,6",
                                      "reasons": {"3": "low SNR (0.1)",
                                                  "6": "excluded by the user"}}
    assert meta["fwhm"][4] is None and meta["fwhm"][0] == 0.01  # band 5 of the cube: unknown
    back = load_classifier(d)
    assert back.band_selection == clf.band_selection
    assert back.wavelength_units == "micrometers"
    np.testing.assert_allclose(back.fwhm, clf.fwhm, equal_nan=True)
    np.testing.assert_allclose(back.wavelengths, clf.wavelengths)


def test_a_model_without_the_new_fields_still_loads(trained, tmp_path):
    _, d = trained
    meta = json.loads((d / "model.json").read_text())
    for key in ("wavelength_units", "fwhm", "band_selection"):
        meta.pop(key)
    old = tmp_path / "old"
    shutil.copytree(d, old)
    (old / "model.json").write_text(json.dumps(meta))
    back = load_classifier(old)
    assert back.band_selection is None and back.fwhm is None and back.wavelength_units is None


@pytest.mark.parametrize("field, value, words", [
    ("wavelength_units", 5, "invalid wavelength_units 5"),
    ("fwhm", [0.01] * 3, "invalid fwhm: 3 values but the network takes 8 bands"),
    ("fwhm", [-1.0] * 8, "invalid fwhm: a list of 8 positive numbers"),
    ("fwhm", "wide", "invalid fwhm"),
    ("band_selection", [0, 1], "invalid band_selection: an object expected, got a list"),
    ("band_selection", {"source_bands": 4, "indices": list(KEEP)},
     "invalid band_selection.source_bands 4"),
    ("band_selection", {"source_bands": 10, "indices": [0, 1, 2]},
     "invalid band_selection.indices: 3 bands but the network takes 8"),
    ("band_selection", {"source_bands": 10, "indices": ["a"] * 8},
     "invalid band_selection.indices: a list of band numbers"),
    ("band_selection", {"source_bands": 10, "indices": [0, 1, 2, 3, 4, 5, 6, 10]},
     "invalid band_selection: band indices must be increasing, within 0-9"),
    ("band_selection", {"source_bands": 10, "indices": [1, 0, 2, 3, 4, 5, 6, 7]},
     "invalid band_selection: band indices must be increasing"),
    ("band_selection", {"source_bands": 10, "indices": list(KEEP), "reasons": {"x": 1}},
     "invalid band_selection.reasons"),
])
def test_corrupt_band_fields_are_refused_naming_the_field(trained, tmp_path, field, value,
                                                          words):
    _, d = trained
    bad = tmp_path / "bad"
    shutil.copytree(d, bad)
    meta = json.loads((d / "model.json").read_text())
    meta[field] = value
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="model.json: " + words.replace("(", r"\(")):
        load_classifier(bad)


def test_prediction_drops_the_same_bands_from_a_full_cube(trained, scene):
    _, d = trained
    clf = load_classifier(d)
    cube, _ = scene
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no resampling warning: the bands are the model's
        full = clf.predict(cube, device="cpu")
    selected = clf.predict(cube[list(KEEP)], device="cpu")
    np.testing.assert_array_equal(full.labels, selected.labels)
    np.testing.assert_allclose(full.probabilities, selected.probabilities, atol=1e-6)
    assert clf.plan_for(cube).kind == "select" and clf.plan_for(cube[list(KEEP)]).kind == "same"


def test_a_band_list_a_refined_model_and_errors(scene, trained):
    cube, gt = scene
    t = Trainer(cube, gt, cfg(), bands=[9, 0, 1, 2, 4, 5, 7, 8, 8])
    assert t.band_selection == BandSelection(KEEP, BANDS) and t.wavelengths is None
    assert Trainer(cube, gt, cfg(), bands=range(BANDS)).band_selection is None  # all bands
    clf, _ = trained
    refined = Trainer(cube, gt, cfg(), init_from=clf)  # keeps the model's own selection
    assert refined.band_selection == clf.band_selection
    np.testing.assert_allclose(refined.wavelengths, clf.wavelengths)
    assert refined.wavelength_units == "micrometers"
    with pytest.raises(TrainingError, match="keeps 1 of 10 bands; a model needs at least 2"):
        Trainer(cube, gt, cfg(), bands=[3])
    with pytest.raises(TrainingError, match="invalid band selection: band indices"):
        Trainer(cube, gt, cfg(), bands=[0, 10])
    with pytest.raises(TrainingError, match="for a cube of 12 bands but this cube has 10"):
        Trainer(cube, gt, cfg(), bands=BandSelection((0, 1), 12))
    with pytest.raises(TrainingError, match="trained on 8 bands but the cube has 3 selected"):
        Trainer(cube, gt, cfg(), init_from=clf, bands=[0, 1, 2])


def test_training_learns_without_the_excluded_noise_band(scene):
    cube, gt = scene
    clf = Trainer(cube, gt, TrainConfig(iterations=40, device="cpu", model_kwargs=TINY,
                                        eval_every=0, seed=0), bands=KEEP).fit()
    pred = clf.predict(cube, device="cpu").labels
    labelled = gt > 0
    assert (pred[labelled] == gt[labelled]).mean() > 0.9
