"""Multiband TIFF / GeoTIFF through tifffile.

Band-axis rule for a 3-D series (first series of the file, singleton axes dropped):

1. If tifffile reports a samples axis ``S`` (planar ``SYX``, i.e. PlanarConfiguration=2 as GDAL
   writes band-sequential GeoTIFFs, or contiguous ``YXS``, pixel-interleaved), that axis holds the
   bands: the file itself says which values belong to one pixel.
2. Otherwise (a page stack, ``IYX``/``QYX``/``ZYX``/``CYX``...) the rule of every reader
   without axis metadata (``_common.band_axis_by_size``): two equal axes are rows and cols and
   the third holds the bands (a 145 x 145 x 200 Indian Pines array written page per row);
   otherwise the smallest axis holds the bands (200 pages of 145 x 150, or a bands-last array
   written naively as one page per row).
3. ``band_axis=`` (an axis of the series with its singleton axes dropped) overrides both.

The series' declared shape and dtype are checked against the file's size before anything is
read (``_common.check_declared``: an uncompressed series must fit in the file, a compressed one
may not claim more than the compression-ratio cap).

A 2-D image is a label raster when it is integer (or integral float); class names and colours
written by :func:`napari_ssdgl.io.write_class_map` are read back from the JSON description.
GeoTIFF tags are kept in ``Cube.geo`` as ``{tag code: JSON-friendly value}``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_ssdgl.io._common import (
    as_label_array,
    check_declared,
    check_file,
    choose_band_axis,
    describe,
    make_cube,
    make_labels,
    to_bands_first,
)
from napari_ssdgl.io.base import Cube, HSIReadError, LabelMap

GEO_TAGS = {
    33550: "ModelPixelScaleTag",
    33922: "ModelTiepointTag",
    34264: "ModelTransformationTag",
    34735: "GeoKeyDirectoryTag",
    34736: "GeoDoubleParamsTag",
    34737: "GeoAsciiParamsTag",
    42113: "GDAL_NODATA",
}


def check_series(path: Path, series, *, chunks=None) -> int:
    """``check_declared`` for a tifffile series (the file's size is what holds its data)."""
    if series.dtype is None:
        raise HSIReadError(path, "the TIFF declares no data type it can be read as")
    compressed = int(getattr(series.keyframe, "compression", 1) or 1) != 1
    return check_declared(path, series.shape, np.dtype(series.dtype).itemsize,
                          stored=path.stat().st_size, compressed=compressed, chunks=chunks,
                          what="the TIFF header")


def read_tiff(path: str | Path, *, band_axis: int | None = None) -> list[Cube | LabelMap]:
    """The cube (3-D) or label raster (2-D integer) of a TIFF file."""
    import tifffile

    p = check_file(path)
    try:
        with tifffile.TiffFile(p) as tf:
            if not tf.series:
                raise HSIReadError(p, "the TIFF holds no image series")
            series = tf.series[0]
            check_series(p, series)
            arr = series.asarray()
            axes = series.axes
            geo = read_geo_tags(tf.pages[0])
            shaped = tf.shaped_metadata[0] if tf.shaped_metadata else {}
    except (HSIReadError, MemoryError):
        raise
    except tifffile.TiffFileError as exc:
        raise HSIReadError(p, f"not a TIFF file ({exc})") from exc
    except Exception as exc:  # truncated strips, unsupported compression, ...
        raise HSIReadError(p, f"cannot read TIFF ({type(exc).__name__}: {exc})") from exc

    keep = [i for i, n in enumerate(arr.shape) if n != 1]
    if len(keep) < arr.ndim and len(keep) >= 2:
        axes = "".join(axes[i] for i in keep)
        arr = arr.reshape([arr.shape[i] for i in keep])
    if arr.ndim == 3:
        axis = tiff_band_axis(p, arr.shape, axes, band_axis)
        return [make_cube(to_bands_first(arr, axis[0]), p, geo=geo, band_axis=axis,
                          stored_shape=arr.shape)]
    if arr.ndim == 2:
        labels = as_label_array(arr)
        if labels is None:
            raise HSIReadError(
                p, f"a single-band image ({describe(arr)}): neither a 3-D cube nor integer labels"
            )
        return [
            make_labels(
                labels,
                p,
                class_names=_int_keys(shaped.get("class_names")),
                colors=_int_keys(shaped.get("colors")),
                geo=geo,
            )
        ]
    raise HSIReadError(p, f"unsupported TIFF layout: {describe(arr)} with axes {axes!r}")


def tiff_band_axis(path: Path, shape: tuple[int, ...], axes: str,
                   band_axis: int | None = None) -> tuple[int, str]:
    """(axis, source) of the bands in a 3-D TIFF series (rule in the module docstring)."""
    stored = None
    if len(axes) == 3 and axes.count("S") == 1:
        stored = axes.index("S"), "metadata: TIFF samples axis"
    return choose_band_axis(path, shape, band_axis, stored=stored)


def read_geo_tags(page) -> dict[int, object] | None:
    """GeoTIFF tags of a page as {code: value} with plain Python values (lists, str, numbers)."""
    geo = {}
    for code in GEO_TAGS:
        tag = page.tags.get(code)
        if tag is not None:
            geo[code] = _plain(tag.value)
    return geo or None


def _plain(value):
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\x00")
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _int_keys(d) -> dict:
    if not isinstance(d, dict):
        return {}
    out = {}
    for k, v in d.items():
        try:
            out[int(k)] = v
        except (TypeError, ValueError):
            continue
    return out
