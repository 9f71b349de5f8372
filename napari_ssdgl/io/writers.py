"""Class-map output: GeoTIFF (.tif/.tiff), ENVI classification (.hdr + .img) and .npy.

Values are stored in the smallest unsigned type that holds them (uint8, uint16, uint32).
In a TIFF, class names and colours go in the JSON image description (tifffile's shaped metadata,
read back by ``read_labels``) and GeoTIFF tags from ``Cube.geo`` are written back unchanged so the
map stays georeferenced like its cube. An ENVI output carries names and colours in its header,
and the same grid as ``map info`` (with a ``coordinate system string`` for UTM and geographic
WGS-84; see ``io.geo.envi_map_fields``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from napari_ssdgl.io._common import as_label_array
from napari_ssdgl.io.atomic import atomic_outputs
from napari_ssdgl.io.geo import envi_map_fields

# GeoTIFF tag code -> tifffile dtype code ('d' double, 'H' ushort, 's' ASCII)
GEO_DTYPES = {33550: "d", 33922: "d", 34264: "d", 34735: "H", 34736: "d", 34737: "s", 42113: "s"}
WRITE_SUFFIXES = (".tif", ".tiff", ".npy", ".hdr")


def write_class_map(
    path: str | Path,
    labels2d,
    *,
    geo: dict | None = None,
    class_names: dict | None = None,
    colors: dict | None = None,
) -> Path:
    """Write a 2-D label map; returns the path written (the header for ENVI)."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in WRITE_SUFFIXES:
        raise ValueError(
            f"{p}: cannot write a class map as '{ext}' (use {', '.join(WRITE_SUFFIXES)})"
        )
    arr = np.asarray(labels2d)
    labels = as_label_array(arr)
    if labels is None:
        raise ValueError(
            f"{p}: a class map must be a 2-D integer array, got {arr.dtype} {arr.shape}"
        )
    if labels.size and labels.min() < 0:
        raise ValueError(f"{p}: a class map cannot hold negative values (min {labels.min()})")
    top = int(labels.max()) if labels.size else 0
    dtype = np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.uint32
    labels = labels.astype(dtype, copy=False)
    names = {int(k): str(v) for k, v in (class_names or {}).items()}
    cols = {int(k): str(v) for k, v in (colors or {}).items()}
    # complete or absent: under a temporary name of the same suffix, then renamed (ENVI: the
    # data file first, the header that readers look for last)
    targets = [p.with_suffix(".img"), p] if ext == ".hdr" else [p]
    if ext == ".hdr":  # the grid as 'map info'; what the header cannot say is a warning
        fields, note = envi_map_fields(geo)
        if note:
            warnings.warn(f"{p}: {note}", UserWarning, stacklevel=2)
    with atomic_outputs(targets, overwrite=True, keep_suffix=True) as tmps:
        tmp = tmps[-1]
        if ext == ".npy":
            np.save(tmp, labels)
        elif ext == ".hdr":
            _write_envi(tmp, labels, names, cols, fields)
        else:
            import tifffile

            meta = {
                "class_names": {str(k): v for k, v in names.items()},
                "colors": {str(k): v for k, v in cols.items()},
            }
            tifffile.imwrite(
                tmp,
                labels,
                photometric="minisblack",
                compression="zlib",
                metadata=meta,
                extratags=geo_extratags(geo),
            )
    return p


def geo_extratags(geo: dict | None) -> list[tuple]:
    """tifffile ``extratags`` for the GeoTIFF tags in ``geo`` ({code or str(code): value})."""
    tags = []
    for key, value in (geo or {}).items():
        try:
            code = int(key)
        except (TypeError, ValueError):
            continue
        dt = GEO_DTYPES.get(code)
        if dt is None or value is None:
            continue
        if dt == "s":
            tags.append((code, "s", 0, str(value), True))
        else:
            vals = np.atleast_1d(np.asarray(value, dtype=float)).ravel()
            vals = tuple(int(v) for v in vals) if dt == "H" else tuple(float(v) for v in vals)
            tags.append((code, dt, len(vals), vals, True))
    return sorted(tags)


def _write_envi(path: Path, labels: np.ndarray, names: dict, cols: dict,
                fields: dict) -> None:
    from spectral.io import envi

    top = max([int(labels.max()) if labels.size else 0, *names, *cols])
    class_names = [names.get(i, "Unclassified" if i == 0 else f"class {i}") for i in range(top + 1)]
    lut = [_rgb(cols.get(i, "#000000")) for i in range(top + 1)]
    envi.save_classification(
        str(path), labels, class_names=class_names, class_colors=lut, metadata=fields,
        force=True
    )


def _rgb(color: str) -> list[int]:
    c = color.lstrip("#")
    return [int(c[i : i + 2], 16) for i in (0, 2, 4)] if len(c) >= 6 else [0, 0, 0]
