"""`train --init-from MODEL_DIR` (issue 18): refine a saved model with new labels."""

import json

import numpy as np

from napari_ssdgl.cli import main
from napari_ssdgl.prediction.modelfile import load_classifier


def _scene(tmp_path):
    rng = np.random.default_rng(0)
    gt = np.zeros((16, 16), np.uint8)
    gt[1:7, 1:15], gt[9:15, 1:7], gt[9:15, 9:15] = 1, 2, 5
    cube = (rng.normal(size=(6, 6)) * 2)[gt].transpose(2, 0, 1) + rng.normal(size=(6, 16, 16))
    np.save(tmp_path / "cube.npy", cube.astype(np.float32))
    first = np.where(gt == 5, 0, gt)
    first[(first > 0) & (rng.random(gt.shape) > 0.3)] = 0  # sparse labels of classes 1 and 2
    np.save(tmp_path / "first.npy", first)
    second = first.copy()
    second[10:12, 10:12] = 5  # a new class
    np.save(tmp_path / "second.npy", second)
    return tmp_path / "cube.npy"


def _train(tmp_path, labels, out, *extra):
    return main(["train", "--preset", "none", str(tmp_path / "cube.npy"), str(tmp_path / labels),
                 "--out", str(tmp_path / out), "--iterations", "4", "--model", "freenet",
                 "--device", "cpu", "--quiet", *extra])


def test_train_init_from_refines_and_records_it(tmp_path, capsys):
    _scene(tmp_path)
    assert _train(tmp_path, "first.npy", "a") == 0
    # a run folder or its model/ folder; --model is ignored (the model's own architecture)
    assert _train(tmp_path, "second.npy", "b", "--init-from", str(tmp_path / "a"),
                  "--model", "ssdgl") == 0
    first, refined = load_classifier(tmp_path / "a"), load_classifier(tmp_path / "b")
    assert first.class_values.tolist() == [1, 2] and refined.class_values.tolist() == [1, 2, 5]
    assert refined.model_name == "freenet"
    assert np.array_equal(refined.mean, first.mean)
    meta = json.loads((tmp_path / "b" / "model" / "model.json").read_text())
    rec = meta["train_config"]["refined_from"]
    assert rec["path"] == str(tmp_path / "a") and rec["class_values"] == [1, 2]


def test_train_init_from_refuses_band_mismatch_and_missing_folder(tmp_path, capsys):
    _scene(tmp_path)
    assert _train(tmp_path, "first.npy", "a") == 0
    np.save(tmp_path / "cube.npy", np.zeros((5, 16, 16), np.float32))
    capsys.readouterr()
    assert _train(tmp_path, "first.npy", "b", "--init-from", str(tmp_path / "a")) != 0
    assert "6 bands but the cube has 5" in capsys.readouterr().err
    assert _train(tmp_path, "first.npy", "c", "--init-from", str(tmp_path / "none")) != 0
    assert "not found" in capsys.readouterr().err
