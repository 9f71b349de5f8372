"""What a finished run leaves to read: its accuracy on the ground truth, and where to label next.

:meth:`ResultsBox.score` is the one place a finished class map is scored and the accuracy
panel and the status line are written, whether the map came whole (training, apply) or tile
by tile (a lazy cube).
"""

from __future__ import annotations

import numpy as np
from magicgui.widgets import ComboBox
from napari.layers import Layer
from napari.utils.notifications import show_warning
from qtpy.QtWidgets import QSpinBox, QVBoxLayout, QWidget

from napari_ssdgl._napari._accuracy import AccuracyPanel
from napari_ssdgl._napari._jobs import Job
from napari_ssdgl._napari._outputs import score, show_prediction, show_suggestions
from napari_ssdgl._napari._ui import button, group, row
from napari_ssdgl.prediction.classifier import Classifier, Prediction


def _chosen_on(clf: Classifier, alone: bool = False) -> list[str]:
    """What chose the kept model, from its metrics (empty when they do not say)."""
    m = clf.metrics or {}
    if m.get("validation_pixels"):
        oa = m.get("validation_oa")
        score = f" (OA {oa:.1%})" if alone and oa is not None else ""
        return [f"The kept model was chosen on {m['validation_pixels']} held-out painted "
                f"pixels{score}."]
    if not str(m.get("selected_on", "")).startswith("last iteration"):
        return []
    if (clf.train_config or {}).get("keep") == "best":  # it would have held some out
        return ["The last model was kept: too few painted pixels to hold any out for choosing, "
                "so every painted pixel trained."]
    return ["The last model was kept."]


def scored_on(job: Job, metrics: dict, clf: Classifier) -> str:
    """Which pixels the panel's scores count, and what chose the model: never the ground
    truth."""
    name = f"'{job.gt_name}'" if job.gt_name else "the ground-truth layer"
    excluded = ", training pixels excluded" if job.train_labels is not None else ""
    return " ".join([f"Scored on ground-truth layer {name}: {metrics['n_test']} px{excluded}.",
                     *_chosen_on(clf)])


def record_scores(clf: Classifier, metrics: dict | None) -> None:
    """Keep the final map's scores with a model whose training did not score its test pixels
    (a windowed run leaves that to the map), so a saved model records them."""
    if metrics is not None and clf.metrics.get("oa") is None:
        clf.metrics.update(metrics)


class ResultsBox(QWidget):
    """The "Where to label next" and "Accuracy" boxes, one above the other.

    ``labels_picker`` picks the training labels, whose painted pixels get no suggestion.
    """

    def __init__(self, viewer, labels_picker: ComboBox, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self._labels_picker = labels_picker
        self.last_output: tuple | None = None  # (job, prediction) of the latest whole map
        self.metrics: dict | None = None
        self.suggest_count = QSpinBox()
        self.suggest_count.setRange(1, 1000)
        self.suggest_count.setValue(20)
        self.suggest_button = button("Suggest labels", self.suggest_labels,
                                     "Mark the most uncertain pixels, spread out")
        self.accuracy = AccuracyPanel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(group("Where to label next", row(self.suggest_button,
                                                          self.suggest_count)))
        layout.addWidget(group("Accuracy", self.accuracy))

    def show_map(self, job: Job, prediction: Prediction, clf: Classifier, done: str) -> str:
        """Class map, probabilities and uncertainty layers of a whole prediction, then its score
        (see :meth:`score`); the user's active layer stays active."""
        active = self.viewer.layers.selection.active
        show_prediction(self.viewer, job, prediction, clf)
        self.last_output = (job, prediction)
        line = self.score(job, prediction.labels, clf, done)
        if active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active  # keep painting where the user was
        return line

    def score(self, job: Job, labels: np.ndarray, clf: Classifier, done: str) -> str:
        """Score the class map ``labels`` into the accuracy panel and the error layer; returns
        the status line, ``done`` first."""
        result = score(self.viewer, job, labels, clf)
        self.metrics = result if isinstance(result, dict) else None
        if self.metrics is None:
            self.accuracy.clear(" ".join([result, *_chosen_on(clf, alone=True)]))
        else:
            self.accuracy.show_metrics(self.metrics, clf.class_names,
                                       scored_on=scored_on(job, self.metrics, clf))
        return (f"{done}: '{job.cube_name} prediction' ({clf.num_classes} classes)"
                + (f"; OA {self.metrics['oa']:.1%}" if self.metrics else "."))

    def suggest_labels(self, k: int | None = None) -> Layer | None:
        """Points on the ``k`` most uncertain unlabelled pixels of the latest map, spread out."""
        if self.last_output is None:
            show_warning("Train or apply a model first: suggestions come from its uncertainty "
                         "(a lazy cube's map has it once all its tiles are done).")
            return None
        job, prediction = self.last_output
        labels = self._labels_picker.value
        return show_suggestions(self.viewer, job, prediction.entropy,
                                int(k or self.suggest_count.value()),
                                None if labels is None else np.asarray(labels.data),
                                classes=prediction.labels)
