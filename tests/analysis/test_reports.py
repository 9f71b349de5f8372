"""Report PNGs: a valid image of the expected size, with or without a training history."""

import numpy as np
from PIL import Image

from napari_ssdgl.analysis.metrics import classification_metrics
from napari_ssdgl.analysis.reports import write_report
from napari_ssdgl.cli import main


def scene(k=4, size=24, seed=0):
    rng = np.random.default_rng(seed)
    gt = (np.arange(size * size).reshape(size, size) % k + 1).astype(np.uint8)
    gt[:3] = 0
    pred = np.where(rng.random(gt.shape) < 0.8, gt, rng.integers(1, k + 1, gt.shape))
    return pred.astype(np.uint8), gt


def check_png(path):
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG" and 1000 <= im.size[0] <= 1500 and 900 <= im.size[1] <= 1300
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.std() > 10  # something was drawn


def test_report_with_history(tmp_path):
    pred, gt = scene()
    m = classification_metrics(pred, gt)
    history = {"iteration": [1, 2, 3], "loss": [2.0, 1.5, 1.0], "lr": [0.1] * 3,
               "train_accuracy": [0.3, 0.5, 0.7], "eval_iteration": [3], "eval_oa": [0.8]}
    path = write_report(tmp_path / "r" / "report.png", pred, gt, m, history=history,
                        class_names={1: "Corn"}, colors={1: "#ff0000"}, title="test")
    check_png(path)


def test_report_without_history_and_many_classes(tmp_path):
    pred, gt = scene(k=25, size=40)
    m = classification_metrics(pred, gt)
    m["per_class"] = {str(k): v for k, v in m["per_class"].items()}  # as read back from JSON
    check_png(write_report(tmp_path / "report.png", pred, gt, m))


def test_evaluate_report(tmp_path, capsys):
    pred, gt = scene()
    np.save(tmp_path / "pred.npy", pred)
    np.save(tmp_path / "gt.npy", gt)
    assert main(["evaluate", str(tmp_path / "pred.npy"), str(tmp_path / "gt.npy"), "--report",
                 str(tmp_path / "eval.png"), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    check_png(tmp_path / "eval.png")
