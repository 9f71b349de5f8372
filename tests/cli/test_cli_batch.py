"""Batch `predict ... --out-dir`: globs, bad files reported at the end, non-zero exit."""

import json

import numpy as np
import pytest
from PIL import Image

from napari_ssdgl.cli import main

TINY = {"widths": (16, 16, 16, 16), "decoder_width": 8, "groups": 4}


def make_cube(rows=16, cols=20, bands=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(bands, rows, cols)).astype(np.float32)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from napari_ssdgl.prediction.modelfile import save_classifier
    from napari_ssdgl.training import TrainConfig, Trainer

    gt = np.zeros((16, 20), np.uint8)
    gt[:8], gt[8:] = 1, 2
    cfg = TrainConfig(iterations=2, device="cpu", model_kwargs=TINY, eval_every=0)
    clf = Trainer(make_cube(), gt, cfg).fit()
    return save_classifier(clf, tmp_path_factory.mktemp("model") / "m")


@pytest.fixture
def cubes(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    np.save(d / "a.npy", make_cube(seed=1))
    (d / "b_corrupt.npy").write_bytes(b"not a numpy file at all")
    np.save(d / "c.npy", make_cube(rows=10, cols=12, seed=2))
    np.save(d / "d_wrong_bands.npy", make_cube(bands=9))
    return d


def test_batch_continues_past_bad_files_and_exits_non_zero(model_dir, cubes, tmp_path, capsys):
    out = tmp_path / "maps"
    rc = main(["predict", str(model_dir), str(cubes / "*.npy"), str(tmp_path / "missing.npy"),
               "--out-dir", str(out), "--format", "tif,png", "--device", "cpu"])
    assert rc == 1
    captured = capsys.readouterr()
    assert "2 of 5 cubes predicted" in captured.out
    report = captured.err[captured.err.index("3 of 5 cubes failed"):]
    assert "b_corrupt.npy" in report and "missing.npy: file not found" in report
    assert "d_wrong_bands.npy" in report and "9 bands but the model was trained on 6" in report
    assert "Traceback" not in captured.err
    assert "predict" in captured.err  # the progress bar
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "a.tif", "c.png", "c.tif"]
    with Image.open(out / "c.png") as im:
        im.verify()


def test_batch_json_and_all_ok(model_dir, cubes, tmp_path, capsys):
    out = tmp_path / "maps"
    rc = main(["predict", str(model_dir), str(cubes / "a.npy"), str(cubes / "c.npy"),
               "--out-dir", str(out), "--format", "npy", "--uncertainty", "--quiet", "--json",
               "--device", "cpu"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] == 2 and result["failed"] == 0
    assert [it["shape"] for it in result["items"]] == [[16, 20], [10, 12]]
    assert np.load(out / "c.npy").shape == (10, 12)
    assert (out / "a_uncertainty.tif").is_file()


def test_batch_glob_without_match_and_same_stems(model_dir, cubes, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    np.save(other / "a.npy", make_cube(seed=3))
    out = tmp_path / "maps"
    rc = main(["predict", str(model_dir), str(cubes / "a.npy"), str(other / "a.npy"),
               str(tmp_path / "nothing_*.tif"), "--out-dir", str(out), "--format", "npy",
               "--quiet", "--device", "cpu"])
    assert rc == 1
    assert "no readable file matches" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["a-2.npy", "a.npy"]


def test_single_out_keeps_working_and_takes_one_cube(model_dir, cubes, tmp_path, capsys):
    assert main(["predict", str(model_dir), str(cubes / "a.npy"), "--out",
                 str(tmp_path / "a.png"), "--quiet", "--device", "cpu"]) == 0
    with Image.open(tmp_path / "a.png") as im:
        assert im.size[0] > 20 and im.size[1] > 16
    rc = main(["predict", str(model_dir), str(cubes / "a.npy"), str(cubes / "c.npy"), "--out",
               str(tmp_path / "x.tif")])
    assert rc == 2
    assert "use --out-dir" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # neither --out nor --out-dir
        main(["predict", str(model_dir), str(cubes / "a.npy")])


def test_batch_never_overwrites_an_input(model_dir, cubes, capsys):
    rc = main(["predict", str(model_dir), str(cubes / "a.npy"), "--out-dir", str(cubes),
               "--format", "npy", "--quiet", "--device", "cpu"])
    assert rc == 1
    assert "would overwrite the input cube" in capsys.readouterr().err
    assert np.load(cubes / "a.npy").shape == (6, 16, 20)
