"""`napari-ssdgl reproduce`: protocols, per-seed files and a summary that agrees with them."""

import json

import numpy as np
import pytest

from napari_ssdgl.cli import main
from napari_ssdgl.workflows.protocols import PROTOCOLS, ProtocolError, get_protocol
from tests.conftest import toy_scene

TINY = '{"widths": [16, 16, 16, 16], "decoder_width": 8, "groups": 4}'


def make_scene(rows=20, cols=20, bands=8, seed=0):
    boxes = ((1, 9, 1, 19, 1), (11, 19, 1, 9, 2), (11, 19, 11, 19, 4))
    return toy_scene(bands, rows, seed, cols=cols, boxes=boxes, dtype=np.uint8)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    cube, gt = make_scene()
    np.save(d / "cube.npy", cube)
    np.save(d / "gt.npy", gt)
    return d


def test_paper_protocols_match_ssdgl_md():
    ip5 = get_protocol("5pct", scene="indian_pines")
    assert (ip5.split, ip5.amount, ip5.min_per_class) == ("fraction", 0.05, 5)
    assert (ip5.lr, ip5.power, ip5.paper_draw, ip5.iterations) == (0.003, 0.8, 10, 600)
    few = get_protocol("indian_pines/10-per-class")
    assert (few.split, few.amount, few.preset, few.lr, few.power, few.paper_draw) == (
        "per_class", 10, "few_samples", 0.001, 0.9, None)
    pu, sa = get_protocol("1pct", "pavia_university"), get_protocol("salinas/1pct")
    assert (pu.amount, pu.lr, pu.power, pu.paper_draw) == (0.01, 0.001, 0.9, 20)
    assert (sa.amount, sa.lr, sa.power, sa.paper_draw) == (0.01, 0.005, 0.8, 10)
    ho = get_protocol("10-per-class", "houston2013")
    assert (ho.lr, ho.power, ho.paper_draw) == (0.005, 0.6, None)
    cfg = ip5.train_config(seed=3)
    assert cfg.keep == "last" and cfg.preset == "indian_pines" and cfg.seed == 3
    # the paper trains on the whole scene: no windows, also for scenes wider than the default
    assert pu.train_config().window is None and sa.train_config().window is None
    assert set(PROTOCOLS) >= {"indian_pines", "pavia_university", "salinas", "houston2013"}


def test_protocol_lookup_errors():
    assert get_protocol("5pct").scene == "indian_pines"  # unique name, no scene needed
    with pytest.raises(ProtocolError, match="ambiguous.*pavia_university/1pct"):
        get_protocol("1pct")
    with pytest.raises(ProtocolError, match="unknown protocol '3pct' for salinas"):
        get_protocol("3pct", "salinas")
    with pytest.raises(ProtocolError, match="is for salinas, not indian_pines"):
        get_protocol("salinas/1pct", "indian_pines")


def test_protocol_split_is_the_papers():
    _, gt = make_scene()
    train, test = get_protocol("indian_pines/5pct").split_labels(gt, seed=1)
    # 5 % of 144 / 64 / 64 pixels is below the minimum of 5 per class
    assert [(train == v).sum() for v in (1, 2, 4)] == [8, 5, 5]
    assert not np.any((train > 0) & (test > 0))
    assert np.array_equal(np.where(train > 0, train, test), gt)


