"""The layers a run leaves behind, named after the cube and reused on the next run.

``<cube> prediction`` (Labels, training colours), ``<cube> probabilities`` (Image, classes
first), ``<cube> uncertainty`` (entropy), ``<cube> errors`` (test pixels the map gets wrong)
and ``<cube> suggested labels`` (Points). Probabilities and uncertainty start hidden so the
class map stays readable over the cube.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Labels, Points

from napari_ssdgl._napari._jobs import Job
from napari_ssdgl._napari._layers import default_color, label_colormap, upsert_layer
from napari_ssdgl.analysis.metrics import classification_metrics
from napari_ssdgl.analysis.suggest import suggest_pixels


def show_class_map(viewer, job: Job, labels: np.ndarray, colors: dict) -> Labels:
    values = [int(v) for v in np.unique(labels) if v]
    cmap = label_colormap({v: colors.get(v, default_color(v)) for v in values})
    return upsert_layer(viewer, f"{job.cube_name} prediction", labels, "labels", "prediction",
                        colormap=cmap, scale=job.scale, translate=job.translate,
                        on_create={"opacity": 0.7})


def show_prediction(viewer, job: Job, prediction, classifier) -> None:
    """Class map, probabilities and uncertainty of one prediction."""
    colors = {int(v): classifier.colors.get(int(v), default_color(v))
              for v in classifier.class_values}
    show_class_map(viewer, job, prediction.labels, colors)
    upsert_layer(viewer, f"{job.cube_name} probabilities", prediction.probabilities, "image",
                 "probabilities", colormap="inferno", scale=(1.0, *job.scale),
                 translate=(0.0, *job.translate), on_create={"visible": False})
    upsert_layer(viewer, f"{job.cube_name} uncertainty", prediction.entropy, "image",
                 "uncertainty", colormap="magma", scale=job.scale, translate=job.translate,
                 on_create={"visible": False})


def score(viewer, job: Job, labels: np.ndarray, classifier) -> dict | str:
    """Metrics of the class map ``labels`` against the job's ground truth (training pixels
    excluded) and the error layer.

    Returns the metrics, or a sentence saying why there are none.
    """
    if job.gt is None:
        return "No ground-truth layer: pick one to see accuracy."
    exclude = None if job.train_labels is None else job.train_labels > 0
    try:
        metrics = classification_metrics(labels, job.gt, exclude=exclude,
                                         class_values=classifier.class_values)
    except ValueError as exc:
        return f"No accuracy: {exc}"
    wrong = (job.gt > 0) & (labels != job.gt)
    if exclude is not None:
        wrong &= ~exclude
    upsert_layer(viewer, f"{job.cube_name} errors", wrong.astype(np.uint8), "labels", "errors",
                 colormap=label_colormap({1: "#ff0000"}), scale=job.scale,
                 translate=job.translate)
    return metrics


def show_suggestions(viewer, job: Job, entropy: np.ndarray, k: int,
                     labelled: np.ndarray | None) -> Points:
    """Points on the ``k`` most uncertain pixels not yet labelled, spread over the scene."""
    exclude = None
    if labelled is not None and labelled.shape == entropy.shape:
        exclude = labelled > 0
    points = suggest_pixels(entropy, k, exclude=exclude).astype(float)
    size = max(2.0, min(entropy.shape) / 40)
    return upsert_layer(viewer, f"{job.cube_name} suggested labels", points, "points",
                        "suggestions", scale=job.scale, translate=job.translate,
                        on_create={"face_color": "#ffff00", "border_color": "#000000",
                                   "size": size})
