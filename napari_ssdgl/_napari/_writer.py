"""npe2 writer: save a Labels layer (class map) as a GeoTIFF (.tif/.tiff), an ENVI
classification (.hdr, with its .img) or .npy, as napari's File > Save Selected Layers asks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_ssdgl.io import write_class_map
from napari_ssdgl.io.writers import WRITE_SUFFIXES


def write_labels(path: str, data, meta: dict) -> list[str]:
    """Write one labels layer; geo tags, class names and colours come from its metadata."""
    if isinstance(data, (list, tuple)):  # multiscale: the full-resolution level
        data = data[0]
    md = (meta or {}).get("metadata") or {}
    p = Path(path)
    if p.suffix.lower() not in WRITE_SUFFIXES:
        p = p.with_name(p.name + ".tif")
    written = write_class_map(
        p,
        np.asarray(data),
        geo=md.get("geo"),
        class_names=md.get("class_names"),
        colors=md.get("class_colors") or md.get("colors"),
    )
    return [str(written)]
