"""The napari-ssdgl command line: a train -> predict round trip and every error path."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from napari_ssdgl.cli import main
from tests.conftest import toy_scene

# the constructor's small widths: the CLI default is the paper's 3.5 M-parameter preset
TRAIN = ["train", "--preset", "none"]

BANDS = 10


def make_scene(rows=24, cols=24, bands=BANDS, seed=0):
    boxes = ((2, 10, 2, 22, 1), (12, 22, 2, 10, 3), (12, 22, 13, 22, 7))
    return toy_scene(bands, rows, seed, cols=cols, boxes=boxes, dtype=np.uint8)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    cube, gt = make_scene()
    np.save(d / "cube.npy", cube)
    np.save(d / "gt.npy", gt)
    return d


@pytest.fixture(scope="module")
def trained(files):
    torch.set_num_threads(1)
    out = files / "model"
    rc = main([*TRAIN, str(files / "cube.npy"), str(files / "gt.npy"), "--out", str(out),
               "--split-per-class", "5", "--iterations", "5", "--eval-every", "2", "--quiet",
               "--device", "cpu"])
    assert rc == 0
    return out


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("napari-ssdgl: error: "), err
    return lines[0]


def test_train_writes_a_run_folder(trained):
    assert {p.name for p in trained.iterdir()} == {
        "model", "metrics.json", "history.json", "class_map.npy"}
    assert {p.name for p in (trained / "model").iterdir()} == {"model.safetensors", "model.json"}
    m = json.loads((trained / "metrics.json").read_text())
    for key in ("oa", "aa", "kappa", "per_class", "confusion", "train_pixels", "test_pixels",
                "iterations", "seconds_per_iteration", "seed", "device", "split",
                "torch_version", "model", "preset"):
        assert key in m, key
    assert m["train_pixels"] == 15 and m["test_pixels"] == 160 + 80 + 90 - 15
    assert m["iterations"] == 5 and m["seed"] == 2333 and m["device"] == "cpu"
    assert m["split"] == {"protocol": "per_class", "n": 5, "seed": 2333}
    assert m["model"] == "ssdgl" and m["preset"] is None and 0 <= m["oa"] <= 1
    assert m["keep"] == "last"  # the saved model is not chosen by its test score
    assert set(m["per_class"]) == {"1", "3", "7"}
    pred = np.load(trained / "class_map.npy")
    assert pred.shape == (24, 24) and set(np.unique(pred)) <= {1, 3, 7}


def test_train_progress_bar_and_summary(files, tmp_path, capsys):
    rc = main([*TRAIN, str(files / "cube.npy"), str(files / "gt.npy"), "--out", str(tmp_path),
               "--split-fraction", "0.1", "--iterations", "2", "--device", "cpu", "--model",
               "freenet", "--per-class", "0"])
    assert rc == 0
    captured = capsys.readouterr()
    assert "train" in captured.err and "loss=" in captured.err  # tqdm on stderr
    assert "OA" in captured.out
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["model"] == "freenet" and m["split"]["protocol"] == "fraction"
    assert m["per_class_draw"] is None


@pytest.mark.parametrize(("flag", "graph"), [([], True), (["--no-cuda-graph"], False)])
def test_train_cuda_graph_switch_is_recorded(files, tmp_path, flag, graph):
    rc = main([*TRAIN, str(files / "cube.npy"), str(files / "gt.npy"), "--out", str(tmp_path),
               "--split-per-class", "5", "--iterations", "1", "--quiet", "--device", "cpu",
               *flag])
    assert rc == 0
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["train_config"]["cuda_graph"] is graph


def test_train_compile_option_reaches_the_trainer(files, tmp_path, monkeypatch):
    """``--compile`` asks for Inductor; where it cannot compile, training warns and runs."""
    def broken(fn, **kw):
        assert kw["backend"] == "inductor"

        def run(*a, **k):
            raise RuntimeError("no working C++ compiler")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(UserWarning, match="torch.compile failed"):
        rc = main([*TRAIN, str(files / "cube.npy"), str(files / "gt.npy"), "--out",
                   str(tmp_path), "--split-per-class", "5", "--iterations", "2", "--quiet",
                   "--device", "cpu", "--compile"])
    assert rc == 0
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["train_config"]["compile"] == "inductor"


def test_train_members_writes_an_ensemble(files, tmp_path, capsys):
    from napari_ssdgl.prediction.modelfile import load_classifier

    rc = main([*TRAIN, str(files / "cube.npy"), str(files / "gt.npy"), "--out", str(tmp_path),
               "--split-per-class", "5", "--iterations", "2", "--quiet", "--device", "cpu",
               "--members", "3"])
    assert rc == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["members"] == 3
    assert len(load_classifier(tmp_path).model.members) == 3  # the run folder's model/
    with pytest.raises(SystemExit):  # argparse: a usage error, exit 2
        main([*TRAIN, str(files / "cube.npy"), str(files / "gt.npy"), "--out", str(tmp_path),
              "--members", "0"])
    assert "--members" in capsys.readouterr().err


def test_train_without_test_set(files, tmp_path):
    cube, gt = make_scene()
    sparse = np.zeros_like(gt)
    sparse[3, 3], sparse[4, 4], sparse[15, 5], sparse[15, 15] = 1, 1, 3, 7
    np.save(tmp_path / "sparse.npy", sparse)
    rc = main([*TRAIN, str(files / "cube.npy"), str(tmp_path / "sparse.npy"), "--out",
               str(tmp_path / "m"), "--iterations", "2", "--quiet", "--device", "cpu",
               "--model", "freenet"])
    assert rc == 0
    m = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert m["oa"] is None and m["test_pixels"] == 0 and m["train_pixels"] == 4


def test_predict_npy_and_tif(trained, files, tmp_path):
    assert main(["predict", str(trained), str(files / "cube.npy"), "--out",
                 str(tmp_path / "map.npy"), "--quiet", "--device", "cpu"]) == 0
    labels = np.load(tmp_path / "map.npy")
    assert np.array_equal(labels, np.load(trained / "class_map.npy"))
    assert main(["predict", str(trained), str(files / "cube.npy"), "--out",
                 str(tmp_path / "map.tif"), "--tile-size", "48", "--overlap", "16",
                 "--device", "cpu"]) == 0
    import tifffile

    assert tifffile.imread(tmp_path / "map.tif").shape == (24, 24)


def test_predict_tta_is_the_engines_flip_mean(trained, files, tmp_path, capsys):
    from napari_ssdgl.prediction.modelfile import load_classifier

    cube = np.load(files / "cube.npy")
    assert main(["predict", str(trained), str(files / "cube.npy"), "--out",
                 str(tmp_path / "map.npy"), "--tta", "--quiet", "--device", "cpu"]) == 0
    expected = load_classifier(trained).predict(cube, device="cpu", tta=True).labels
    np.testing.assert_array_equal(np.load(tmp_path / "map.npy"), expected)
    assert main(["predict", str(trained), str(files / "cube.npy"), "--out-dir",
                 str(tmp_path / "many"), "--format", "npy", "--tta", "--quiet",
                 "--device", "cpu"]) == 0  # the batch path
    np.testing.assert_array_equal(np.load(tmp_path / "many" / "cube.npy"), expected)
    # the dask path (a .zarr output): the same flip mean
    assert main(["predict", str(trained), str(files / "cube.npy"), "--out",
                 str(tmp_path / "map.zarr"), "--tta", "--quiet", "--device", "cpu"]) == 0
    import zarr

    group = zarr.open_group(str(tmp_path / "map.zarr"), mode="r")
    assert group.attrs["tta"] is True
    np.testing.assert_array_equal(group["labels"][:], expected)


def test_train_out_of_memory_is_one_clear_line(files, tmp_path, capsys, monkeypatch):
    from napari_ssdgl.models.blocks import EncoderDecoder

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

    monkeypatch.setattr(EncoderDecoder, "sampled_logits", oom)
    rc = main([*TRAIN, str(files / "cube.npy"), str(files / "gt.npy"), "--out",
               str(tmp_path / "m"), "--split-per-class", "5", "--iterations", "2", "--quiet",
               "--device", "cpu"])
    assert rc == 2
    assert "out of memory training on CPU" in one_error_line(capsys)
    assert not (tmp_path / "m").exists()  # nothing is written before training ends


def test_error_missing_file(files, tmp_path, capsys):
    rc = main([*TRAIN, str(tmp_path / "nope.npy"), str(files / "gt.npy"), "--out",
               str(tmp_path / "m")])
    assert rc == 2
    assert "nope.npy" in one_error_line(capsys)


def test_error_unreadable_cube(files, tmp_path, capsys):
    (tmp_path / "bad.npy").write_bytes(b"this is not numpy")
    rc = main([*TRAIN, str(tmp_path / "bad.npy"), str(files / "gt.npy"), "--out",
               str(tmp_path / "m")])
    assert rc == 2
    assert "bad.npy" in one_error_line(capsys)


def test_error_shape_mismatch(files, tmp_path, capsys):
    _, gt = make_scene(rows=20)
    np.save(tmp_path / "gt20.npy", gt)
    rc = main([*TRAIN, str(files / "cube.npy"), str(tmp_path / "gt20.npy"), "--out",
               str(tmp_path / "m"), "--device", "cpu"])
    assert rc == 2
    assert "spatial shape" in one_error_line(capsys)


def test_error_no_labels(files, tmp_path, capsys):
    np.save(tmp_path / "zeros.npy", np.zeros((24, 24), np.uint8))
    for extra, expected in (([], "no training labels"), (["--split-per-class", "3"],
                                                          "no labelled pixels")):
        rc = main([*TRAIN, str(files / "cube.npy"), str(tmp_path / "zeros.npy"), "--out",
                   str(tmp_path / "m"), "--device", "cpu", *extra])
        assert rc == 2
        assert expected in one_error_line(capsys)


def test_error_class_with_one_pixel(files, tmp_path, capsys):
    _, gt = make_scene()
    gt[0, 0] = 9  # class 9: a single pixel
    np.save(tmp_path / "gt1.npy", gt)
    rc = main([*TRAIN, str(files / "cube.npy"), str(tmp_path / "gt1.npy"), "--out",
               str(tmp_path / "m"), "--split-fraction", "0.05"])
    assert rc == 2
    assert "class 9 has only 1 labelled pixel" in one_error_line(capsys)


def test_error_band_mismatch(trained, tmp_path, capsys):
    cube, _ = make_scene(bands=BANDS + 2)
    np.save(tmp_path / "cube12.npy", cube)
    rc = main(["predict", str(trained), str(tmp_path / "cube12.npy"), "--out",
               str(tmp_path / "map.npy")])
    assert rc == 2
    assert "12 bands but the model was trained on 10" in one_error_line(capsys)


def test_error_bad_model_dir_and_output_suffix(trained, files, tmp_path, capsys):
    rc = main(["predict", str(tmp_path / "nomodel"), str(files / "cube.npy"), "--out",
               str(tmp_path / "map.npy")])
    assert rc == 2
    assert "nomodel" in one_error_line(capsys)
    rc = main(["predict", str(trained), str(files / "cube.npy"), "--out",
               str(tmp_path / "map.jpg")])
    assert rc == 2
    assert "map.jpg" in one_error_line(capsys)


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "a.npy", "b.npy"])  # --out missing
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["train", "a", "b", "--out", "o", "--split-fraction", "1.5"])
    assert exc.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err


def test_python_dash_m_entry_point(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "napari_ssdgl", "predict", str(tmp_path / "m"),
         str(tmp_path / "c.npy"), "--out", str(tmp_path / "o.npy")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("napari-ssdgl: error: ") and "Traceback" not in proc.stderr


def test_cli_defaults_are_the_engine_defaults():
    """The CLI's help and defaults show the engine's defaults."""
    from napari_ssdgl.cli import parser as cli
    from napari_ssdgl.training import DEFAULT_DRAW, TrainConfig

    assert cli.DEFAULT_DRAW == DEFAULT_DRAW == TrainConfig().per_class
    assert cli.DEFAULT_PRESET == TrainConfig().preset
