"""Pure helpers behind the dock: label remapping, metrics export, colours and counts."""

import csv
import json

import numpy as np
import pytest

from napari_ssdgl._napari._accuracy import export_metrics
from napari_ssdgl._napari._classes_table import label_counts
from napari_ssdgl._napari._layers import default_color, label_colormap
from napari_ssdgl._napari._remap import parse_remap, remap_keys, remap_values
from napari_ssdgl.analysis.metrics import classification_metrics


def test_parse_remap():
    assert parse_remap("") == {}
    assert parse_remap(" 3:1, 5=2; 7 -> 0 ") == {3: 1, 5: 2, 7: 0}
    for bad in ("3", "a:1", "-1:2"):
        with pytest.raises(ValueError):
            parse_remap(bad)


def test_remap_values_and_keys():
    data = np.array([[0, 3, 5], [7, 3, 9]], dtype=np.uint8)
    out = remap_values(data, {3: 1, 7: 0, 9: 300})
    assert out.tolist() == [[0, 1, 5], [0, 1, 300]] and out.dtype == np.int32
    assert remap_values(data, {}).tolist() == data.tolist()
    assert remap_values(data, {3: 1}).dtype == np.uint8
    names = {3: "three", 1: "one", 7: "seven"}
    assert remap_keys(names, {3: 1, 7: 0}) == {1: "one"}  # value 1 keeps its own name
    assert remap_keys({3: "three", 5: "five"}, {3: 1}) == {1: "three", 5: "five"}


def test_label_counts():
    data = np.array([[0, 2, 2], [5, 0, 2]], dtype=np.uint16)
    assert label_counts(data) == {2: 3, 5: 1}
    assert label_counts(data.astype(np.int64) - 0) == {2: 3, 5: 1}
    assert label_counts(np.array([[-1, 2]])) == {-1: 1, 2: 1}
    assert label_counts(np.zeros((0, 0), np.uint8)) == {}


def test_label_colormap_uses_registered_colours():
    cmap = label_colormap({2: "#ff0000"}, values=[1, 2])
    assert np.allclose(cmap.map(2)[:3], [1, 0, 0])
    assert np.allclose(cmap.map(1)[:3], np.array([int(default_color(1)[i:i + 2], 16)
                                                  for i in (1, 3, 5)]) / 255)
    assert cmap.map(0)[3] == 0  # background transparent


def test_export_metrics(tmp_path):
    gt = np.array([[1, 1, 2, 2], [3, 3, 0, 0]])
    pred = np.array([[1, 2, 2, 2], [3, 1, 3, 3]])
    m = classification_metrics(pred, gt)
    export_metrics(m, tmp_path / "m.json", {1: "a", 2: "b"})
    loaded = json.loads((tmp_path / "m.json").read_text())
    assert loaded["oa"] == pytest.approx(4 / 6) and loaded["class_names"]["1"] == "a"
    export_metrics(m, tmp_path / "m.csv", {1: "a"})
    rows = list(csv.reader(open(tmp_path / "m.csv")))
    assert rows[0] == ["oa", str(m["oa"])]
    header = rows[5]
    assert header[:3] == ["value", "name", "accuracy"] and len(header) == 3 + 3
    assert rows[6][:2] == ["1", "a"] and rows[6][3:] == ["1", "1", "0"]


def test_big_cube_warms_only_the_imports(monkeypatch):
    """A scene-sized throwaway iteration on a flight line would cost GBs: only the imports of
    the first iteration (torch._dynamo, the largest part of the lag), in a fresh process."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from napari_ssdgl._napari import _warmup\n"
            "from napari_ssdgl.training import TrainConfig\n"
            "assert 'torch._dynamo' not in sys.modules\n"
            "called = []\n"
            "_warmup._run = lambda *a: called.append(a)\n"
            "t = _warmup.warm_up((200, 2000, 2000), TrainConfig())\n"
            "t.join(120)\n"
            "assert not called and 'torch._dynamo' in sys.modules\n"
            "assert _warmup.warm_up((200, 2001, 2000), TrainConfig()).join() is None\n"
            "print('ok')\n")
    env = {**__import__("os").environ, "NAPARI_SSDGL_WARMUP": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_accuracy_panel_names_the_largest_confusions(qtbot):
    from napari_ssdgl._napari._accuracy import AccuracyPanel

    panel = AccuracyPanel()
    qtbot.addWidget(panel)
    gt = np.array([[1, 1, 1, 1, 2, 2, 2, 3, 3]])
    pred = np.array([[1, 1, 2, 2, 2, 2, 2, 3, 1]])
    panel.show_metrics(classification_metrics(pred, gt), {1: "Corn", 2: "Wheat"})
    assert panel.summary.text().splitlines()[-1] == (
        "9 test pixels. Most confused (true → predicted): Corn (1) → "
        "Wheat (2), 2 px (50.0 %); class 3 → Corn (1), 1 px (50.0 %).")
    panel.show_metrics(classification_metrics(gt, gt))  # none: the table's orientation instead
    assert panel.summary.text().splitlines()[-1] == (
        "9 test pixels. Table rows: true class, columns: predicted.")


def test_accuracy_table_rows_are_value_and_name_cut_to_fit_a_narrow_dock(qtbot):
    from napari_ssdgl._napari._accuracy import AccuracyPanel

    panel = AccuracyPanel()
    qtbot.addWidget(panel)
    gt = np.array([[1, 1, 2, 2, 3, 3]])
    long = "Buildings-Grass-Trees-Drives"
    panel.show_metrics(classification_metrics(gt, gt), {1: "Corn", 2: long})
    t = panel.table
    assert [t.verticalHeaderItem(r).text() for r in range(3)] == ["1 Corn", f"2 {long}", "3"]
    assert t.verticalHeaderItem(1).toolTip() == f"true {long} (2)"  # whole in the tip
    assert t.horizontalHeaderItem(2).toolTip() == f"predicted {long} (2)"
    assert t.horizontalHeaderItem(0).text() == "acc."
    header = t.verticalHeader()
    panel.show()
    assert header.width() <= header.maximumWidth() < t.fontMetrics().horizontalAdvance(f"2 {long}")
