"""Model files: save -> load gives identical predictions; loading never unpickles; clear errors."""

import json

import numpy as np
import pytest
import torch

from napari_ssdgl import __version__
from napari_ssdgl.prediction.modelfile import (
    FORMAT_VERSION,
    ModelFileError,
    load_classifier,
    save_classifier,
)
from napari_ssdgl.training import TrainConfig, Trainer, split_per_class
from tests.conftest import TINY


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(0)
    gt = np.zeros((20, 20), dtype=np.int64)
    gt[2:9, 2:18], gt[11:18, 2:9], gt[11:18, 11:18] = 2, 5, 11
    spectra = rng.normal(size=(12, 9)) * 2
    cube = spectra[gt].transpose(2, 0, 1) + rng.normal(size=(9, 20, 20)) * 0.3
    return cube.astype(np.float32), gt


@pytest.fixture(scope="module")
def clf(scene):
    cube, gt = scene
    train, test = split_per_class(gt, 5, seed=0)
    cfg = TrainConfig(iterations=3, lr=0.01, device="cpu", model_kwargs=TINY, eval_every=1)
    trainer = Trainer(cube, train, cfg, test_labels=test, class_names={2: "grass", 5: "road"},
                      colors={2: "#00ff00"}, wavelengths=np.linspace(400, 1000, 9))
    return trainer.fit()


def test_save_load_identical_prediction(clf, scene, tmp_path):
    cube, _ = scene
    save_classifier(clf, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.json", "model.safetensors"]
    loaded = load_classifier(tmp_path / "m")
    a, b = clf.predict(cube, device="cpu"), loaded.predict(cube, device="cpu")
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.probabilities, b.probabilities)
    for (k, va), vb in zip(clf.model.state_dict().items(), loaded.model.state_dict().values(),
                           strict=True):
        assert torch.equal(va, vb), k
    assert loaded.class_values.tolist() == [2, 5, 11]
    assert loaded.class_names == {2: "grass", 5: "road"} and loaded.colors == {2: "#00ff00"}
    assert np.array_equal(loaded.mean, clf.mean) and np.array_equal(loaded.std, clf.std)
    assert np.allclose(loaded.wavelengths, np.linspace(400, 1000, 9))
    assert loaded.model_name == "ssdgl" and loaded.model_config == clf.model_config
    assert loaded.seed == clf.seed and loaded.train_config == clf.train_config
    assert loaded.metrics["oa"] == clf.metrics["oa"]
    assert set(loaded.metrics["per_class"]) == {2, 5, 11}


def test_sidecar_contents(clf, tmp_path):
    save_classifier(clf, tmp_path)
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["napari_ssdgl_version"] == __version__
    assert meta["model"] == "ssdgl" and meta["bands"] == 9
    assert meta["model_config"]["in_channels"] == 9 and meta["model_config"]["num_classes"] == 3
    assert len(meta["normalization"]["mean"]) == 9 and len(meta["normalization"]["std"]) == 9
    assert meta["class_values"] == [2, 5, 11]
    assert meta["class_names"] == {"2": "grass", "5": "road"}
    assert meta["train_config"]["lr"] == 0.01 and meta["seed"] == 2333
    assert meta["created"] and "oa" in meta["metrics"]


def test_load_never_unpickles(clf, tmp_path, monkeypatch):
    save_classifier(clf, tmp_path)
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    load_classifier(tmp_path)


def test_missing_and_corrupt_files(clf, tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_classifier(tmp_path / "nope")
    save_classifier(clf, tmp_path)
    weights = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(ModelFileError, match="cannot read weights"):
        load_classifier(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ModelFileError, match="missing model.safetensors"):
        load_classifier(tmp_path)
    save_classifier(clf, tmp_path)
    (tmp_path / "model.json").write_text("{ not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_classifier(tmp_path)
    assert issubclass(ModelFileError, ValueError)


def test_wrong_format_version_and_mismatched_weights(clf, tmp_path):
    save_classifier(clf, tmp_path)
    meta = json.loads((tmp_path / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ModelFileError, match="format version 99 is not supported"):
        load_classifier(tmp_path)
    config = {**meta["model_config"], "num_classes": 4}
    (tmp_path / "model.json").write_text(json.dumps({**meta, "model_config": config}))
    with pytest.raises(ModelFileError, match="weights do not fit"):
        load_classifier(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({**meta, "model": "resnet"}))
    with pytest.raises(ModelFileError, match="invalid"):
        load_classifier(tmp_path)
