"""Trainer: determinism, stop, best-model keeping, events, input errors, and that it learns."""

import threading
import warnings

import numpy as np
import pytest
import torch

from napari_ssdgl.analysis.metrics import classification_metrics
from napari_ssdgl.prediction.classifier import Classifier
from napari_ssdgl.training import (
    TrainConfig,
    Trainer,
    TrainingError,
    split_by_fraction,
    split_per_class,
)
from napari_ssdgl.training.trainer import poly_lr
from tests.conftest import TINY
from tests.conftest import toy_scene as scene


def config(**kw) -> TrainConfig:
    base = {"iterations": 6, "lr": 0.01, "eval_every": 2, "device": "cpu", "model_kwargs": TINY}
    return TrainConfig(**(base | kw))


@pytest.fixture
def split():
    cube, gt = scene()
    train, test = split_per_class(gt, 5, seed=0)
    return cube, train, test


def test_events_lr_schedule_and_validation(split):
    cube, train, test = split
    events = list(Trainer(cube, train, config(preview_every=3), test_labels=test).run())
    assert [e.iteration for e in events] == list(range(1, 7))
    assert all(e.iterations == 6 for e in events)
    assert [e.lr for e in events] == pytest.approx([poly_lr(0.01, i, 6, 0.8) for i in range(6)])
    assert events[0].lr == pytest.approx(0.01)
    assert all(np.isfinite(e.loss) and 0 <= e.train_accuracy <= 1 for e in events)
    # test labels are scored (reported) every eval_every; 5 px per class hold none out
    assert [e.test is not None for e in events] == [False, True, False, True, False, True]
    assert all(e.validation is None for e in events)
    assert set(events[1].test) >= {"oa", "aa", "kappa", "per_class", "confusion"}
    assert [e.preview is not None for e in events] == [False, False, True, False, False, True]
    assert events[2].preview.shape == train.shape
    assert set(np.unique(events[2].preview)) <= {1, 4, 9}
    elapsed = [e.elapsed_s for e in events]
    assert elapsed == sorted(elapsed)


def test_requested_preview_comes_with_the_next_event_once(split):
    """The dock asks for previews on a clock (request_preview, any thread); each request gives
    one preview, with no iteration-count schedule."""
    cube, train, _ = split
    trainer = Trainer(cube, train, config(preview_every=0, eval_every=0))
    previews = []
    for event in trainer.run():
        previews.append(event.preview is not None)
        if event.iteration == 2:
            trainer.request_preview()
    assert previews == [False, False, True, False, False, False]


def test_deterministic_for_a_seed(split):
    cube, train, test = split
    runs = []
    for _ in range(2):
        t = Trainer(cube, train, config(per_class=3), test_labels=test)
        runs.append(([e.loss for e in t.run()], t.result()))
    assert runs[0][0] == runs[1][0]
    for pa, pb in zip(runs[0][1].model.parameters(), runs[1][1].model.parameters(), strict=True):
        assert torch.equal(pa, pb)
    other = Trainer(cube, train, config(per_class=3, seed=1), test_labels=test)
    assert [e.loss for e in other.run()] != runs[0][0]


def test_stop_mid_run_keeps_a_usable_result(split):
    cube, train, test = split
    trainer = Trainer(cube, train, config(iterations=50, eval_every=100), test_labels=test)
    seen = []
    for event in trainer.run():
        seen.append(event.iteration)
        if event.iteration == 3:
            trainer.stop()
    assert seen == [1, 2, 3] and trainer.stopped
    clf = trainer.result()
    assert isinstance(clf, Classifier)
    assert clf.metrics["iteration"] == 3 and 0 <= clf.metrics["oa"] <= 1  # scored on stop
    pred = clf.predict(cube, device="cpu")
    assert pred.labels.shape == train.shape