def test_reproduce_two_seeds_summary_matches_seed_files(pair, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["reproduce", str(pair / "cube.npy"), str(pair / "gt.npy"), "--protocol",
               "indian_pines/5pct", "--seeds", "0,1", "--iterations", "3", "--model-kwargs",
               TINY, "--out", str(out), "--device", "cpu", "--quiet", "--json"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((out / "summary.json").read_text())
    assert printed == summary
    runs = [json.loads((out / f"seed_{s}" / "metrics.json").read_text()) for s in (0, 1)]
    assert [r["seed"] for r in runs] == [0, 1] == summary["seeds"]
    for key in ("oa", "aa", "kappa", "seconds_per_iteration"):
        values = [r[key] for r in runs]
        assert summary[key]["values"] == pytest.approx(values)
        assert summary[key]["mean"] == pytest.approx(np.mean(values))
        assert summary[key]["std"] == pytest.approx(np.std(values))
    for value, stat in summary["per_class"].items():
        assert stat["mean"] == pytest.approx(np.mean([r["per_class"][value] for r in runs]))
        assert stat["std"] == pytest.approx(np.std([r["per_class"][value] for r in runs]))
    assert set(summary["per_class"]) == {"1", "2", "4"}
    for r in runs:
        assert r["keep"] == "last" and r["iterations"] == 3 and r["train_pixels"] == 18
        assert r["test_pixels"] == 272 - 18 and r["device"] == "cpu" and r["torch_version"]
        assert r["protocol"] == "indian_pines/5pct" and r["lr"] == 0.003
    assert summary["torch_version"] and summary["device"] == "cpu"
    assert summary["total_seconds"] >= summary["train_seconds"] > 0
    assert np.load(out / "seed_1" / "class_map.npy").shape == (20, 20)
    history = json.loads((out / "seed_0" / "history.json").read_text())
    assert history["iteration"] == [1, 2, 3] and history["eval_iteration"] == []
    md = (out / "summary.md").read_text()
    oa = summary["oa"]
    assert f"{100 * oa['mean']:.2f} ± {100 * oa['std']:.2f}" in md
    assert "| OA (%) |" in md and "seed 1" in md and "s / iteration" in md


def test_reproduce_sample_scene_with_report_and_model(tmp_path, capsys):
    out = tmp_path / "syn"
    rc = main(["reproduce", "synthetic", "--protocol", "5pct", "--seeds", "4", "--iterations",
               "2", "--eval-every", "1", "--out", str(out), "--device", "cpu", "--report",
               "--save-models"])
    assert rc == 0
    captured = capsys.readouterr()
    assert "synthetic/5pct" in captured.out and "| OA (%) |" in captured.out
    assert "seed 4" in captured.err  # the progress bar
    seed_dir = out / "seed_4"
    assert (seed_dir / "report.png").stat().st_size > 0
    assert (seed_dir / "model" / "model.safetensors").is_file()
    m = json.loads((seed_dir / "metrics.json").read_text())
    assert m["scene"] == "synthetic" and m["model_config"]["widths"] == [16, 16, 16, 16]
    assert json.loads((seed_dir / "history.json").read_text())["eval_iteration"] == [1, 2]


def test_reproduce_augment_and_tta_are_recorded(pair, tmp_path, capsys):
    from napari_ssdgl.analysis.metrics import classification_metrics
    from napari_ssdgl.prediction.modelfile import load_classifier

    out = tmp_path / "run"
    assert main(["reproduce", str(pair / "cube.npy"), str(pair / "gt.npy"), "--protocol",
                 "indian_pines/10-per-class", "--seeds", "3", "--iterations", "3",
                 "--model-kwargs", TINY, "--out", str(out), "--device", "cpu", "--quiet",
                 "--augment", "--tta", "--save-models"]) == 0
    m = json.loads((out / "seed_3" / "metrics.json").read_text())
    assert m["augment"] is True and m["tta"] is True
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tta"] is True and "8 flips/transposes" in (out / "summary.md").read_text()
    # the reported map is the saved model's flip mean, scored without the training pixels
    clf = load_classifier(out / "seed_3" / "model")
    tta = clf.predict(np.load(pair / "cube.npy"), device="cpu", tta=True).labels
    np.testing.assert_array_equal(np.load(out / "seed_3" / "class_map.npy"), tta)
    gt = np.load(pair / "gt.npy")
    train, test = get_protocol("indian_pines/10-per-class").split_labels(gt, 3)
    expected = classification_metrics(tta, test, exclude=train > 0, class_values=clf.class_values)
    assert m["oa"] == pytest.approx(expected["oa"])


def test_reproduce_members_is_an_ensemble_kept_and_recorded(pair, tmp_path, capsys):
    from napari_ssdgl.prediction.modelfile import load_classifier

    out = tmp_path / "run"
    assert main(["reproduce", str(pair / "cube.npy"), str(pair / "gt.npy"), "--protocol",
                 "indian_pines/5pct", "--seeds", "1", "--iterations", "3", "--members", "2",
                 "--model-kwargs", TINY, "--out", str(out), "--device", "cpu", "--quiet",
                 "--save-models"]) == 0
    assert json.loads((out / "seed_1" / "metrics.json").read_text())["members"] == 2
    assert json.loads((out / "summary.json").read_text())["members"] == 2
    assert "the mean of 2 networks" in (out / "summary.md").read_text()
    clf = load_classifier(out / "seed_1" / "model")
    assert clf.model_config["members"] == 2 and clf.model_config["widths"] == [16, 16, 16, 16]
    np.testing.assert_array_equal(np.load(out / "seed_1" / "class_map.npy"),
                                  clf.predict(np.load(pair / "cube.npy"), device="cpu").labels)


def test_reproduce_errors(pair, tmp_path, capsys):
    def error(*argv):
        assert main(["reproduce", *argv, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("napari-ssdgl: error: ") and "Traceback" not in err
        return err

    assert "registration" in error("houston2013", "--protocol", "10-per-class")
    assert "ambiguous" in error(str(pair / "cube.npy"), str(pair / "gt.npy"),
                                "--protocol", "10-per-class")
    assert "unknown protocol" in error("indian_pines", "--protocol", "1pct")
    assert "mars is not a sample scene" in error("mars", "--protocol", "5pct")
    assert "is a file" in error(str(pair / "cube.npy"), "--protocol", "5pct")
    with pytest.raises(SystemExit):
        main(["reproduce", "synthetic", "--protocol", "5pct", "--seeds", "a,b", "--out", "o"])
