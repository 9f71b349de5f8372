"""Train builds its Trainer in the worker (issues 17 and 20): a slow constructor (a big lazy
cube's streamed statistics) leaves the viewer live, Stop during it is not lost, and what the
constructor says (errors, warnings) still reaches the dock."""

import threading

import numpy as np
import pytest
from qtpy.QtCore import QTimer

from napari_ssdgl._napari import _jobs
from napari_ssdgl.training import Trainer
from tests._napari.gui_helpers import TIMEOUT_MS, wait_idle
from tests._napari.test_widget import FREENET_TINY, paint

pytestmark = pytest.mark.gui


@pytest.fixture
def slow(monkeypatch):
    """(threads the Trainer was built in, the event that lets its constructor go on)."""
    threads, release = [], threading.Event()

    class SlowTrainer(Trainer):
        def __init__(self, *args, **kwargs):
            threads.append(threading.current_thread())
            assert release.wait(30), "the constructor was never released"
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(_jobs, "Trainer", SlowTrainer)
    return threads, release


def test_the_trainer_is_built_in_the_worker_while_the_viewer_stays_live(opened, scene, qtbot,
                                                                        slow, notes):
    viewer, w = opened
    threads, release = slow
    paint(w, scene.gt.data)
    w.config_overrides = dict(FREENET_TINY, iterations=5)
    job = w.train()  # returns while the constructor waits
    qtbot.waitUntil(lambda: bool(threads), timeout=TIMEOUT_MS)
    assert threads[0] is not threading.main_thread()
    assert w.running and job.trainer is None and w.status.text().endswith("preparing…")
    ticks = []
    QTimer.singleShot(0, lambda: ticks.append(1))  # the main thread's event loop runs meanwhile
    qtbot.waitUntil(lambda: bool(ticks), timeout=5_000)
    assert job.trainer is None
    release.set()
    wait_idle(qtbot, w, job)
    assert not notes.errors, notes.errors
    assert w.status.text().startswith("Model trained") and len(w.plot.iters) == 5


def test_stop_while_the_trainer_is_built_is_not_lost(opened, scene, qtbot, slow, notes):
    viewer, w = opened
    threads, release = slow
    paint(w, scene.gt.data)
    w.config_overrides = dict(FREENET_TINY, iterations=100_000)
    job = w.train()
    qtbot.waitUntil(lambda: bool(threads), timeout=TIMEOUT_MS)
    w.stop()
    release.set()
    wait_idle(qtbot, w, job)
    assert job.trainer.stopped and job.trainer.iterations_done == 0
    assert any("before the first iteration" in m for m in notes.errors), notes.errors


def test_a_constructor_error_is_said_in_the_status_line_and_a_notification(opened, scene,
                                                                          qtbot, notes):
    viewer, w = opened
    w.new_labels_layer().data = (scene.gt.data == 3).astype(np.uint16) * 3  # one class only
    w.config_overrides = dict(FREENET_TINY)
    n_layers = len(viewer.layers)
    job = w.train()
    wait_idle(qtbot, w, job)
    assert job.trainer is None
    assert notes.errors == ["Cannot train: only one class (3) is labelled; a classifier needs "
                            "at least 2 classes"], notes.errors
    assert w.status.text() == notes.errors[0] and notes.errors[0] in w.messages.text()
    assert w.training.progress.text().startswith("failed") and w.train_button.isEnabled()
    assert len(viewer.layers) == n_layers and w.classifier is None


def test_the_constructors_warnings_reach_the_dock(opened, scene, qtbot, notes):
    viewer, w = opened
    labels = paint(w, scene.gt.data)
    gt = viewer.add_labels(np.where(labels.data > 0, scene.gt.data, 0).astype(np.uint16),
                           name="only the painted pixels")
    w.gt_picker.value = gt  # nothing in it outside the training pixels
    w.config_overrides = dict(FREENET_TINY, iterations=3)
    wait_idle(qtbot, w, w.train())
    assert any("hold no pixel outside the training set" in m for m in notes.warnings), \
        notes.warnings
    assert not notes.errors, notes.errors
