"""One check of a model file (prediction.modelfile.validate_model_file), case by case: every
malformed model.json ends in a ModelFileError naming the file and the field, before any network
is built beyond the meta device (no memory) and before any weight is read."""

import json
import shutil

import numpy as np
import pytest
import torch

from napari_ssdgl.prediction.modelfile import (
    ModelFileError,
    load_classifier,
    save_classifier,
    validate_model_file,
)
from napari_ssdgl.training import TrainConfig, Trainer
from tests.conftest import TINY, toy_scene

BANDS = 8


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A real small model file (TINY, 8 bands, classes 1, 4, 9) and its model.json."""
    cube, gt = toy_scene(BANDS, 20)
    cfg = TrainConfig(iterations=2, device="cpu", model_kwargs=TINY, eval_every=0)
    clf = Trainer(cube, gt, cfg, wavelengths=np.linspace(400, 900, BANDS)).fit()
    d = save_classifier(clf, tmp_path_factory.mktemp("model") / "m")
    return d, json.loads((d / "model.json").read_text())


def corrupt(saved, tmp_path, **changes):
    """A copy of the saved model with ``changes`` made to model.json (``"a.b"`` keys reach
    into objects; the value None deletes a key)."""
    src, meta = saved
    d = tmp_path / "bad"
    shutil.copytree(src, d)
    meta = json.loads(json.dumps(meta))
    for key, value in changes.items():
        *parents, last = key.split("__")
        target = meta
        for p in parents:
            target = target[p]
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    (d / "model.json").write_text(json.dumps(meta))
    return d


@pytest.fixture
def builds(monkeypatch):
    """The default device of every build_model call (meta = no memory)."""
    import napari_ssdgl.models as models

    seen = []
    real = models.build_model

    def spy(*args, **kwargs):
        seen.append(str(torch.get_default_device()))
        return real(*args, **kwargs)

    monkeypatch.setattr(models, "build_model", spy)
    return seen


CASES = {  # id: (changes to model.json, the field the message names, words it must hold)
    "class_values shorter": ({"class_values": [1, 4]}, "class_values",
                             "2 values but the network has 3 outputs"),
    "class_values longer": ({"class_values": [1, 4, 9, 12]}, "class_values",
                            "4 values but the network has 3 outputs"),
    "class_values not numbers": ({"class_values": ["a", "b", "c"]}, "class_values",
                                 "whole numbers"),
    "class_values repeated": ({"class_values": [1, 4, 4]}, "class_values", "repeats"),
    "class_values zero": ({"class_values": [0, 4, 9]}, "class_values", ">= 1"),
    "class_names list": ({"class_names": ["grass", "road"]}, "class_names", "got a list"),
    "class_names bad key": ({"class_names": {"x": "grass"}}, "class_names", "keys"),
    "colors list": ({"colors": ["#ff0000"]}, "colors", "got a list"),
    "metrics list": ({"metrics": [0.5]}, "metrics", "got a list"),
    "train_config string": ({"train_config": "fast"}, "train_config", "a string"),
    "seed string": ({"seed": "x"}, "seed", "whole number"),
    "12-band mean": ({"normalization__mean": [0.0] * 12}, "normalization.mean",
                     "12 values but the network takes 8 bands"),
    "7-band std": ({"normalization__std": [1.0] * 7}, "normalization.std",
                   "7 values but the network takes 8 bands"),
    "std zero": ({"normalization__std": [0.0] * BANDS}, "normalization.std", "finite and > 0"),
    "std negative": ({"normalization__std": [-1.0] * BANDS}, "normalization.std", "> 0"),
    "std inf": ({"normalization__std": [float("inf")] * BANDS}, "normalization.std", "finite"),
    "mean nan": ({"normalization__mean": [float("nan")] * BANDS}, "normalization.mean",
                 "not finite"),
    "mean strings": ({"normalization__mean": ["a"] * BANDS}, "normalization.mean",
                     "a list of 8 numbers"),
    "normalization missing": ({"normalization": None}, "normalization", "got null"),
    "wavelengths abc": ({"wavelengths": "abc"}, "wavelengths", "a list of 8 numbers"),
    "wavelengths short": ({"wavelengths": [400.0, 500.0]}, "wavelengths",
                          "2 values but the network takes 8 bands"),
    "bands": ({"bands": 12}, "bands", "takes 8 bands"),
    "format_version string": ({"format_version": "1"}, "format_version",
                              "'1' (a string); it must be the whole number 1"),
    "format_version true": ({"format_version": True}, "format_version", "whole number 1"),
    "model unknown": ({"model": "resnet"}, "model", "expected one of freenet, ssdgl"),
    "model_config list": ({"model_config": [8, 3]}, "model_config", "got a list"),
    "in_channels missing": ({"model_config__in_channels": None}, "model_config",
                            "no in_channels"),
    "widths 100000": ({"model_config__widths": [100000] * 4}, "model_config",
                      "weights do not fit"),
    "widths absurd": ({"model_config__widths": [10**9] * 4}, "model_config.widths",
                      "far beyond any real network"),
    "members 1e9": ({"model_config__members": 1e9}, "model_config.members", "1 to 256"),
    "members 3": ({"model_config__members": 3}, "model_config.members",
                  "the weights (model.safetensors) hold 1 network"),
    "num_classes 4": ({"model_config__num_classes": 4}, "model_config", "weights do not fit"),
    "in_channels 12": ({"model_config__in_channels": 12, "bands": 12,
                        "normalization__mean": [0.0] * 12, "normalization__std": [1.0] * 12},
                       "model_config", "weights do not fit"),
    "groups 3": ({"model_config__groups": 3}, "model_config", "multiple of the GroupNorm"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_model_json_is_one_clear_error(saved, tmp_path, builds, case):
    changes, field, words = CASES[case]
    d = corrupt(saved, tmp_path, **changes)
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    for check in (validate_model_file, load_classifier):
        with pytest.raises(ModelFileError) as info:
            check(d)
        message = str(info.value)
        assert str(d) in message, message  # names the file (or its directory)
        assert field in message and words in message, message
        assert "\n" not in message
    assert set(builds) <= {"meta"}, builds  # nothing real was allocated
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


def test_weights_mismatch_is_found_in_the_header(saved, tmp_path, monkeypatch):
    """Sizes are compared with the safetensors header: load_file never runs on a bad file."""
    import napari_ssdgl.prediction.modelfile as modelfile

    def refuse(*args, **kwargs):
        raise AssertionError("weights were read")

    monkeypatch.setattr(modelfile, "load_file", refuse)
    d = corrupt(saved, tmp_path, model_config__widths=[100000] * 4)
    with pytest.raises(ModelFileError, match=r"stem\.0\.weight|weight is \("):
        load_classifier(d)


def test_valid_file_passes_and_loads(saved, builds):
    d, meta = saved
    mf = validate_model_file(d)
    assert mf.class_values.tolist() == [1, 4, 9] and mf.mean.shape == (BANDS,)
    assert mf.model_config == meta["model_config"]
    clf = load_classifier(d)
    assert clf.bands == BANDS and builds[-1] == "cpu"  # the real build comes last, once
    assert builds.count("cpu") == 1


def test_whole_float_numbers_pass(saved, tmp_path):
    """JSON written by other tools may say 3.0 for 3: a whole number all the same."""
    d = corrupt(saved, tmp_path, format_version=1.0, class_values=[1.0, 4.0, 9.0])
    assert load_classifier(d).class_values.tolist() == [1, 4, 9]


def test_cli_predict_with_a_bad_model_is_one_line(saved, tmp_path, capsys):
    from napari_ssdgl.cli import main

    d = corrupt(saved, tmp_path, normalization__std=[0.0] * BANDS)
    cube, _ = toy_scene(BANDS, 20)
    np.save(tmp_path / "cube.npy", cube)
    rc = main(["predict", str(d), str(tmp_path / "cube.npy"), "--out", str(tmp_path / "c.tif"),
               "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("napari-ssdgl: error: ") and "normalization.std" in err[0]
    assert str(d / "model.json") in err[0]
    assert not (tmp_path / "c.tif").exists()


@pytest.mark.parametrize("shape", [(1, 1), (1, 20), (20, 1)])
def test_a_cube_smaller_than_2x2_is_refused_with_its_size(saved, shape):
    clf = load_classifier(saved[0])
    cube = np.zeros((BANDS, *shape), np.float32)
    with pytest.raises(ValueError, match=rf"the cube is {shape[0]} x {shape[1]} pixels; a class "
                                         r"map needs at least 2 x 2"):
        clf.predict(cube, device="cpu")
