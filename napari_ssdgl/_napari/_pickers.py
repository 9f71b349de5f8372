"""Layer pickers: drop-downs of the viewer's layers of one kind, outputs of ours left out."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
from magicgui.widgets import ComboBox
from napari.layers import Image, Labels, Layer

from napari_ssdgl._napari._layers import is_output


def is_cube(layer: Layer) -> bool:
    """A hyperspectral cube: a 3-D single-channel image the user brought (not one of ours)."""
    return (isinstance(layer, Image) and layer.ndim == 3 and not layer.rgb
            and not layer.multiscale and not is_output(layer))


def is_label_raster(layer: Layer) -> bool:
    return isinstance(layer, Labels) and layer.ndim == 2 and not is_output(layer)


_GT_NAME = re.compile(r"(^|[^a-z])gt([^a-z]|$)|ground[ _-]?truth|truth", re.IGNORECASE)
DENSE = 0.25  # a label raster with more of its pixels labelled than this reads as a ground truth


def looks_like_ground_truth(layer: Layer | None) -> bool:
    """A labels layer named like a ground truth (gt, ground truth, truth) or shaped like one
    (more than a quarter of its pixels labelled: nobody paints that much)."""
    if not isinstance(layer, Labels):
        return False
    if _GT_NAME.search(layer.name):
        return True
    data = np.asarray(layer.data)
    step = max(1, data.size // 250_000)  # a sample is enough to tell sparse from dense
    return bool(data.size) and float((data.reshape(-1)[::step] > 0).mean()) > DENSE


def layer_picker(viewer, predicate: Callable[[Layer], bool], nullable: bool = False) -> ComboBox:
    """A drop-down of the layers that pass ``predicate``; ``reset_choices()`` re-reads them."""
    return ComboBox(choices=lambda _: [(layer.name, layer) for layer in viewer.layers
                                       if predicate(layer)], nullable=nullable)
