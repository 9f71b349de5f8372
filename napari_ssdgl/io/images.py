"""PNG label rasters through Pillow (imageio's backend).

A palette PNG gives its indices as labels and its palette as class colours; a grey PNG gives
its values; an RGB PNG counts only when its three channels are equal (grey saved as RGB).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_ssdgl.io._common import (
    as_label_array,
    check_declared,
    check_file,
    describe,
    make_labels,
)
from napari_ssdgl.io.base import HSIReadError, LabelMap

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_png(path: str | Path, *, band_axis: int | None = None) -> list[LabelMap]:
    """The label raster of a PNG (``band_axis`` is accepted, as by every reader, and unused)."""
    from PIL import Image

    p = check_file(path)
    with open(p, "rb") as fh:
        if fh.read(8) != PNG_MAGIC:
            raise HSIReadError(p, "not a PNG file (bad signature)")
    try:
        with Image.open(p) as img:
            mode = img.mode
            bands = len(img.getbands())
            depth = 4 if mode in ("I", "F") else 2 if "16" in mode else 1
            check_declared(p, (img.height, img.width, bands), depth,
                           stored=p.stat().st_size, compressed=True, what="the PNG header")
            arr = np.array(img)
            palette = img.getpalette() if mode == "P" else None
    except (HSIReadError, MemoryError):
        raise
    except Exception as exc:
        raise HSIReadError(p, f"truncated or corrupt PNG ({type(exc).__name__}: {exc})") from exc
    if arr.ndim == 3:
        if arr.shape[2] >= 3 and all(np.array_equal(arr[..., 0], arr[..., i]) for i in (1, 2)):
            arr = arr[..., 0]
        else:
            raise HSIReadError(p, f"a colour image ({describe(arr)}), not a label raster")
    labels = as_label_array(arr)
    if labels is None:
        raise HSIReadError(p, f"not an integer label raster ({describe(arr)})")
    colors = {}
    if palette:
        for v in map(int, np.unique(labels)):
            if 0 < v and 3 * v + 2 < len(palette):
                colors[int(v)] = "#{:02x}{:02x}{:02x}".format(*palette[3 * v : 3 * v + 3])
    return [make_labels(labels, p, colors=colors)]
