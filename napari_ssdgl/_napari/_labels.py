"""Training-label layers: a blank one the size of the cube, or one imported from a file.

Both carry ``class_names``/``class_colors`` metadata (from the scene registry, the ground truth
or the file) so the classes table, the trained model and saved class maps agree on them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.layers import Image, Labels, Layer

from napari_ssdgl._napari._layers import class_colors, class_names, label_colormap
from napari_ssdgl._napari._remap import remap_keys, remap_values
from napari_ssdgl.io import read_labels

PALETTE_VALUES = range(1, 33)  # values that get a palette colour before any is registered


def add_blank_labels(viewer, cube: Image, source: Layer | None = None) -> Labels:
    """A zero 2-D layer the cube's rows x cols, classes from ``source`` (or the cube), in paint
    mode and selected, ready for the brush."""
    names = class_names(source) or class_names(cube)
    colors = class_colors(source or cube, names) if names else {}
    rows_cols = cube.data.shape[1:]
    layer = viewer.add_labels(
        np.zeros(rows_cols, dtype=np.uint16), name=f"{cube.name} training labels",
        scale=cube.scale[-2:], translate=cube.translate[-2:],
        metadata={"class_names": names, "class_colors": colors},
        colormap=label_colormap(colors, PALETTE_VALUES),
    )
    viewer.layers.selection.active = layer
    layer.mode = "paint"
    layer.brush_size = max(1, min(rows_cols) // 64)
    layer.selected_label = min(names) if names else 1
    return layer


def add_imported_labels(
    viewer, path: str | Path, remap: dict[int, int] | None, cube: Image | None
) -> tuple[Labels, str | None]:
    """Read a label raster (any format the readers take), remap values, add it as a layer.

    Returns the layer and a warning when its shape does not match ``cube``. Reader errors
    (``HSIReadError``, a ``ValueError``; ``OSError``) propagate for the caller to report.
    """
    lm = read_labels(path)
    data = remap_values(lm.data, remap or {})
    names = remap_keys(lm.class_names, remap or {})
    colors = remap_keys(lm.colors, remap or {})
    kwargs, warning = {}, None
    if cube is not None:
        if data.shape == tuple(cube.data.shape[1:]):
            kwargs = dict(scale=cube.scale[-2:], translate=cube.translate[-2:])
        else:
            warning = (f"The labels in {Path(path).name} are {data.shape[0]}×{data.shape[1]} but "
                       f"the cube '{cube.name}' is {cube.data.shape[1]}×{cube.data.shape[2]}; "
                       "they were added but cannot train on this cube.")
    layer = viewer.add_labels(
        data, name=lm.name or Path(path).stem,
        metadata={"class_names": names, "class_colors": colors, "source": str(path)},
        colormap=label_colormap(colors, PALETTE_VALUES), **kwargs)
    return layer, warning
