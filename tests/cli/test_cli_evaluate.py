"""`napari-ssdgl evaluate`: metrics of any class map against ground truth, checked by hand."""

import json

import numpy as np
import pytest

from napari_ssdgl.cli import main

GT = np.array([[1, 1, 2], [2, 2, 0], [3, 3, 3]], np.uint8)
PRED = np.array([[1, 2, 2], [2, 1, 3], [3, 3, 1]], np.uint8)
TRAIN = np.array([[1, 0, 0], [0, 0, 0], [0, 0, 3]], np.uint8)


@pytest.fixture
def files(tmp_path):
    for name, arr in (("gt", GT), ("pred", PRED), ("train", TRAIN)):
        np.save(tmp_path / f"{name}.npy", arr)
    return tmp_path


def evaluate_json(capsys, *argv) -> dict:
    assert main(["evaluate", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_metrics_agree_with_hand_computation(files, capsys):
    m = evaluate_json(capsys, files / "pred.npy", files / "gt.npy")
    # 8 labelled pixels (one gt 0 is ignored even though it is predicted 3); 5 are right
    assert m["n_test"] == 8 and m["oa"] == pytest.approx(5 / 8)
    assert m["per_class"] == pytest.approx({"1": 1 / 2, "2": 2 / 3, "3": 2 / 3})
    assert m["aa"] == pytest.approx((1 / 2 + 2 / 3 + 2 / 3) / 3)
    # chance agreement: true shares (2, 3, 3)/8, predicted shares (3, 3, 2)/8
    assert m["kappa"] == pytest.approx((5 / 8 - 21 / 64) / (1 - 21 / 64))
    assert m["confusion"] == [[1, 1, 0], [1, 2, 0], [1, 0, 2]]
    assert m["class_values"] == [1, 2, 3] and m["excluded_pixels"] == 0


def test_exclude_train_pixels(files, capsys):
    m = evaluate_json(capsys, files / "pred.npy", files / "gt.npy", "--exclude",
                      files / "train.npy")
    assert m["n_test"] == 6 and m["excluded_pixels"] == 2
    assert m["oa"] == pytest.approx(4 / 6)
    assert m["per_class"] == pytest.approx({"1": 0.0, "2": 2 / 3, "3": 1.0})
    assert m["aa"] == pytest.approx(5 / 9)


def test_text_table_with_class_names(files, tmp_path, capsys):
    from napari_ssdgl.io import write_class_map

    write_class_map(tmp_path / "gt.tif", GT, class_names={1: "Corn", 2: "Wheat", 3: "Woods"})
    assert main(["evaluate", str(files / "pred.npy"), str(tmp_path / "gt.tif")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OA 62.50 %  AA 61.11 %  kappa 0.4419  (8 test pixels)")
    assert "  1 Corn" in out and "50.00 %" in out and "  3 Woods" in out
    # every confusion is 1 px here: the largest share of its class first among equals
    assert out.rstrip().endswith(
        "Most confused (true → predicted): Corn (1) → Wheat (2), 1 px "
        "(50.0 %); Wheat (2) → Corn (1), 1 px (33.3 %); Woods (3) → Corn (1), 1 px (33.3 %).")


def test_evaluate_errors(files, tmp_path, capsys):
    np.save(tmp_path / "small.npy", GT[:2])
    assert main(["evaluate", str(tmp_path / "small.npy"), str(files / "gt.npy")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("napari-ssdgl: error: ") and "(2, 3)" in err and "(3, 3)" in err
    assert main(["evaluate", str(files / "pred.npy"), str(tmp_path / "none.npy")]) == 2
    assert "none.npy: file not found" in capsys.readouterr().err
    np.save(tmp_path / "zeros.npy", np.zeros_like(GT))
    assert main(["evaluate", str(files / "pred.npy"), str(tmp_path / "zeros.npy")]) == 2
    assert "no labelled pixels" in capsys.readouterr().err
