"""workflows.rundir: the one run-folder layout and the one metrics builder."""

import json

import numpy as np
import pytest

from napari_ssdgl.prediction.modelfile import load_classifier, save_classifier
from napari_ssdgl.workflows import rundir
from napari_ssdgl.workflows.progress import train_with_progress
from napari_ssdgl.workflows.rundir import run_metrics, write_run
from tests.conftest import TINY, toy_scene


@pytest.fixture(scope="module")
def run():
    """A trained tiny model, its map, a test set overlapping two training pixels, metrics."""
    from napari_ssdgl.training import TrainConfig, Trainer, split_per_class

    cube, gt = toy_scene()
    train, test = split_per_class(gt, 4, seed=0)
    test = test.copy()
    rows, cols = np.nonzero(train)
    test[rows[:2], cols[:2]] = train[rows[:2], cols[:2]]  # scored only outside the training set
    trainer = Trainer(cube, train, TrainConfig(iterations=2, device="cpu", model_kwargs=TINY,
                                               eval_every=0, keep="last"),
                      class_names={1: "one", 4: "four", 9: "nine"})
    history, seconds = train_with_progress(trainer, quiet=True)
    clf = trainer.result()
    pred = clf.predict(cube, device="cpu").labels
    metrics = run_metrics(trainer, clf, pred, test, train_seconds=seconds, inference_seconds=0.5,
                          tta=False, split={"protocol": "per_class", "n": 4})
    return trainer, clf, pred, history, metrics, cube, gt, test


def test_run_metrics_scores_test_pixels_outside_training(run):
    from napari_ssdgl.analysis.metrics import classification_metrics

    trainer, clf, pred, _, m, _, gt, test = run
    train = trainer.train_labels
    expected = classification_metrics(pred, test, exclude=train > 0, class_values=clf.class_values)
    assert m["oa"] == pytest.approx(expected["oa"]) and m["n_test"] == expected["n_test"]
    assert m["test_pixels"] == int((gt > 0).sum()) - 12 == m["n_test"]
    assert m["train_pixels"] == 12 and set(m["per_class"]) == {"1", "4", "9"}
    assert m["split"] == {"protocol": "per_class", "n": 4} and m["keep"] == "last"
    assert m["iterations"] == m["iterations_requested"] == 2 and m["members"] == 1
    assert m["inference_seconds"] == 0.5 and m["device"] == "cpu" and m["torch_version"]


def test_run_metrics_without_a_test_set(run):
    trainer, clf, pred, *_ = run
    m = run_metrics(trainer, clf, pred, None, train_seconds=1.0, inference_seconds=0.0,
                    tta=True)
    assert (m["oa"], m["aa"], m["kappa"], m["per_class"], m["confusion"]) == (
        None, None, None, {}, [])
    assert m["test_pixels"] == 0 and m["tta"] is True and "n_test" not in m


def test_write_run_layout_and_load_from_the_folder(run, tmp_path):
    trainer, clf, pred, history, m, cube, gt, _ = run
    out = tmp_path / "run"
    written = write_run(out, clf, pred, m, history, formats=("npy", "tif", "png"),
                        report_truth=gt, report_title="t")
    assert [p.name for p in written] == ["model", "class_map.npy", "class_map.tif",
                                         "class_map.png", "report.png", "history.json",
                                         "metrics.json"]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)
    assert json.loads((out / "metrics.json").read_text())["oa"] == pytest.approx(m["oa"])
    assert json.loads((out / "history.json").read_text())["iteration"] == [1, 2]
    np.testing.assert_array_equal(np.load(out / "class_map.npy"), pred)
    # a run folder is a model folder too: its model/ is read
    np.testing.assert_array_equal(load_classifier(out).predict(cube, device="cpu").labels, pred)
    assert load_classifier(out).class_names == {1: "one", 4: "four", 9: "nine"}


def test_write_run_without_model_or_report(run, tmp_path):
    _, clf, pred, history, m, *_ = run
    write_run(tmp_path, clf, pred, m, history, save_model=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "class_map.npy", "history.json", "metrics.json"]


def test_a_failed_write_leaves_no_metrics_json(run, tmp_path, monkeypatch):
    """metrics.json marks a finished folder: removed first, written last."""
    _, clf, pred, history, m, *_ = run
    write_run(tmp_path, clf, pred, m, history)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(rundir, "export_class_map", broken)
    with pytest.raises(OSError, match="disk full"):
        write_run(tmp_path, clf, pred, m, history)
    assert not (tmp_path / "metrics.json").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_write_run_replaces_an_old_layout_model(run, tmp_path):
    """``train`` used to write the model files into OUT itself; they would shadow model/."""
    _, clf, pred, history, m, *_ = run
    save_classifier(clf, tmp_path)
    write_run(tmp_path, clf, pred, m, history)
    assert not (tmp_path / "model.json").exists() and not (tmp_path / "model.safetensors").exists()
    assert (tmp_path / "model" / "model.json").is_file()


def test_load_classifier_prefers_a_model_in_the_folder_itself(run, tmp_path):
    _, clf, *_ = run
    save_classifier(clf, tmp_path)
    (tmp_path / "model").mkdir()  # an unrelated folder named model: not read
    assert load_classifier(tmp_path).bands == clf.bands
