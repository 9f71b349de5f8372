"""`train --report --json`: the report image and machine-readable metrics on stdout."""

import json

import numpy as np
import pytest
from PIL import Image

from napari_ssdgl.cli import main

# the constructor's small widths: the CLI default is the paper's 3.5 M-parameter preset
TRAIN = ["train", "--preset", "none"]


def test_train_report_and_json(tmp_path, capsys):
    rng = np.random.default_rng(0)
    gt = np.zeros((16, 16), np.uint8)
    gt[1:7, 1:15], gt[9:15, 1:7], gt[9:15, 9:15] = 1, 2, 5
    cube = (rng.normal(size=(6, 6)) * 2)[gt].transpose(2, 0, 1) + rng.normal(size=(6, 16, 16))
    np.save(tmp_path / "cube.npy", cube.astype(np.float32))
    np.save(tmp_path / "gt.npy", gt)
    out = tmp_path / "m"
    rc = main([*TRAIN, str(tmp_path / "cube.npy"), str(tmp_path / "gt.npy"), "--out", str(out),
               "--split-per-class", "4", "--iterations", "3", "--eval-every", "1", "--model",
               "freenet", "--device", "cpu", "--report", "--json", "--quiet"])
    assert rc == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert printed == json.loads((out / "metrics.json").read_text())
    assert printed["iterations"] == 3 and printed["train_pixels"] == 12
    history = json.loads((out / "history.json").read_text())
    assert history["iteration"] == [1, 2, 3] and history["eval_iteration"] == [1, 2, 3]
    with Image.open(out / "report.png") as im:
        im.verify()
    assert captured.err == ""


def test_train_report_without_test_set_warns(tmp_path, capsys):
    gt = np.zeros((16, 16), np.uint8)
    gt[2, 2], gt[12, 12] = 1, 2
    np.save(tmp_path / "cube.npy", np.random.default_rng(1).normal(size=(4, 16, 16)))
    np.save(tmp_path / "labels.npy", gt)
    rc = main([*TRAIN, str(tmp_path / "cube.npy"), str(tmp_path / "labels.npy"), "--out",
               str(tmp_path / "m"), "--iterations", "1", "--model", "freenet", "--device",
               "cpu", "--report"])
    assert rc == 0
    assert "--report needs test labels" in capsys.readouterr().err
    assert not (tmp_path / "m" / "report.png").exists()


def test_train_reference_flag_reaches_the_trainer(monkeypatch, tmp_path):
    """--reference selects the plain dense path (the speed yardstick)."""
    from napari_ssdgl import training

    seen = {}

    def spy(cube, labels, config, **kw):
        seen["reference"] = config.reference
        raise SystemExit(0)

    monkeypatch.setattr(training, "Trainer", spy)
    cube = np.random.default_rng(0).normal(size=(4, 8, 8)).astype("float32")
    gt = np.zeros((8, 8), int)
    gt[:4], gt[4:] = 1, 2
    np.save(tmp_path / "c.npy", cube)
    np.save(tmp_path / "g.npy", gt)
    with pytest.raises(SystemExit):
        main([*TRAIN, str(tmp_path / "c.npy"), str(tmp_path / "g.npy"), "--out",
              str(tmp_path / "o"), "--reference", "--quiet"])
    assert seen == {"reference": True}
