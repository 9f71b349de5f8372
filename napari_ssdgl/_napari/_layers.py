"""Layer helpers: create-or-update by name, class colours, class names from layer metadata.

Outputs are reused by name so that a second training run refreshes the maps the user is
looking at instead of stacking new layers; a user layer that happens to carry the same name
but is not ours (other type) is never replaced.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import numpy as np
from napari.layers import Image, Labels, Layer, Points
from napari.utils.colormaps import DirectLabelColormap

ROLE = "ssdgl_role"  # metadata key that tags the layers this plugin writes

# matplotlib's tab20, reordered so the first ten are the strong colours
_PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
]  # fmt: skip

_KINDS = {"image": Image, "labels": Labels, "points": Points}


def default_color(value: int) -> str:
    """A stable colour for a class value without a registered colour."""
    return _PALETTE[(int(value) - 1) % len(_PALETTE)]


def label_colormap(colors: dict[int, str], values=()) -> DirectLabelColormap:
    """A direct colormap: each class in its colour, background transparent."""
    color_dict: dict[Any, Any] = {None: "transparent", 0: "transparent"}
    for v in values:
        color_dict[int(v)] = default_color(v)
    for v, c in colors.items():
        color_dict[int(v)] = c
    return DirectLabelColormap(color_dict=color_dict)


def _int_keys(d) -> dict[int, str]:
    out: dict[int, str] = {}
    for k, v in (d or {}).items():
        try:
            out[int(k)] = str(v)
        except (TypeError, ValueError):
            continue
    return out


def class_names(layer: Layer | None) -> dict[int, str]:
    """Class names stored in the layer's metadata (``class_names``), keys as ints."""
    if layer is None:
        return {}
    return _int_keys(layer.metadata.get("class_names"))


def class_colors(layer: Layer | None, values=()) -> dict[int, str]:
    """``#rrggbb`` per class: from ``class_colors`` metadata, else the layer's colormap."""
    if layer is None:
        return {int(v): default_color(v) for v in values}
    colors = _int_keys(layer.metadata.get("class_colors"))
    for v in values:
        v = int(v)
        if v not in colors and isinstance(layer, Labels):
            rgba = np.asarray(layer.get_color(v), dtype=float).ravel()
            if rgba.size >= 3:
                colors[v] = "#" + "".join(f"{int(round(x * 255)):02x}" for x in rgba[:3])
        colors.setdefault(v, default_color(v))
    return colors


def upsert_layer(
    viewer, name: str, data: np.ndarray, kind: str, role: str, on_create=None, **kwargs
) -> Layer:
    """Update the layer called ``name`` in place if it is of ``kind``; otherwise add one.

    ``kwargs`` are layer attributes (colormap, scale, ...) set on both paths; ``on_create``
    (e.g. ``visible=False``) only when the layer is new, so a user's later choice sticks.
    """
    cls = _KINDS[kind]
    layer = viewer.layers[name] if name in viewer.layers else None
    if isinstance(layer, cls) and np.ndim(layer.data) == np.ndim(data):
        layer.data = data
        for key, value in kwargs.items():
            setattr(layer, key, value)
        if isinstance(layer, Image) and "contrast_limits" not in kwargs:
            layer.reset_contrast_limits()
        layer.metadata[ROLE] = role
        return layer
    adder = getattr(viewer, f"add_{kind}")
    with keep_active(viewer):  # an output never takes the brush from the user's layer
        return adder(data, name=name, metadata={ROLE: role}, **kwargs, **(on_create or {}))


@contextmanager
def keep_active(viewer):
    """Restore the active layer and the selection after layers are added in the block (napari
    makes a new layer the active one), so strokes during training land on the user's labels."""
    active, selected = viewer.layers.selection.active, set(viewer.layers.selection)
    try:
        yield
    finally:
        still = {ly for ly in selected if ly in viewer.layers}
        if active is not None and active in viewer.layers:
            viewer.layers.selection.active = active
            viewer.layers.selection.update(still)
        else:
            viewer.layers.selection.clear()
            viewer.layers.selection.update(still)


def is_output(layer: Layer) -> bool:
    """True for layers this plugin wrote (predictions, errors...)."""
    return bool(layer.metadata.get(ROLE))


def _class_picker(value: int):
    def pick_class(layer: Labels) -> None:
        layer.selected_label = value
        if layer.mode not in ("paint", "fill", "polygon"):
            layer.mode = "paint"

    pick_class.__doc__ = f"Paint with class {value}"
    return pick_class


def bind_class_hotkeys(layer: Labels) -> None:
    """Keys 1-9 pick that class (and the brush) while this labels layer is active.

    They replace napari's digit shortcuts for label *modes* on this layer only; the letter
    shortcuts (P paint, E erase, F fill, ...) still switch modes.
    """
    for value in range(1, 10):
        layer.bind_key(str(value), _class_picker(value), overwrite=True)


def size_text(layer: Layer, skip: int = 1) -> str:
    """``rows×cols`` of a cube (``skip=1``) or a label raster (``skip=0``), for messages."""
    return "×".join(str(n) for n in layer.data.shape[skip:])


def in_view(layer, shape: tuple[int, int], side: int) -> tuple[slice, slice]:
    """(rows, cols) of the part of ``layer`` (..., rows, cols) in view: its corner pixels,
    clipped to ``shape``; the central ``side`` square of the scene when nothing is drawn yet
    (no corners). For what a lazy cube maps of itself: the part a user looks at."""
    corners = np.asarray(getattr(layer, "corner_pixels", np.zeros((2, 2))), int)[:, -2:]
    (r0, c0), (r1, c1) = np.clip(corners[0], 0, shape), np.clip(corners[1] + 1, 0, shape)
    if r1 - r0 < 2 or c1 - c0 < 2:
        r0, c0 = (max(0, (n - side) // 2) for n in shape)
        r1, c1 = min(shape[0], r0 + side), min(shape[1], c0 + side)
    return slice(int(r0), int(r1)), slice(int(c0), int(c1))


def centred(span: slice, side: int) -> slice:
    """The middle ``side`` px of ``span`` (all of it when shorter)."""
    extra = max(0, span.stop - span.start - side)
    return slice(span.start + extra // 2, span.stop - (extra - extra // 2))
