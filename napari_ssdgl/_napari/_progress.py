"""The dock's own progress bar (training, and Apply through :class:`DockProgress`), with an
ETA from steady-state iterations.

The first iterations of a run carry its set-up (threads, allocator, the first graph), so an
ETA from the mean of all iterations overestimates the rest by the set-up time; here it comes
from the iterations after the first ``WARMUP`` only (and from all of them until there are
enough).
"""

from __future__ import annotations

import time

from qtpy.QtWidgets import QProgressBar

WARMUP = 3  # iterations left out of the ETA


class SteadyEta:
    """Seconds left from the pace of the iterations after the first ``warmup``."""

    def __init__(self, total: int, warmup: int = WARMUP) -> None:
        self.total, self.warmup = int(total), warmup
        self._mark: tuple[int, float] | None = None  # (iteration, elapsed) after the warm-up
        self.last: tuple[int, float] = (0, 0.0)

    def update(self, iteration: int, elapsed_s: float) -> float | None:
        """Seconds left after ``iteration`` (of ``total``) done in ``elapsed_s``."""
        self.last = (iteration, elapsed_s)
        if self._mark is None and iteration >= self.warmup:
            self._mark = (iteration, elapsed_s)
        if self._mark is not None and iteration > self._mark[0]:
            i0, t0 = self._mark
            pace = (elapsed_s - t0) / (iteration - i0)
        elif iteration > 0:
            pace = elapsed_s / iteration
        else:
            return None
        return max(0.0, pace * (self.total - iteration))


class TrainProgress(QProgressBar):
    """0..iterations; its text says the iteration and the ETA."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setRange(0, 1)
        self.setValue(0)
        self.setTextVisible(True)
        self.setFormat("idle")
        self.eta: SteadyEta | None = None
        self.started_at: float | None = None

    def start(self, total: int) -> None:
        self.eta = SteadyEta(total)
        self.started_at = time.perf_counter()
        self.setRange(0, max(1, int(total)))
        self.setValue(0)
        self.setFormat("starting…")

    def advance(self, iteration: int, total: int, elapsed_s: float) -> str:
        """Move to ``iteration``; returns the ETA as text ("" before the first one)."""
        if self.eta is None or self.eta.total != total:
            self.start(total)
        left = self.eta.update(iteration, elapsed_s)
        eta = "" if left is None else duration(left)
        self.setMaximum(max(1, int(total)))
        self.setValue(int(iteration))
        self.setFormat(f"%v / %m   ETA {eta}" if eta else "%v / %m")
        return eta

    def finish(self, text: str = "done") -> None:
        if self.maximum() > 1 and self.value() < self.maximum():
            text = f"{text} at {self.value()} / {self.maximum()}"
        self.setFormat(text)


class DockProgress:
    """napari's ``progress`` interface (``total``, ``n``, ``update``, ``close``) on the dock's
    own bar, for Apply. While a napari progress bar exists napari animates its activity
    indicator; on a display drawn by the CPU that slowed a lazy Apply of a 1024 px scene from
    53-57 s to 77-78 s (benchmarks/README.md), as it had slowed training. ``total`` 0: no
    count (an in-memory prediction), the bar only says what runs."""

    def __init__(self, bar: TrainProgress, total: int = 0, desc: str = "predicting") -> None:
        self.bar, self.total, self.n = bar, int(total), 0
        self._start = time.perf_counter()
        bar.start(max(1, self.total))
        bar.setFormat(f"{desc}…")

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        if self.total:
            self.bar.advance(self.n, self.total, time.perf_counter() - self._start)

    def close(self) -> None:
        try:
            self.bar.finish("done" if self.total else "idle")
        except RuntimeError:  # the dock is already deleted (the viewer closed mid-run)
            pass


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"