def test_stop_from_another_thread(split):
    cube, train, _ = split
    trainer = Trainer(cube, train, config(iterations=10_000, eval_every=0))
    started = threading.Event()
    done = []

    def work():
        for event in trainer.run():
            started.set()
            done.append(event.iteration)

    thread = threading.Thread(target=work)
    thread.start()
    assert started.wait(30)
    trainer.stop()
    thread.join(30)
    assert not thread.is_alive()
    assert 1 <= len(done) < 10_000
    # without a test set the last state is the result
    result = trainer.result()
    for a, b in zip(result.model.parameters(), trainer.model.parameters(), strict=True):
        assert torch.equal(a, b.cpu())


def test_best_model_by_held_out_validation_oa_is_kept():
    cube, gt = scene()
    train, test = split_per_class(gt, 20, seed=0)  # 4 of each class's 20 px are held out
    trainer = Trainer(cube, train, config(iterations=12, eval_every=1, lr=0.05, validation_min=12),
                      test_labels=test)
    assert trainer.validation_pixels == 12
    events = list(trainer.run())
    oas = [e.validation["oa"] for e in events]
    assert all(e.validation["n_test"] == 12 for e in events)
    best = len(oas) - 1 - int(np.argmax(oas[::-1]))  # last maximum wins (a tie: the later)
    assert events[0].best and events[best].best
    clf = trainer.result()
    assert clf.metrics["validation_oa"] == oas[best] and clf.metrics["iteration"] == best + 1
    assert clf.metrics["selected_on"] == "held-out training pixels (12 px)"
    # the test score is recorded with it, and is that state's
    assert clf.metrics["oa"] == events[best].test["oa"]
    pred = clf.predict(cube, device="cpu").labels
    val = trainer.validation_labels
    assert classification_metrics(pred, val)["oa"] == pytest.approx(oas[best])


def test_keep_last_keeps_the_final_model(split):
    cube, train, test = split
    cfg = config(iterations=8, eval_every=2, lr=0.05, keep="last")
    trainer = Trainer(cube, train, cfg, test_labels=test)
    events = list(trainer.run())
    assert not any(e.best for e in events)
    clf = trainer.result()
    assert clf.metrics["iteration"] == 8 and clf.metrics["oa"] == events[-1].test["oa"]
    assert trainer.validation_labels is None and np.array_equal(trainer.fit_labels, train)
    for a, b in zip(clf.model.parameters(), trainer.model.parameters(), strict=True):
        assert torch.equal(a, b.cpu())
    with pytest.raises(TrainingError, match="keep"):
        Trainer(cube, train, config(keep="first"))


def test_breaking_out_of_run_settles_the_best(split):
    cube, train, _ = split
    trainer = Trainer(cube, train, config(iterations=20))
    for event in trainer.run():
        if event.iteration == 2:
            break
    assert trainer.best_state is not None and trainer.iterations_done == 2


def test_result_carries_classes_names_and_config(split):
    cube, train, test = split
    names, colors = {1: "a", 4: "b", 9: "c", 5: "unused"}, {1: "#ff0000", 9: "#0000ff"}
    wl = np.linspace(400, 900, cube.shape[0])
    trainer = Trainer(cube, train, config(iterations=2), test_labels=test, class_names=names,
                      colors=colors, wavelengths=wl)
    clf = trainer.fit()
    assert clf.class_values.tolist() == [1, 4, 9]
    assert clf.class_names == {1: "a", 4: "b", 9: "c"}
    assert clf.colors == {1: "#ff0000", 9: "#0000ff"}
    assert clf.train_config["iterations"] == 2 and clf.seed == 2333
    assert clf.model_name == "ssdgl" and clf.model_config["widths"] == [16, 16, 16, 16]
    assert np.allclose(clf.mean, cube.reshape(cube.shape[0], -1).mean(1), atol=1e-5)
    assert np.array_equal(clf.wavelengths, wl)


