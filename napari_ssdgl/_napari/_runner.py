"""The dock's background jobs: start one in a napari thread worker, route its signals to
main-thread slots, stop it, and end it before the viewer (or the dock) goes away.

napari delivers a worker's signals on the main thread, so the slots given to :meth:`Runner.start`
are where layers may be touched. A job's events that arrive after its result, and everything
of a cancelled job, are dropped here, so no slot has to check for them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from napari.utils.notifications import show_info
from qtpy.QtWidgets import QMainWindow, QWidget

from napari_ssdgl._napari._close_guard import CloseGuard
from napari_ssdgl._napari._jobs import Job, Outcome


class Runner:
    """The running jobs (at most one: the boxes refuse to start a second) of one dock.

    ``on_change(job)`` is called with the job that started, or with ``None`` once the last
    one ended, so the boxes can enable and disable their buttons.
    """

    def __init__(self, dock: QWidget, on_change: Callable[[Job | None], None]) -> None:
        self.dock = dock
        self.jobs: list[Job] = []
        self._on_change = on_change
        # closing the viewer mid-run: stop the worker and wait for its thread
        self._close_guard = CloseGuard(self.shutdown, parent=dock)
        jobs = self.jobs  # not self: the dock's own signal must not keep the runner alive
        dock.destroyed.connect(lambda *_: [job.cancel() for job in list(jobs)])

    @property
    def running(self) -> bool:
        return bool(self.jobs)

    def start(self, job: Job, work: Callable[[Job], object], *,
              returned: Callable[[Job, Outcome], None],
              yielded: Callable[[Job, object], None] | None = None) -> Job:
        """Run ``work(job)`` in a worker; ``yielded(job, event)`` and ``returned(job, outcome)``
        run on the main thread."""
        self.watch_window()  # the dock may have moved into the window after ParentChange
        self.jobs.append(job)
        self._on_change(job)
        slots = {"returned": partial(self._returned, job, returned),
                 "finished": partial(self._finished, job)}
        if yielded is not None:
            slots["yielded"] = partial(self._yielded, job, yielded)
        job.start(work, slots)
        return job

    def stop(self) -> str | None:
        """Ask the running job to end early; returns what the status line should say."""
        for job in self.jobs:
            job.stop()
        return self.jobs[0].stop_note if self.jobs else None

    def shutdown(self) -> None:
        """Stop background work and wait for its thread (the viewer is closing)."""
        for job in list(self.jobs):
            job.cancel()

    def warn_removed(self, name: str) -> None:
        """Tell the user that a job goes on with its copy of the layer ``name`` just removed."""
        if any(name in job.source_layers for job in self.jobs):
            show_info(f"'{name}' was removed while SSDGL is running; it goes on with the copy "
                      "taken at the start, and its outputs will be added.")

    def watch_window(self) -> None:
        """Watch the main window the dock sits in, once it is docked."""
        parent = self.dock.parent()
        while parent is not None and not isinstance(parent, QMainWindow):
            parent = parent.parent()
        if parent is not None:
            self._close_guard.watch(parent)

    @staticmethod
    def _yielded(job: Job, slot: Callable, event) -> None:
        if not job.cancelled and job.outcome is None:
            slot(job, event)

    @staticmethod
    def _returned(job: Job, slot: Callable, outcome: Outcome) -> None:
        job.outcome = outcome
        if not (job.cancelled or outcome.cancelled):
            slot(job, outcome)

    def _finished(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
        if job.cancelled:  # the viewer is closing; cancel() closed the progress bar
            return
        if job.pbar is not None:
            job.pbar.close()
        following = job.then() if job.then is not None and not self.jobs else None
        if following is None:  # (a job that started has said so itself)
            self._on_change(self.jobs[-1] if self.jobs else None)
