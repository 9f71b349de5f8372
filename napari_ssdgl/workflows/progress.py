"""Drive a :class:`~napari_ssdgl.training.Trainer` headless: a progress bar, Ctrl-C, a history.

``train``, ``reproduce`` and ``demo`` all train the same way; the recorded history feeds the
training-curve panel of a report and ``history.json``.
"""

from __future__ import annotations

import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from napari_ssdgl.training import Trainer, TrainEvent


@dataclass
class History:
    """Loss, learning rate and training accuracy per iteration; test OA where it was scored."""

    iteration: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    eval_iteration: list[int] = field(default_factory=list)
    eval_oa: list[float] = field(default_factory=list)

    def add(self, event: TrainEvent) -> None:
        self.iteration.append(event.iteration)
        self.loss.append(event.loss)
        self.lr.append(event.lr)
        self.train_accuracy.append(event.train_accuracy)
        if event.test is not None:  # the test labels' OA (reported; never chooses the model)
            self.eval_iteration.append(event.iteration)
            self.eval_oa.append(float(event.test["oa"]))

    def to_dict(self) -> dict:
        return asdict(self)


@contextmanager
def stop_on_ctrl_c(trainer: Trainer, prog: str = "napari-ssdgl"):
    """First Ctrl-C asks the trainer to stop (the kept model is still saved); a second aborts."""

    def handler(signum, frame):
        trainer.stop()
        signal.signal(signal.SIGINT, previous)
        print(f"\n{prog}: stopping after this iteration (Ctrl-C again to abort)", file=sys.stderr)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def progress_bar(iterable=None, *, quiet: bool = False, **options):
    """The tqdm bar of the headless runs: on stderr (results go to stdout), as wide as the
    terminal, none with ``quiet``; ``options`` (desc, unit, total, position, ...) go to tqdm."""
    from tqdm import tqdm

    return tqdm(iterable, file=sys.stderr, disable=quiet, dynamic_ncols=True, **options)


def train_with_progress(trainer: Trainer, *, quiet: bool = False, desc: str = "train",
                        leave: bool = True, position: int | None = None,
                        ) -> tuple[History, float]:
    """Run ``trainer`` to the end with a :func:`progress_bar`; returns (history, seconds)."""
    history = History()
    bar = progress_bar(total=trainer.config.iterations, quiet=quiet, desc=desc, unit="it",
                       leave=leave, position=position)
    start = time.perf_counter()
    oa = None
    with bar:
        for event in trainer.run():
            history.add(event)
            if event.test is not None:
                oa = event.test["oa"]
            bar.set_postfix(loss=f"{event.loss:.4f}", **({} if oa is None else {"oa": f"{oa:.4f}"}))
            bar.update(1)
    return history, time.perf_counter() - start
