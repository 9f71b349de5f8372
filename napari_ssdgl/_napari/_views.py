"""How the layers read: view presets (Paint · Prediction · Uncertainty · Errors), the colours
and colormaps of the outputs, and the class name under the probabilities' "class" slider.

A preset only sets visibility, opacity and stacking order of the layers of one cube (its RGB
view, the training labels, the ground truth and the outputs named after it); layers it does not
know keep their place, and the user's active layer stays active.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import to_rgb
from napari.layers import Layer
from napari.utils.colormaps import Colormap
from qtpy.QtWidgets import QGroupBox

from napari_ssdgl._napari._ui import button, fill, row

# transparent where the model is sure, then yellow to white as it doubts
UNCERTAINTY_CMAP = Colormap(
    colors=np.array([[1.0, 0.85, 0.0, 0.0], [1.0, 0.6, 0.0, 0.55], [1.0, 0.25, 0.1, 0.8],
                     [1.0, 1.0, 1.0, 0.95]]),
    controls=np.array([0.0, 0.35, 0.7, 1.0]), name="ssdgl uncertainty")

# candidate outline colours for the errors layer, most visible first
_OUTLINES = ["#ff00ff", "#00ffff", "#ffffff", "#ffff00", "#ff0000", "#00ff00", "#000000"]

# role -> (visible, opacity) per preset; None leaves the layer as it is
_PRESETS: dict[str, dict[str, tuple[bool, float] | None]] = {
    "Paint": {"rgb": (True, 1.0), "gt": (False, 0.6), "prediction": (False, 0.6),
              "probabilities": (False, 1.0), "uncertainty": (False, 1.0),
              "errors": (False, 1.0), "labels": (True, 1.0), "suggestions": (True, 1.0)},
    "Prediction": {"rgb": (True, 1.0), "gt": (False, 0.6), "prediction": (True, 0.65),
                   "probabilities": (False, 1.0), "uncertainty": (False, 1.0),
                   "errors": (False, 1.0), "labels": (True, 1.0), "suggestions": (False, 1.0)},
    "Uncertainty": {"rgb": (True, 1.0), "gt": (False, 0.6), "prediction": (False, 0.6),
                    "probabilities": (False, 1.0), "uncertainty": (True, 0.9),
                    "errors": (False, 1.0), "labels": (True, 1.0), "suggestions": (True, 1.0)},
    "Errors": {"rgb": (True, 1.0), "gt": (False, 0.6), "prediction": (True, 0.5),
               "probabilities": (False, 1.0), "uncertainty": (False, 1.0),
               "errors": (True, 1.0), "labels": (False, 1.0), "suggestions": (False, 1.0)},
}  # fmt: skip
# bottom to top
ORDER = ("cube", "rgb", "gt", "prediction", "probabilities", "uncertainty", "errors", "labels",
         "suggestions")
PRESETS = tuple(_PRESETS)


def unused_colour(class_colours) -> str:
    """The outline candidate farthest (in RGB) from every class colour."""
    used = [np.array(to_rgb(c)) for c in class_colours if c]
    if not used:
        return _OUTLINES[0]
    return max(_OUTLINES, key=lambda c: min(np.linalg.norm(np.array(to_rgb(c)) - u)
                                            for u in used))


def class_axis_text(layer: Layer, step: int) -> str:
    """'<layer>: class <value> <name>' for the probabilities slice ``step``."""
    values = layer.metadata.get("class_values") or []
    names = layer.metadata.get("class_names") or {}
    if not 0 <= step < len(values):
        return ""
    v = int(values[step])
    return f"{layer.name}: class {v}, {names.get(v, names.get(str(v), ''))}".rstrip(", ")


def watch_class_axis(viewer, layer: Layer) -> None:
    """Show the class of the probabilities slice in the canvas's text overlay while the layer
    is visible (connected once per layer)."""
    if layer.metadata.get("_class_axis_watched"):
        _update_overlay(viewer, layer)
        return
    layer.metadata["_class_axis_watched"] = True

    def update(*_):
        _update_overlay(viewer, layer)

    viewer.dims.events.current_step.connect(update)
    layer.events.visible.connect(update)
    update()


def _update_overlay(viewer, layer: Layer) -> None:
    overlay = viewer.text_overlay
    mine = overlay.text.startswith(f"{layer.name}:")
    if layer not in viewer.layers or not layer.visible:
        if mine:
            overlay.text, overlay.visible = "", False
        return
    axis = viewer.dims.ndim - layer.ndim  # the layer's first axis in world coordinates
    step = int(round(layer.world_to_data(viewer.dims.point)[0])) if axis >= 0 else 0
    overlay.text = class_axis_text(layer, step)
    overlay.visible = bool(overlay.text)
    overlay.position = "top_left"
    overlay.color = "white"


def roles(viewer, cube: Layer | None, labels: Layer | None, gt: Layer | None) -> dict:
    """role -> layer for the layers a preset arranges (those present)."""
    out: dict[str, Layer] = {}
    if cube is not None and cube in viewer.layers:
        out["cube"] = cube
        name = cube.name
        for role, suffix in (("rgb", "RGB"), ("prediction", "prediction"),
                             ("probabilities", "probabilities"), ("uncertainty", "uncertainty"),
                             ("errors", "errors"), ("suggestions", "suggested labels")):
            if f"{name} {suffix}" in viewer.layers:
                out[role] = viewer.layers[f"{name} {suffix}"]
    for role, layer in (("labels", labels), ("gt", gt)):
        if layer is not None and layer in viewer.layers and layer not in out.values():
            out[role] = layer
    return out


def apply_preset(viewer, preset: str, cube: Layer | None, labels: Layer | None,
                 gt: Layer | None) -> dict:
    """Set visibility, opacity and order for ``preset``; returns the role -> layer it used."""
    settings = _PRESETS[preset]
    present = roles(viewer, cube, labels, gt)
    for role, layer in present.items():
        setting = settings.get(role)
        if setting is not None:
            layer.visible, layer.opacity = setting
    if "cube" in present:
        present["cube"].visible = "rgb" not in present  # the composite covers it anyway
    desired = [present[r] for r in ORDER if r in present]
    layers = viewer.layers
    slots = sorted(layers.index(ly) for ly in desired)
    target = list(layers)
    for slot, layer in zip(slots, desired, strict=True):
        target[slot] = layer
    for t, layer in enumerate(target):
        cur = layers.index(layer)
        if cur != t:
            layers.move(cur, t)
    if preset == "Paint" and "labels" in present:
        viewer.layers.selection.active = present["labels"]
    return present


class ViewsBox(QGroupBox):
    """One button per preset; ``picks()`` returns (cube, labels, ground truth) layers."""

    def __init__(self, viewer, picks, restore, parent=None):
        super().__init__("View", parent)
        self.viewer, self._picks = viewer, picks
        self.restore_button = button("Restore previous", restore, "Put back the map and model "
                                     "the last run replaced (again: swap back)")
        self.restore_button.setEnabled(False)
        tips = {"Paint": "The composite and your labels; outputs and ground truth hidden",
                "Prediction": "The class map over the composite, your labels on top",
                "Uncertainty": "Where the model doubts (transparent where sure), suggestions",
                "Errors": "Wrong test pixels outlined over the class map"}
        self.buttons = {p: button(p, lambda p=p: self.apply(p), tips[p]) for p in PRESETS}
        fill(self, row(*self.buttons.values()), row(self.restore_button))

    def apply(self, preset: str) -> dict:
        return apply_preset(self.viewer, preset, *self._picks())
