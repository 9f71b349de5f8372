"""The bad-input matrix of issue 21 at the command line: every case ends in one line on stderr
naming the file or option (exit 2), before any work, with the user's previous files intact;
existing outputs are replaced only with --overwrite; warnings are one line each, once."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from napari_ssdgl.cli import main
from tests.conftest import TINY, toy_scene

TRAIN = ["train", "--preset", "none", "--iterations", "1", "--device", "cpu"]
BANDS = 8


def snapshot(root):
    """Every file under ``root``: its bytes and modification time."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file()}


def one_error_line(capsys, *names) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("napari-ssdgl: error: "), err
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A cube, its ground truth and a saved TINY model in one folder."""
    from napari_ssdgl.prediction.modelfile import save_classifier
    from napari_ssdgl.training import TrainConfig, Trainer

    d = tmp_path_factory.mktemp("data")
    cube, gt = toy_scene(BANDS, 20)
    np.save(d / "cube.npy", cube)
    np.save(d / "gt.npy", gt)
    cfg = TrainConfig(iterations=2, device="cpu", model_kwargs=TINY, eval_every=0)
    save_classifier(Trainer(cube, gt, cfg).fit(), d / "model")
    return d


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if a Trainer is made: the error must come before any work."""
    from napari_ssdgl import training

    def refuse(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(training, "Trainer", refuse)


# -- outputs checked before the work; never replaced without --overwrite ------------------------
def test_train_out_an_existing_file_fails_before_training(data, tmp_path, capsys, no_training):
    out = tmp_path / "taken"
    out.write_text("my notes")
    before = snapshot(tmp_path)
    assert main([*TRAIN, str(data / "cube.npy"), str(data / "gt.npy"), "--out", str(out)]) == 2
    one_error_line(capsys, out, "is a file, not a folder")
    assert snapshot(tmp_path) == before


def test_train_out_in_a_read_only_folder_fails_before_training(data, tmp_path, capsys,
                                                                monkeypatch, no_training):
    from napari_ssdgl.workflows import outputs

    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: stand in for a read-only file system
        real = outputs.probe_writable
        monkeypatch.setattr(outputs, "probe_writable", lambda d: (_ for _ in ()).throw(
            OSError(30, "Read-only file system")) if d == locked else real(d))
    else:
        locked.chmod(0o555)
    try:
        assert main([*TRAIN, str(data / "cube.npy"), str(data / "gt.npy"), "--out",
                     str(locked / "run")]) == 2
    finally:
        locked.chmod(0o755)
    one_error_line(capsys, locked, "cannot write there")
    assert list(locked.iterdir()) == []


def test_train_into_an_existing_run_needs_overwrite(data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    argv = [*TRAIN, str(data / "cube.npy"), str(data / "gt.npy"), "--out", str(out), "--quiet"]
    assert main(argv) == 0
    (out / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    from napari_ssdgl import training

    real = training.Trainer
    monkeypatch.setattr(training, "Trainer", lambda *a, **k: pytest.fail("training started"))
    assert main(argv) == 2
    line = one_error_line(capsys, out, "already holds", "model/", "metrics.json", "--overwrite")
    assert "notes.txt" not in line
    assert snapshot(tmp_path) == before  # the earlier model and metrics as they were
    monkeypatch.setattr(training, "Trainer", real)
    assert main([*argv, "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine"  # not an output: left alone
    after = snapshot(tmp_path)
    assert after[out / "metrics.json"][1] != before[out / "metrics.json"][1]  # replaced


def test_predict_out_an_existing_file_needs_overwrite(data, tmp_path, capsys):
    out = tmp_path / "map.tif"
    out.write_bytes(b"an older map")
    before = snapshot(tmp_path)
    argv = ["predict", str(data / "model"), str(data / "cube.npy"), "--out", str(out),
            "--device", "cpu", "--quiet"]
    assert main(argv) == 2
    one_error_line(capsys, out, "already exists", "--overwrite")
    assert snapshot(tmp_path) == before
    assert main([*argv, "--overwrite"]) == 0
    assert out.read_bytes() != b"an older map"
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_predict_out_probabilities_and_envi_partner_are_checked(data, tmp_path, capsys):
    (tmp_path / "map_probabilities.tif").write_bytes(b"old")
    (tmp_path / "e.img").write_bytes(b"old data file")
    before = snapshot(tmp_path)
    assert main(["predict", str(data / "model"), str(data / "cube.npy"), "--out",
                 str(tmp_path / "map.tif"), "--probabilities", "--device", "cpu"]) == 2
    one_error_line(capsys, tmp_path / "map_probabilities.tif", "already exists")
    assert main(["predict", str(data / "model"), str(data / "cube.npy"), "--out",
                 str(tmp_path / "e.hdr"), "--device", "cpu"]) == 2
    one_error_line(capsys, tmp_path / "e.img", "already exists")
    assert snapshot(tmp_path) == before


def test_predict_out_dir_holding_the_map_needs_overwrite(data, tmp_path, capsys):
    maps = tmp_path / "maps"
    argv = ["predict", str(data / "model"), str(data / "cube.npy"), "--out-dir", str(maps),
            "--format", "tif,npy", "--device", "cpu", "--quiet"]
    assert main(argv) == 0
    before = snapshot(tmp_path)
    assert main(argv) == 2
    one_error_line(capsys, maps, "already holds cube.tif and cube.npy", "--overwrite")
    assert snapshot(tmp_path) == before
    assert main([*argv, "--overwrite"]) == 0


def test_evaluate_report_an_existing_png_needs_overwrite(data, tmp_path, capsys):
    report = tmp_path / "evaluation.png"
    report.write_bytes(b"my figure")
    before = snapshot(tmp_path)
    argv = ["evaluate", str(data / "gt.npy"), str(data / "gt.npy"), "--report", str(report)]
    assert main(argv) == 2
    one_error_line(capsys, report, "already exists")
    assert snapshot(tmp_path) == before
    assert main([*argv, "--overwrite"]) == 0
    assert report.read_bytes().startswith(b"\x89PNG")


def test_convert_checks_its_output_first(data, tmp_path, capsys):
    pytest.importorskip("zarr")
    (tmp_path / "cube.zarr").write_text("a file where the zarr folder goes")
    before = snapshot(tmp_path)
    assert main(["convert", str(data / "cube.npy"), str(tmp_path / "cube.zarr"), "--quiet"]) == 2
    one_error_line(capsys, tmp_path / "cube.zarr", "is a file, not a folder")
    assert snapshot(tmp_path) == before
    (tmp_path / "cube.zarr").unlink()
    assert main(["convert", str(data / "cube.npy"), str(tmp_path / "c.zarr"), "--quiet"]) == 0
    assert main(["convert", str(data / "cube.npy"), str(tmp_path / "c.zarr"), "--quiet"]) == 2
    one_error_line(capsys, tmp_path / "c.zarr", "already exists", "--overwrite")
    assert main(["convert", str(data / "cube.npy"), str(tmp_path / "c.zarr"), "--quiet",
                 "--overwrite"]) == 0


def test_reproduce_and_demo_refuse_an_earlier_run(data, tmp_path, capsys, no_training):
    seed = tmp_path / "rep" / "seed_0"
    seed.mkdir(parents=True)
    (seed / "metrics.json").write_text("{}")
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "report.png").write_bytes(b"old")
    before = snapshot(tmp_path)
    assert main(["reproduce", str(data / "cube.npy"), str(data / "gt.npy"), "--protocol",
                 "indian_pines/10-per-class", "--seeds", "0", "--out", str(tmp_path / "rep"),
                 "--iterations", "1", "--device", "cpu"]) == 2
    one_error_line(capsys, seed / "metrics.json", "already exists", "--overwrite")
    assert main(["demo", "--out", str(tmp_path / "demo"), "--iterations", "1"]) == 2
    one_error_line(capsys, tmp_path / "demo" / "report.png", "already exists")
    assert snapshot(tmp_path) == before


# -- malformed model files ----------------------------------------------------------------------
MODEL_CASES = {
    "class_values short": ({"class_values": [1, 4]}, "class_values"),
    "class_values long": ({"class_values": [1, 4, 9, 11]}, "class_values"),
    "class_names list": ({"class_names": ["a", "b", "c"]}, "class_names"),
    "metrics list": ({"metrics": [1]}, "metrics"),
    "12-band mean": ({"normalization": {"mean": [0.0] * 12, "std": [1.0] * BANDS}},
                     "normalization.mean"),
    "widths 100000": ({"model_config": "widths"}, "model_config"),
    "members 1e9": ({"model_config": "members"}, "model_config.members"),
    "std 0": ({"normalization": {"mean": [0.0] * BANDS, "std": [0.0] * BANDS}},
              "normalization.std"),
    "wavelengths abc": ({"wavelengths": "abc"}, "wavelengths"),
    "format_version string": ({"format_version": "1"}, "format_version"),
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_predict_with_a_malformed_model_json(data, tmp_path, capsys, case):
    changes, field = MODEL_CASES[case]
    model = tmp_path / "model"
    shutil.copytree(data / "model", model)
    meta = json.loads((model / "model.json").read_text())
    if changes.get("model_config") == "widths":
        changes = {"model_config": {**meta["model_config"], "widths": [100000] * 4}}
    elif changes.get("model_config") == "members":
        changes = {"model_config": {**meta["model_config"], "members": 1e9}}
    (model / "model.json").write_text(json.dumps({**meta, **changes}))
    before = snapshot(tmp_path)
    assert main(["predict", str(model), str(data / "cube.npy"), "--out",
                 str(tmp_path / "map.tif"), "--device", "cpu"]) == 2
    line = one_error_line(capsys, field)
    assert str(model) in line  # the model file (model.json) or its folder
    assert not (tmp_path / "map.tif").exists()
    assert snapshot(tmp_path) == before


# -- warnings: one line each, in the CLI's format, once ----------------------------------------
def _stderr_lines(err: str) -> list[str]:
    """stderr without the progress bars (tqdm redraws with \\r)."""
    parts = [p.strip() for line in err.splitlines() for p in line.split("\r")]
    return [p for p in parts if p and not any(s in p for s in ("it/s", "s/it", "%|", "?it"))]


def test_warnings_print_once_in_the_cli_format(data, tmp_path):
    cube = np.load(data / "cube.npy")
    cube[0, 0, 0], cube[2, 3, 3] = np.nan, np.inf
    cube[5] = 3.0  # a constant band
    np.save(tmp_path / "nan.npy", cube)
    for argv in (
        ["predict", str(data / "model"), str(tmp_path / "nan.npy"), "--out",
         str(tmp_path / "map.tif"), "--device", "cpu"],
        [*TRAIN, str(tmp_path / "nan.npy"), str(data / "gt.npy"), "--out", str(tmp_path / "r"),
         "--split-per-class", "5", "--threads", "1"],
    ):
        proc = subprocess.run([sys.executable, "-m", "napari_ssdgl", *argv], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        lines = _stderr_lines(proc.stderr)
        assert lines and all(ln.startswith("napari-ssdgl: warning: ") for ln in lines), lines
        assert len(lines) == len(set(lines))
        assert sum("non-finite" in ln for ln in lines) == 1, lines
        assert "UserWarning" not in proc.stderr and "warnings.warn" not in proc.stderr
    assert any("bands are constant" in ln and "band 5" in ln for ln in lines), lines


def test_quiet_prints_no_warning(data, tmp_path, capsys):
    cube = np.load(data / "cube.npy")
    cube[0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", cube)
    assert main(["predict", str(data / "model"), str(tmp_path / "nan.npy"), "--out",
                 str(tmp_path / "map.tif"), "--device", "cpu", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


# -- the smaller cases --------------------------------------------------------------------------
def test_an_all_constant_cube_is_an_error(data, tmp_path, capsys):
    np.save(tmp_path / "flat.npy", np.ones((BANDS, 20, 20), np.float32))
    assert main([*TRAIN, str(tmp_path / "flat.npy"), str(data / "gt.npy"), "--out",
                 str(tmp_path / "r")]) == 2
    one_error_line(capsys, tmp_path / "flat.npy", "every band of the cube is constant")
    assert not (tmp_path / "r").exists()


def test_split_per_class_on_a_small_class_warns(data, tmp_path, capsys):
    gt = np.load(data / "gt.npy")
    gt[gt == 4] = 0
    gt[0, 0], gt[0, 1] = 4, 4  # class 4: two pixels
    np.save(tmp_path / "gt.npy", gt)
    torch.set_num_threads(1)
    assert main([*TRAIN, str(data / "cube.npy"), str(tmp_path / "gt.npy"), "--out",
                 str(tmp_path / "r"), "--split-per-class", "10"]) == 0
    err = capsys.readouterr().err
    assert ("napari-ssdgl: warning: class 4 trains on 1 of its 2 labelled pixels, not 10: "
            "every class keeps at least one labelled pixel to test") in err


def test_negative_labels_are_refused_naming_the_file(data, tmp_path, capsys, no_training):
    gt = np.load(data / "gt.npy").astype(np.int16)
    gt[5, 5] = -1
    np.save(tmp_path / "neg.npy", gt)
    assert main([*TRAIN, str(data / "cube.npy"), str(tmp_path / "neg.npy"), "--out",
                 str(tmp_path / "r"), "--split-per-class", "5"]) == 2
    line = one_error_line(capsys, tmp_path / "neg.npy", "negative values")
    assert "test labels" not in line


def test_predicting_a_one_pixel_cube_says_so(data, tmp_path, capsys):
    np.save(tmp_path / "one.npy", np.load(data / "cube.npy")[:, :1, :1])
    assert main(["predict", str(data / "model"), str(tmp_path / "one.npy"), "--out",
                 str(tmp_path / "map.tif"), "--device", "cpu"]) == 2
    one_error_line(capsys, tmp_path / "one.npy", "the cube is 1 x 1 pixels",
                   "at least 2 x 2")
    assert not (tmp_path / "map.tif").exists()
