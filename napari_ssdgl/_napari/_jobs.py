"""Background work for the dock: training and prediction in napari thread workers.

The functions here run in a worker thread and see only numpy copies taken on the main thread
(or, for a lazy cube, a dask array over it: see ``_lazy_apply.py``); they never touch a layer.
Failures come back as an :class:`Outcome` (not as an exception) so the dock shows one readable
notification instead of napari's generic traceback.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

import numpy as np
from napari.qt.threading import create_worker
from qtpy.QtCore import QEvent, QObject, Qt, QTimer

from napari_ssdgl.prediction.classifier import Classifier, Prediction
from napari_ssdgl.training import Trainer


@dataclass
class Outcome:
    classifier: Classifier | None = None
    prediction: Prediction | None = None
    error: Exception | None = None
    cancelled: bool = False


@dataclass
class Job:
    """One background run: where its outputs go and the handles that stop it from any thread."""

    kind: str  # "train", "apply" or "lazy" (apply to a dask cube, tile by tile)
    cube_name: str  # outputs are named after it
    cube: np.ndarray  # cleaned float32 copy; for "lazy" a dask array over the layer's data
    scale: tuple = (1.0, 1.0)
    translate: tuple = (0.0, 0.0)
    train_labels: np.ndarray | None = None
    gt: np.ndarray | None = None
    source_layers: tuple = ()  # names of the layers the copies came from
    trainer: Trainer | None = None
    classifier: Classifier | None = None
    device: str = "auto"
    tta: bool = False  # final map: mean over the 8 flips/transposes
    cancelled: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    worker: object = None
    pbar: object = None
    outcome: Outcome | None = None  # set on the main thread when the worker returns
    stopping: bool = False  # Stop on a job without a trainer ("lazy")
    # "lazy" only (see _lazy_apply.py): predict_dask options, tile and pass counts, the output
    # layer and its array (main thread only), its data and colormap before the run (or None)
    options: dict = field(default_factory=dict)
    blocks: int = 0
    blocks_done: int = 0
    passes: int = 0
    passes_done: int = 0
    refreshed: float = 0.0
    layer: object = None
    output: np.ndarray | None = None
    restore: tuple | None = None

    def start(self, connect: dict) -> None:
        """Run this job in a napari worker; ``connect`` maps signal names to main-thread slots."""
        if self.kind == "train":
            worker = create_worker(_train_and_predict, self, _start_thread=False)
        elif self.kind == "lazy":
            from napari_ssdgl._napari._lazy_apply import predict_blocks

            worker = create_worker(predict_blocks, self, _start_thread=False)
        else:
            worker = create_worker(_predict, self, _start_thread=False)
        # set from the worker thread itself, so cancel() can wait without an event loop
        worker.finished.connect(self.done.set, Qt.ConnectionType.DirectConnection)
        for name, slot in connect.items():
            getattr(worker, name).connect(slot)
        self.worker = worker
        worker.start()

    def stop(self) -> None:
        """End training after the current iteration (the best model so far is kept), or a tiled
        prediction after the tiles in progress."""
        if self.trainer is not None:
            self.trainer.stop()
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


def _train_and_predict(job: Job):
    """Yield every TrainEvent, then return the best model and its map of the whole cube."""
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
        return Outcome(clf, clf.predict(job.cube, device=job.device, tta=job.tta))
    except Exception as exc:  # shown to the user as a notification
        return Outcome(error=exc)


def _predict(job: Job) -> Outcome:
    try:
        return Outcome(job.classifier, job.classifier.predict(job.cube, device=job.device,
                                                              tta=job.tta))
    except Exception as exc:
        return Outcome(error=exc)


class CloseGuard(QObject):
    """Calls ``on_close`` when the viewer's main window really closes (Qt API only).

    A programmatic close (``viewer.close()``) always goes through, so it acts on the Close
    event. A user's close may still be cancelled in napari's confirmation dialog, so then it
    waits for the window to hide, which happens only once the close is accepted.
    """

    def __init__(self, on_close, parent=None):
        super().__init__(parent)
        self._on_close = on_close
        self._pending = False
        self._window = None

    def watch(self, window) -> None:
        current = self._window() if self._window is not None else None
        if window is current:
            return
        if current is not None:
            current.removeEventFilter(self)
        # weak: a closed viewer's window (and its QtViewer) must not outlive it because of us
        self._window = None if window is None else weakref.ref(window)
        if window is not None:
            window.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Close:
            if event.spontaneous() and obj.isVisible():
                self._pending = True
                QTimer.singleShot(0, self._clear)
            else:
                self._closed()
        elif kind == QEvent.Type.Hide and self._pending:
            self._closed()
        return False

    def _closed(self) -> None:
        self._pending = False
        self._window = None
        self._on_close()

    def _clear(self) -> None:
        self._pending = False
