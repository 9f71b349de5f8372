"""npe2 reader: hyperspectral cubes become Image layers, label rasters become Labels layers.

``get_reader`` never raises: a path it does not recognise (extension, file signature) or cannot
parse gets None so napari can offer another reader. For formats only this plugin opens (.mat,
ENVI, .npz) a parse failure is also reported as a warning, which napari shows as a notification,
so a truncated or corrupt file is explained; a plain 2-D .tif/.png/.npy is left to napari quietly.

With ``NAPARI_SSDGL_AUTO_RGB=1`` in the environment, each cube also opens with its RGB composite
(bands nearest 640/545/460 nm, see ``_rgb.py``), the view most users make first.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from napari_ssdgl.io import Cube, HSIReadError, LabelMap, can_read, read_path

_EXPLAIN = {".mat", ".hdr", ".npz"}  # suffixes napari has no other reader for
AUTO_RGB_ENV = "NAPARI_SSDGL_AUTO_RGB"


def get_reader(path):
    """Return a reader function for ``path`` (a path or list of paths), or None."""
    paths = [path] if isinstance(path, (str, Path)) else path
    if not isinstance(paths, (list, tuple)) or not paths:
        return None
    try:
        if not all(isinstance(p, (str, Path)) and can_read(p) for p in paths):
            return None
        layers = []
        for p in paths:
            for item in read_path(p):
                layers.append(layer_data(item))
                if isinstance(item, Cube) and os.environ.get(AUTO_RGB_ENV) == "1":
                    from ._rgb import composite_layer_data

                    layers.extend(composite_layer_data(item.data, item.metadata(), item.name))
    except Exception as exc:  # HSIReadError or anything unexpected: never raise into napari
        if any(Path(p).suffix.lower() in _EXPLAIN for p in paths):
            msg = str(exc) if isinstance(exc, HSIReadError) else f"{path}: {exc}"
            warnings.warn(f"napari-ssdgl could not read {msg}", UserWarning, stacklevel=2)
        return None

    def reader(_path) -> list[tuple]:
        return layers

    return reader


def layer_data(item: Cube | LabelMap) -> tuple:
    """The napari LayerData tuple for a cube (image, bands first) or a label map (labels)."""
    if isinstance(item, Cube):
        kwargs: dict = {
            "name": item.name,
            "metadata": item.metadata(),
            "rgb": False,
            "axis_labels": ("band", "y", "x"),
        }
        limits = robust_limits(item.data)
        if limits is not None:
            kwargs["contrast_limits"] = limits
        return item.data, kwargs, "image"
    kwargs = {"name": item.name, "metadata": item.metadata(), "axis_labels": ("y", "x")}
    present = {int(v) for v in np.unique(item.data)} - {0}
    if item.colors and present <= set(item.colors):
        kwargs["colormap"] = {**dict(item.colors), 0: "transparent", None: "transparent"}
    return item.data, kwargs, "labels"


def robust_limits(data: np.ndarray, max_samples: int = 1_000_000) -> list[float] | None:
    """1st and 99th percentile of the finite values (on a strided sample of big cubes)."""
    flat = data.reshape(-1)
    sample = flat[:: max(1, flat.size // max_samples)]
    if sample.dtype.kind == "f":
        sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return None
    lo, hi = (float(v) for v in np.percentile(sample, [1, 99]))
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
    if hi <= lo:
        hi = lo + 1.0
    return [lo, hi]
