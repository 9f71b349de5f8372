"""`train`, `demo` and `reproduce` write one run-folder layout, and `predict` reads a run folder."""

import numpy as np
import pytest

from napari_ssdgl.cli import main
from tests.conftest import toy_scene

TINY = '{"widths": [16, 16, 16, 16], "decoder_width": 8, "groups": 4}'
CPU = ["--device", "cpu", "--quiet"]


def layout(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The three commands' run folders, each with its model and report."""
    d = tmp_path_factory.mktemp("layout")
    cube, gt = toy_scene(8, 20, dtype=np.uint8)
    np.save(d / "cube.npy", cube)
    np.save(d / "gt.npy", gt)
    assert main(["train", str(d / "cube.npy"), str(d / "gt.npy"), "--preset", "none",
                 "--split-per-class", "5", "--iterations", "2", "--report", "--out",
                 str(d / "train"), *CPU]) == 0
    assert main(["reproduce", str(d / "cube.npy"), str(d / "gt.npy"), "--protocol",
                 "indian_pines/5pct", "--seeds", "3", "--iterations", "2", "--model-kwargs",
                 TINY, "--save-models", "--report", "--out", str(d / "reproduce"), *CPU]) == 0
    assert main(["demo", "--iterations", "2", "--out", str(d / "demo"), *CPU]) == 0
    return d, {"train": d / "train", "reproduce": d / "reproduce" / "seed_3",
               "demo": d / "demo"}


def test_the_three_commands_write_the_same_layout(runs):
    _, folders = runs
    common = {"model", "model/model.json", "model/model.safetensors", "metrics.json",
              "history.json", "class_map.npy", "report.png"}
    assert layout(folders["train"]) == layout(folders["reproduce"]) == common
    assert layout(folders["demo"]) == common | {"class_map.tif", "class_map.png"}


@pytest.mark.parametrize("command", ["train", "reproduce", "demo"])
def test_predict_takes_a_run_folder(runs, tmp_path, command):
    d, folders = runs
    cube = "synthetic.npy" if command == "demo" else "cube.npy"
    if command == "demo":
        from napari_ssdgl.datasets import load_scene

        np.save(d / cube, load_scene("synthetic").cube.data)
    assert main(["predict", str(folders[command]), str(d / cube), "--out",
                 str(tmp_path / "map.npy"), *CPU]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "map.npy"),
                                  np.load(folders[command] / "class_map.npy"))
