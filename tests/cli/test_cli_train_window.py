"""`train --window N --windows-per-batch B`: a lazy cube larger than the window trains in
windows without being loaded; a small one trains whole; bad values are argument errors."""

import json

import numpy as np
import pytest

from napari_ssdgl.cli import main

TRAIN = ["train", "--preset", "none", "--device", "cpu", "--quiet"]


def write_scene(tmp_path, size: int) -> tuple[str, str]:
    rng = np.random.default_rng(0)
    gt = np.zeros((size, size), np.uint8)
    h = size // 2
    gt[1:h - 1, 1:-1], gt[h + 1:-1, 1:h - 1], gt[h + 1:-1, h + 1:-1] = 1, 2, 5
    cube = (rng.normal(size=(6, 6)) * 2)[gt].transpose(2, 0, 1) + rng.normal(size=(6, size, size))
    np.save(tmp_path / "cube.npy", cube.astype(np.float32))
    np.save(tmp_path / "gt.npy", gt)
    return str(tmp_path / "cube.npy"), str(tmp_path / "gt.npy")


@pytest.fixture
def seen(monkeypatch):
    """The cube type and windowing of every Trainer the CLI builds."""
    from napari_ssdgl import training

    record = []

    class Spy(training.Trainer):
        def __init__(self, cube, *a, **kw):
            super().__init__(cube, *a, **kw)
            record.append((type(cube).__module__.split(".")[0], self.windowed))

    monkeypatch.setattr(training, "Trainer", Spy)
    return record


def test_train_in_windows_from_a_lazy_cube(tmp_path, seen):
    cube, gt = write_scene(tmp_path, 64)
    out = tmp_path / "run"
    rc = main([*TRAIN, cube, gt, "--out", str(out), "--split-fraction", "0.05", "--iterations",
               "3", "--eval-every", "0", "--window", "32", "--windows-per-batch", "2"])
    assert rc == 0
    assert seen == [("dask", True)]  # opened lazily, never read whole
    meta = json.loads((out / "model" / "model.json").read_text())
    assert meta["train_config"]["window"] == 32
    assert meta["train_config"]["windows_per_batch"] == 2
    assert meta["layer_statistics"] is not None
    assert np.load(out / "class_map.npy").shape == (64, 64)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["oa"] is not None


def test_a_scene_within_the_window_trains_whole(tmp_path, seen):
    cube, gt = write_scene(tmp_path, 16)
    out = tmp_path / "run"
    assert main([*TRAIN, cube, gt, "--out", str(out), "--split-per-class", "4", "--iterations",
                 "2", "--window", "32"]) == 0
    assert seen == [("numpy", False)]
    assert json.loads((out / "model" / "model.json").read_text())["layer_statistics"] is None


def test_windows_per_batch_auto_splits_the_window_for_sparse_strokes(tmp_path, capsys):
    cube, gt = write_scene(tmp_path, 192)
    strokes = np.zeros((192, 192), np.uint8)  # one 2 x 2 stroke per class, far apart
    strokes[10:12, 10:12], strokes[150:152, 20:22], strokes[150:152, 170:172] = 1, 2, 5
    np.save(tmp_path / "strokes.npy", strokes)
    out = tmp_path / "run"
    labels = str(tmp_path / "strokes.npy")
    assert main(["train", "--preset", "none", "--device", "cpu", cube, labels, "--test-labels",
                 gt, "--out", str(out), "--iterations", "2", "--eval-every", "0", "--window",
                 "112", "--windows-per-batch", "auto"]) == 0
    err = capsys.readouterr().err
    assert "training on 3 window(s) of 64 px per iteration: sparse labels (a 112 px window " \
           "holds 1.0 of 3 classes on average)" in err, err
    meta = json.loads((out / "model" / "model.json").read_text())["train_config"]
    assert (meta["window"], meta["windows_per_batch"]) == (64, 3)


@pytest.mark.parametrize("args, message", [
    (["--window", "40"], "multiple of 16"),
    (["--window", "16"], ">= 32"),
    (["--window", "x"], "invalid _window value"),
    (["--windows-per-batch", "0"], "positive integer"),
])
def test_bad_window_options_are_argument_errors(tmp_path, capsys, args, message):
    cube, gt = write_scene(tmp_path, 16)
    with pytest.raises(SystemExit) as exc:
        main([*TRAIN, cube, gt, "--out", str(tmp_path / "run"), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_a_cube_without_a_lazy_reader_is_read_and_still_trains_in_windows(tmp_path, seen):
    """A v5 .mat has no lazy reader: it is read into memory, then trained in windows."""
    import scipy.io as sio

    cube, gt = write_scene(tmp_path, 64)
    sio.savemat(tmp_path / "cube.mat", {"cube": np.load(cube).transpose(1, 2, 0)})
    out = tmp_path / "run"
    assert main([*TRAIN, str(tmp_path / "cube.mat"), gt, "--out", str(out), "--split-fraction",
                 "0.05", "--iterations", "2", "--eval-every", "0", "--window", "32"]) == 0
    assert seen == [("numpy", True)]
    assert np.load(out / "class_map.npy").shape == (64, 64)
