"""Nothing lost: the map and model a run replaces are kept, and one click puts them back.

When a job starts, :meth:`PreviousRun.remember` copies the outputs of its cube (class map,
probabilities, uncertainty, errors), the current model and its scores. When it ends,
:meth:`PreviousRun.after_run` says so in the status line if the new map is worse (lower OA on
the same ground truth) or came from a stopped run, puts the old map back by itself if the run
failed after previews had replaced it, and drops the suggestion points of the old map.
"Restore previous" (:meth:`restore`) swaps the kept run back in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from napari_ssdgl._napari._jobs import Job
from napari_ssdgl._napari._layers import keep_active

OUTPUTS = ("prediction", "probabilities", "uncertainty", "errors")


@dataclass
class Snapshot:
    cube_name: str
    data: dict = field(default_factory=dict)  # layer name -> copy of its data
    classifier: object = None
    last_output: tuple | None = None
    metrics: dict | None = None


class PreviousRun:
    """``results`` is the dock's ResultsBox; ``get_model``/``set_model`` the current model."""

    def __init__(self, viewer, results, get_model: Callable, set_model: Callable,
                 status) -> None:
        self.viewer, self.results, self.status = viewer, results, status
        self._get_model, self._set_model = get_model, set_model
        self.kept: Snapshot | None = None
        self._pending: Snapshot | None = None
        self.on_change: Callable[[], None] = lambda: None

    @property
    def available(self) -> bool:
        return self.kept is not None

    def remember(self, job: Job) -> None:
        """Copy what ``job`` may replace (called as it starts)."""
        layers = self.viewer.layers
        snap = Snapshot(job.cube_name, classifier=self._get_model(),
                        last_output=self.results.last_output, metrics=self.results.metrics)
        for suffix in OUTPUTS:
            name = f"{job.cube_name} {suffix}"
            if name in layers:
                snap.data[name] = np.array(layers[name].data, copy=True)
        self._pending = snap if (snap.data or snap.classifier is not None) else None

    def after_run(self, job: Job) -> None:
        """Keep the remembered run if ``job`` replaced it; say so when the new one is worse."""
        snap, self._pending = self._pending, None
        if snap is None:
            return
        outcome = job.outcome
        failed = outcome is None or outcome.error is not None or outcome.cancelled
        if failed:
            if not job.cancelled and any(n in self.viewer.layers for n in snap.data):
                self._put_back(snap)  # previews had replaced the map: undo them
            return
        self.kept = snap
        self._drop_suggestions(job.cube_name)
        old = (snap.metrics or {}).get("oa")
        new = (self.results.metrics or {}).get("oa")
        run = getattr(job, "trained", None) or job  # a lazy map after training: the training
        stopped = bool(getattr(getattr(run, "trainer", None), "stopped", False))
        note = ""
        if old is not None and new is not None and new < old:
            note = (f" This map scores OA {new:.1%}, below the previous {old:.1%}: "
                    "'Restore previous' puts the previous map and model back.")
        elif stopped:
            note = " The previous map and model are kept: 'Restore previous' puts them back."
        if note:
            self.status.setText(self.status.text() + note)
        self.on_change()

    def restore(self) -> bool:
        """Swap the kept run back in (a second click swaps again)."""
        snap = self.kept
        if snap is None:
            return False
        current = Snapshot(snap.cube_name, classifier=self._get_model(),
                           last_output=self.results.last_output, metrics=self.results.metrics)
        for name in snap.data:
            if name in self.viewer.layers:
                current.data[name] = np.array(self.viewer.layers[name].data, copy=True)
        self._put_back(snap)
        self.kept = current
        self.status.setText(f"Restored the previous map of '{snap.cube_name}' and its model"
                            + (f" (OA {snap.metrics['oa']:.1%})" if snap.metrics else "")
                            + "; 'Restore previous' again swaps back.")
        self.on_change()
        return True

    def _put_back(self, snap: Snapshot) -> None:
        layers = self.viewer.layers
        with keep_active(self.viewer):
            for name, data in snap.data.items():
                if name in layers and np.ndim(layers[name].data) == data.ndim:
                    layers[name].data = data
            for suffix in OUTPUTS:  # outputs the kept run did not have
                name = f"{snap.cube_name} {suffix}"
                if name in layers and name not in snap.data:
                    layers[name].visible = False
        self._drop_suggestions(snap.cube_name)
        if snap.classifier is not None:
            self._set_model(snap.classifier)
        self.results.last_output = snap.last_output
        self.results.metrics = snap.metrics
        if snap.metrics is not None and snap.classifier is not None:
            self.results.accuracy.show_metrics(snap.metrics, snap.classifier.class_names)
        elif snap.metrics is None:
            self.results.accuracy.clear("No accuracy for the restored map.")

    def _drop_suggestions(self, cube_name: str) -> None:
        name = f"{cube_name} suggested labels"
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
