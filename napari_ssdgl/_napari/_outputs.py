"""The layers a run leaves behind, named after the cube and reused on the next run.

``<cube> prediction`` (Labels, training colours), ``<cube> probabilities`` (Image,
``(class, 1, rows, cols)``: its own "class" slider, not the cube's band slider, and the class
name under the slider's position shown over the canvas), ``<cube> uncertainty`` (entropy, in a
colormap that is transparent where the model is sure), ``<cube> errors`` (test pixels the map
gets wrong, as an outline in a colour no class uses) and ``<cube> suggested labels`` (Points).
Probabilities and uncertainty start hidden so the class map stays readable over the cube; no
output ever becomes the active layer (see ``_layers.keep_active``).
"""

from __future__ import annotations

import numpy as np
from napari.layers import Labels, Points

from napari_ssdgl._napari._jobs import Job
from napari_ssdgl._napari._layers import default_color, label_colormap, upsert_layer
from napari_ssdgl._napari._views import UNCERTAINTY_CMAP, unused_colour, watch_class_axis
from napari_ssdgl.analysis.metrics import classification_metrics
from napari_ssdgl.analysis.suggest import default_margin, suggest_pixels


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
    probs = prediction.probabilities
    bands = int(np.shape(job.cube)[0]) if np.ndim(job.cube) == 3 else 1
    layer = upsert_layer(
        viewer, f"{job.cube_name} probabilities", probs[:, None], "image", "probabilities",
        colormap="inferno", contrast_limits=(0.0, 1.0), axis_labels=("class", "band", "y", "x"),
        # one slice stretched over the cube's whole band range: any band shows it
        scale=(1.0, float(bands), *job.scale),
        translate=(0.0, (bands - 1) / 2.0, *job.translate), on_create={"visible": False})
    layer.metadata["class_names"] = {
        int(v): classifier.class_names.get(int(v), f"class {v}")
        for v in classifier.class_values}
    layer.metadata["class_values"] = [int(v) for v in classifier.class_values]
    watch_class_axis(viewer, layer)
    show_uncertainty(viewer, job, prediction.entropy)


def show_uncertainty(viewer, job: Job, entropy: np.ndarray) -> None:
    """The ``<cube> uncertainty`` layer (entropy per pixel; hidden when new)."""
    top = max(float(np.nanmax(entropy)) if entropy.size else 0.0, 1e-6)
    upsert_layer(viewer, f"{job.cube_name} uncertainty", entropy, "image", "uncertainty",
                 colormap=UNCERTAINTY_CMAP, contrast_limits=(0.0, top), scale=job.scale,
                 translate=job.translate, on_create={"visible": False})


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
    colour = unused_colour(classifier.colors.values())
    layer = upsert_layer(viewer, f"{job.cube_name} errors", wrong.astype(np.uint8), "labels",
                         "errors", colormap=label_colormap({1: colour}), scale=job.scale,
                         translate=job.translate, opacity=1.0)
    layer.contour = 1  # an outline: the class map stays readable under it
    return metrics


def show_suggestions(viewer, job: Job, entropy: np.ndarray, k: int,
                     labelled: np.ndarray | None, classes: np.ndarray | None = None) -> Points:
    """Points on the ``k`` most uncertain pixels not yet labelled, spread over the scene and
    over the predicted ``classes``, none in a border margin."""
    exclude = None
    if labelled is not None and labelled.shape == entropy.shape:
        exclude = labelled > 0
    points = suggest_pixels(entropy, k, exclude=exclude, margin=default_margin(entropy.shape),
                            classes=classes).astype(float)
    size = max(2.0, min(entropy.shape) / 40)
    return upsert_layer(viewer, f"{job.cube_name} suggested labels", points, "points",
                        "suggestions", scale=job.scale, translate=job.translate,
                        on_create={"face_color": "#ffff00", "border_color": "#000000",
                                   "size": size})
