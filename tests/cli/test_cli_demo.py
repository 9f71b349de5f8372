"""`napari-ssdgl demo`, the entry points and help with examples."""

import json
import subprocess
import sys

import pytest
from PIL import Image

from napari_ssdgl.cli import main


def test_demo_writes_every_output(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--iterations", "3", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "OA" in captured.out and "Meadow" in captured.out and str(out) in captured.out
    assert "seed 0" in captured.err  # progress bar
    names = {p.name for p in out.iterdir()}
    assert names == {"model", "metrics.json", "history.json", "class_map.npy", "class_map.png",
                     "class_map.tif", "report.png"}
    m = json.loads((out / "metrics.json").read_text())
    assert m["iterations"] == 3 and m["protocol"] == "synthetic/5pct" and m["keep"] == "last"
    assert 0 <= m["oa"] <= 1 and m["train_pixels"] > 0
    for png in ("class_map.png", "report.png"):
        with Image.open(out / png) as im:
            im.verify()
    from napari_ssdgl.prediction.modelfile import load_classifier

    assert load_classifier(out / "model").bands == 48


def test_demo_json_quiet(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--iterations", "2", "--quiet", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["out"] == str(tmp_path)
    assert captured.err == ""


@pytest.mark.parametrize("command", ["train", "predict", "evaluate", "reproduce", "demo"])
def test_help_shows_examples(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and f"napari-ssdgl {command}" in text


def test_python_dash_m_equals_console_script():
    proc = subprocess.run([sys.executable, "-m", "napari_ssdgl", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: napari-ssdgl ")
    for command in ("train", "predict", "evaluate", "reproduce", "demo"):
        assert command in proc.stdout
    assert "examples:" in proc.stdout