def test_nan_and_constant_bands_are_cleaned_with_a_warning(split):
    cube, train, _ = split
    cube = cube.copy()
    cube[0, 3, 4] = np.nan
    cube[1, 5, 5] = np.inf
    cube[2] = 7.0  # constant band: std floored, no division by zero
    with pytest.warns(UserWarning, match="NaN/inf"):
        trainer = Trainer(cube, train, config(iterations=2))
    assert trainer.std[2] == 1.0
    assert all(np.isfinite(e.loss) for e in trainer.run())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean cube gives no warning
        Trainer(scene()[0], train, config(iterations=1))


def test_input_errors(split):
    cube, train, _ = split
    with pytest.raises(TrainingError, match="no training labels"):
        Trainer(cube, np.zeros_like(train), config())
    with pytest.raises(TrainingError, match="only one class"):
        Trainer(cube, np.where(train == 4, 4, 0), config())
    with pytest.raises(TrainingError, match="spatial shape"):
        Trainer(cube, train[:-1], config())
    with pytest.raises(TrainingError, match="test labels have shape"):
        Trainer(cube, train, config(), test_labels=train[:, :-2])
    with pytest.raises(TrainingError, match="3-D"):
        Trainer(cube[0], train, config())
    with pytest.raises(TrainingError, match="per-class"):
        Trainer(cube, train, config(per_class=-2))
    with pytest.raises(TrainingError, match="iterations"):
        Trainer(cube, train, config(iterations=0))
    with pytest.raises(TrainingError, match="negative"):
        Trainer(cube, np.where(train > 0, -1, 0), config())
    with pytest.raises(TrainingError, match="cannot build model"):
        Trainer(cube, train, config(model_kwargs={"widths": (12, 12, 12, 12)}))
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="cuda"):
            Trainer(cube, train, config(device="cuda"))
    assert isinstance(TrainingError("x"), ValueError)


def test_auto_device_and_freenet(split):
    cube, train, _ = split
    trainer = Trainer(cube, train, config(model="freenet", device="auto", iterations=2))
    if torch.cuda.is_available():
        assert trainer.device.type == "cuda"
    elif not torch.backends.mps.is_available():
        assert trainer.device.type == "cpu"
    assert trainer.fit().model_name == "freenet"


def test_learns_the_synthetic_scene():
    """A short CPU run reaches OA >= 0.95 on the held-out pixels (about 3-4 s on one thread)."""
    from napari_ssdgl.datasets import make_synthetic_scene

    s = make_synthetic_scene(seed=0)
    train, test = split_by_fraction(s.gt.data, 0.05, seed=0)
    kw = {"widths": (16, 16, 16, 16), "decoder_width": 16, "groups": 4}
    cfg = config(iterations=80, per_class=20, eval_every=20, model_kwargs=kw)
    clf = Trainer(s.cube.data, train, cfg, test_labels=test).fit()
    pred = clf.predict(s.cube.data, device="cpu").labels
    oa = classification_metrics(pred, test)["oa"]
    assert oa >= 0.95, oa


@pytest.mark.parametrize("error", [torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to "
                                                                "allocate 9.00 GiB"),
                                   MemoryError()])
def test_running_out_of_memory_is_a_clear_training_error(split, monkeypatch, error):
    cube, train, _ = split
    trainer = Trainer(cube, train, config())

    def oom(*args, **kwargs):
        raise error

    monkeypatch.setattr(trainer.model, "sampled_logits", oom)
    with pytest.raises(TrainingError, match="out of memory training on CPU with the 20 x 20 x 12 "
                                            "scene.*Free memory, crop") as info:
        list(trainer.run())
    assert info.value.__cause__ is error
    assert trainer._xt is None  # the device copy of the scene is let go


def test_other_runtime_errors_are_not_reworded(split, monkeypatch):
    cube, train, _ = split
    trainer = Trainer(cube, train, config())

    def broken(*args, **kwargs):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(trainer.model, "sampled_logits", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        list(trainer.run())
