"""Layer pickers: drop-downs of the viewer's layers of one kind, outputs of ours left out."""

from __future__ import annotations

from collections.abc import Callable

from magicgui.widgets import ComboBox
from napari.layers import Image, Labels, Layer

from napari_ssdgl._napari._layers import is_output


def is_cube(layer: Layer) -> bool:
    """A hyperspectral cube: a 3-D single-channel image the user brought (not one of ours)."""
    return (isinstance(layer, Image) and layer.ndim == 3 and not layer.rgb
            and not layer.multiscale and not is_output(layer))


def is_label_raster(layer: Layer) -> bool:
    return isinstance(layer, Labels) and layer.ndim == 2 and not is_output(layer)


def layer_picker(viewer, predicate: Callable[[Layer], bool], nullable: bool = False) -> ComboBox:
    """A drop-down of the layers that pass ``predicate``; ``reset_choices()`` re-reads them."""
    return ComboBox(choices=lambda _: [(layer.name, layer) for layer in viewer.layers
                                       if predicate(layer)], nullable=nullable)
