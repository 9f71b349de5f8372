"""What a background run carries, and the work it does in a napari thread worker.

The work functions here run in a worker thread and see only numpy copies taken on the main
thread, or an immutable lazy array (a lazy cube trained in windows; a lazy cube's Apply job,
with its own work function, is in ``_lazy_apply.py``); they never touch a layer. Failures
come back as an :class:`Outcome` (not as an exception) so the dock shows one readable
notification instead of napari's generic traceback.

A training job's Trainer is built in its worker too, from a :class:`TrainSetup`: its
constructor streams a lazy cube's band statistics (minutes on a big scene) and the bands box's
``auto`` may still need a detection, neither of which may freeze the viewer. The worker's
first yield is :class:`Ready`; a set-up error comes back with ``job.trainer`` still None.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from napari.qt.threading import create_worker
from qtpy.QtCore import Qt

from napari_ssdgl._napari._suspect import BandRequest
from napari_ssdgl.analysis.bands import BandReport
from napari_ssdgl.prediction.classifier import Classifier, Prediction
from napari_ssdgl.prediction.spectral import BandPlan
from napari_ssdgl.training import TrainConfig, Trainer


@dataclass
class Outcome:
    classifier: Classifier | None = None
    prediction: Prediction | None = None
    error: Exception | None = None
    cancelled: bool = False


@dataclass
class Job:
    """One background run (here: apply a model to an in-memory cube): where its outputs go and
    the handles that stop it from any thread."""

    stoppable: ClassVar[bool] = False  # whether the Stop button applies
    stop_note: ClassVar[str] = "Stopping after this iteration…"

    cube_name: str  # outputs are named after it
    cube: object  # cleaned float32 copy (a LazyJob: a dask array over the layer's data)
    scale: tuple = (1.0, 1.0)
    translate: tuple = (0.0, 0.0)
    train_labels: np.ndarray | None = None  # left out of the score
    gt: np.ndarray | None = None
    gt_name: str | None = None  # the ground-truth layer ``gt`` was copied from
    source_layers: tuple = ()  # names of the layers the copies came from
    classifier: Classifier | None = None
    bands: BandPlan | None = None  # how the cube's bands become the model's (another sensor's)
    device: str = "auto"
    tta: bool = False  # final map: mean over the 8 flips/transposes
    cancelled: bool = False
    stopping: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    worker: object = None
    pbar: object = None
    outcome: Outcome | None = None  # set on the main thread when the worker returns
    # main thread, once the job has ended: start the next step (a job, or None when it does
    # not start); the runner runs it before it says that nothing runs any more
    then: Callable[[], Job | None] | None = None

    def start(self, work: Callable[[Job], object], connect: dict[str, Callable]) -> None:
        """Run ``work(self)`` in a napari worker; ``connect`` maps signal names to main-thread
        slots."""
        worker = create_worker(work, self, _start_thread=False)
        # set from the worker thread itself, so cancel() can wait without an event loop
        worker.finished.connect(self.done.set, Qt.ConnectionType.DirectConnection)
        for name, slot in connect.items():
            getattr(worker, name).connect(slot)
        self.worker = worker
        worker.start()

    def stop(self) -> None:
        """Ask the work to end early; subclasses say what that keeps."""
        self.stopping = True

    def cancel(self, wait_s: float = 30.0) -> bool:
        """Stop, drop the result and wait for the thread (closing the viewer). True when ended."""
        if self.done.is_set():
            return True
        self.cancelled = True
        self.stop()
        if self.pbar is not None:
            self.pbar.close()
        if self.worker is not None:
            self.worker.quit()
            return self.done.wait(wait_s)
        return True


@dataclass
class TrainSetup:
    """What the worker builds the Trainer from besides the job's cube, labels and ground
    truth, all taken on the main thread."""

    config: TrainConfig
    class_names: dict = field(default_factory=dict)
    colors: dict = field(default_factory=dict)
    wavelengths: object = None
    wavelength_units: str | None = None
    fwhm: object = None
    init_from: Classifier | None = None  # a refine
    bands: BandRequest | None = None  # None: all bands (a refined model: its own)


@dataclass
class Ready:
    """A training worker's first yield: ``job.trainer`` is built. ``warnings``: what its
    constructor warned; ``detected``: the detection ``auto`` bands needed, for the layer."""

    warnings: list[str]
    detected: BandReport | None = None


@dataclass
class TrainJob(Job):
    """Training, then the best model's map of the whole cube (a lazy cube: none; the dock
    maps it tile by tile next, as Apply does)."""

    stoppable: ClassVar[bool] = True

    setup: TrainSetup | None = None
    trainer: Trainer | None = None  # set by the worker before it yields Ready
    lazy: bool = False  # a lazy cube, trained in windows and never copied

    def stop(self) -> None:
        """End training after the current iteration; the best model so far is kept."""
        super().stop()  # first: a Trainer built from now on sees it (build_trainer)
        if self.trainer is not None:
            self.trainer.stop()


def build_trainer(job: TrainJob) -> Ready:
    """Worker: the job's Trainer (its band selection first), kept on ``job``. Raises what the
    constructor or the band list raises."""
    s = job.setup
    selection, detected = (None, None) if s.bands is None else s.bands.resolve()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # the dock scores the final map itself: a windowed run need not score it first
        trainer = Trainer(job.cube, job.train_labels, s.config, test_labels=job.gt,
                          class_names=s.class_names, colors=s.colors,
                          wavelengths=s.wavelengths, init_from=s.init_from, bands=selection,
                          wavelength_units=s.wavelength_units, fwhm=s.fwhm, final_test=False)
    job.trainer = trainer
    if job.stopping:  # Stop pressed while it was being built
        trainer.stop()
    return Ready([str(w.message) for w in caught], detected)


def train_and_predict(job: TrainJob):
    """Worker: build the Trainer (yield Ready), yield every TrainEvent, then return the best
    model and its map of the in-memory cube (of a lazy one: the model alone)."""
    try:
        ready = build_trainer(job)
    except Exception as exc:  # job.trainer is None: the dock says it cannot train
        return Outcome(error=exc)
    if job.cancelled:
        return Outcome(cancelled=True)
    yield ready
    trainer = job.trainer
    try:
        for event in trainer.run():
            yield event
            if job.cancelled:
                break
        if job.cancelled:
            return Outcome(cancelled=True)
        if trainer.iterations_done == 0:
            raise RuntimeError("training stopped before the first iteration; no model was made")
        clf = trainer.result()
        if job.lazy:  # its map would take minutes with nothing on screen: tile by tile next
            return Outcome(clf)
        # a bare array is planned by its band count: its own bands or the selection, never a
        # resampling (no warning)
        return Outcome(clf, clf.predict(job.cube, device=job.device, tta=job.tta))
    except Exception as exc:  # shown to the user as a notification
        return Outcome(error=exc)


def predict(job: Job) -> Outcome:
    """Worker: the job's model applied to its in-memory cube."""
    try:
        return Outcome(job.classifier, job.classifier.predict(job.cube, device=job.device,
                                                              tta=job.tta, bands=job.bands))
    except Exception as exc:  # shown to the user as a notification
        return Outcome(error=exc)
