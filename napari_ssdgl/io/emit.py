"""EMIT L2A surface reflectance (NetCDF4, read as HDF5 with h5py).

The product's layout (EMIT-Data-Resources, ``emit_tools.emit_xarray``): ``reflectance``
(downtrack, crosstrack, bands) float32 with fill value -9999; group ``sensor_band_parameters``
with ``wavelengths`` and ``fwhm`` (nm) and ``good_wavelengths`` (0 = a band in a water-vapour
window the retrieval does not trust); group ``location`` with the geometry lookup table
``glt_x``/``glt_y`` (1-based crosstrack/downtrack index of the swath pixel for each cell of the
map grid, 0 = no pixel) and ``lat``/``lon``; root attributes ``geotransform`` (GDAL order, of
the GLT grid) and ``spatial_ref`` (WKT, WGS-84).

By default the cube is the swath as acquired (rows downtrack, cols crosstrack; no map grid).
``orthorectify=True`` applies the GLT: the cube is on the map grid (cells without a pixel NaN)
and ``Cube.geo`` holds its GeoTIFF tags, so class maps written from it are georeferenced.
``lazy.open_lazy(path, orthorectify=True)`` does the same tile by tile (``lazy.GLTSource``):
each tile of the grid reads only the box of the swath its GLT cells point into.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from napari_ssdgl.io._common import choose_band_axis, make_cube, to_bands_first
from napari_ssdgl.io._hdf5 import dataset, open_hdf5, vector
from napari_ssdgl.io.base import Cube, HSIReadError
from napari_ssdgl.io.geo import geo_tags

FILL_VALUE = -9999.0
EMIT_LAYOUT = (2, "format: EMIT reflectance is (downtrack, crosstrack, bands)")
KIND = "an EMIT L2A NetCDF4 file"
GRID_TILE = 256  # the in-memory orthorectification gathers the grid in tiles of this edge
SWATH_NOTE = ("swath geometry (rows downtrack, cols crosstrack), not a map grid: open with "
              "orthorectify=True (read_emit, open_lazy; 'convert --orthorectify') for "
              "georeferenced outputs")


def read_emit(path: str | Path, *, band_axis: int | None = None,
              orthorectify: bool = False) -> list[Cube]:
    """The reflectance cube of an EMIT L2A file, with wavelengths, FWHM and the
    ``good_wavelengths`` flags (as ``bad_bands``); on the map grid with ``orthorectify``."""
    p = Path(path)
    with open_hdf5(p, KIND) as f:
        ds, axis, (wl, fwhm, good), fill = emit_layout(p, f, band_axis)  # sizes checked
        stored, geo, notes = tuple(ds.shape), None, []
        if orthorectify:  # grid tile by grid tile: the swath is never read whole
            gx, gy = glt_arrays(p, f)
            geo = glt_geo(p, dict(f.attrs))
            rows, cols = (n for i, n in enumerate(stored) if i != axis[0])
            check_glt(p, gx, gy, rows, cols)
            data = np.empty((stored[axis[0]], *gx.shape), np.float32)
            for i in range(0, gx.shape[0], GRID_TILE):
                for j in range(0, gx.shape[1], GRID_TILE):
                    at = np.s_[i:i + GRID_TILE, j:j + GRID_TILE]
                    data[(slice(None), *at)] = gather_glt(
                        lambda y0, y1, x0, x1: _swath_box(ds, axis[0], y0, y1, x0, x1),
                        gx[at], gy[at], fill)
        else:
            notes.append(SWATH_NOTE)
            data = np.ascontiguousarray(to_bands_first(ds[()], axis[0]), dtype=np.float32)
            data[data == fill] = np.nan
    cube = make_cube(data, p, wavelengths=wl, wavelength_units="nm", fwhm=fwhm,
                     bad_bands=None if good is None else good == 0, geo=geo, band_axis=axis,
                     stored_shape=stored)
    cube.warnings.extend(notes)
    return [cube]


def emit_layout(p: Path, f, band_axis: int | None = None):
    """(reflectance dataset, (band axis, source), (wavelengths, fwhm, good_wavelengths),
    fill value) of an open EMIT file, its declared size checked against the file; nothing of
    the cube is read (shared by :func:`read_emit` and ``lazy.open_lazy``)."""
    if "reflectance" not in f:
        raise HSIReadError(p, f"not EMIT L2A reflectance: no 'reflectance' variable (found: "
                              f"{', '.join(sorted(f)) or 'nothing'})")
    ds = dataset(p, f, "reflectance", 3)
    axis = choose_band_axis(p, ds.shape, band_axis, stored=EMIT_LAYOUT)
    return ds, axis, _band_parameters(p, f, int(ds.shape[axis[0]])), _fill_value(ds)


def _band_parameters(p: Path, f, bands: int):
    group = f.get("sensor_band_parameters")
    if group is None or "wavelengths" not in group:
        raise HSIReadError(p, "no 'sensor_band_parameters/wavelengths' (not an EMIT L2A file?)")
    wl = vector(p, group["wavelengths"], "sensor_band_parameters/wavelengths", bands)
    fwhm = (vector(p, group["fwhm"], "sensor_band_parameters/fwhm", bands)
            if "fwhm" in group else None)
    good = (vector(p, group["good_wavelengths"], "sensor_band_parameters/good_wavelengths",
                   bands) if "good_wavelengths" in group else None)
    return wl, fwhm, good


def check_orthorectifiable(path: str | Path) -> None:
    """HSIReadError unless ``path`` is an EMIT L2A file (.nc): only it has a GLT."""
    if Path(path).suffix.lower() != ".nc":
        raise HSIReadError(path, "only an EMIT L2A file (.nc) has a GLT to orthorectify with")


def glt_indices(values) -> np.ndarray:
    """GLT values as int64 indices (a NaN or missing cell: 0, no pixel)."""
    return np.nan_to_num(np.asarray(values), nan=0).astype(np.int64)


def glt_arrays(p: Path, f) -> tuple[np.ndarray, np.ndarray]:
    """(glt_x, glt_y) of the open file ``f`` as int64 (0: no pixel), bounds not checked."""
    if "location" not in f or "glt_x" not in f["location"] or "glt_y" not in f["location"]:
        raise HSIReadError(p, "cannot orthorectify: no 'location/glt_x' and 'location/glt_y'")
    gx = dataset(p, f, "location/glt_x", 2)
    gy = dataset(p, f, "location/glt_y", 2)
    if gx.shape != gy.shape:
        raise HSIReadError(p, f"'location/glt_x' {gx.shape} and 'location/glt_y' {gy.shape} "
                              f"differ in shape")
    return glt_indices(gx[()]), glt_indices(gy[()])


def check_glt(path: str | Path, glt_x: np.ndarray, glt_y: np.ndarray, rows: int,
              cols: int) -> None:
    """HSIReadError when the GLT points outside a ``rows`` x ``cols`` swath (a corrupt file)."""
    valid = (glt_x > 0) & (glt_y > 0)
    if np.any(glt_x[valid] > cols) or np.any(glt_y[valid] > rows) or np.any(
            (glt_x < 0) | (glt_y < 0)):
        raise HSIReadError(path, f"the GLT points outside the {rows} x {cols} swath "
                                 f"(corrupt location group?)")


def gather_glt(read_box: Callable[[int, int, int, int], np.ndarray], glt_x: np.ndarray,
               glt_y: np.ndarray, fill: float) -> np.ndarray:
    """A block of the GLT grid, bands first: cell (i, j) takes swath pixel (glt_y - 1,
    glt_x - 1), a cell whose index is 0 (no pixel) or a fill value is NaN. Only the box of the
    swath the block points into is read: ``read_box(y0, y1, x0, x1)`` gives swath rows y0:y1,
    cols x0:x1, bands first (a grid tile maps onto a swath patch of about its size). The
    indices must be checked first (:func:`check_glt`)."""
    valid = (glt_x > 0) & (glt_y > 0)
    y, x = glt_y[valid] - 1, glt_x[valid] - 1
    if not y.size:
        box = np.asarray(read_box(0, 0, 0, 0))  # no pixel: only the band count is read
        return np.full((box.shape[0], *glt_x.shape), np.nan, np.float32)
    y0, x0 = int(y.min()), int(x.min())
    box = np.asarray(read_box(y0, int(y.max()) + 1, x0, int(x.max()) + 1))
    values = box[:, y - y0, x - x0].astype(np.float32)
    values[values == fill] = np.nan
    out = np.full((box.shape[0], *glt_x.shape), np.nan, np.float32)
    out[:, valid] = values
    return out


def read_glt(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(glt_x, glt_y) of an EMIT L2A file, as int64 (0: no pixel), bounds not checked."""
    p = Path(path)
    with open_hdf5(p, KIND) as f:
        return glt_arrays(p, f)


def labels_to_grid(labels: np.ndarray, glt_x: np.ndarray, glt_y: np.ndarray) -> np.ndarray:
    """A swath label raster on the GLT's map grid: each cell takes its swath pixel's label,
    cells without a pixel (and indices outside ``labels``) get 0."""
    rows, cols = labels.shape
    valid = (glt_x > 0) & (glt_y > 0) & (glt_x <= cols) & (glt_y <= rows)
    out = np.zeros(glt_x.shape, labels.dtype)
    out[valid] = labels[glt_y[valid] - 1, glt_x[valid] - 1]
    return out


def labels_to_swath(labels: np.ndarray, glt_x: np.ndarray, glt_y: np.ndarray,
                    shape: tuple[int, int]) -> np.ndarray:
    """A grid label raster back on the ``shape`` swath: each labelled cell labels the swath
    pixel it shows. A pixel shown by cells of different classes is left unlabelled (0), so no
    pixel trains on a class it may not have; a pixel no cell shows stays 0."""
    rows, cols = shape
    valid = ((labels > 0) & (glt_x > 0) & (glt_y > 0) & (glt_x <= cols) & (glt_y <= rows))
    flat = (glt_y[valid] - 1) * cols + glt_x[valid] - 1
    values = labels[valid]
    out = np.zeros(rows * cols, labels.dtype)
    out[flat] = values
    disagree = np.zeros(rows * cols, bool)
    disagree[flat[out[flat] != values]] = True  # another cell wrote a different class
    out[disagree] = 0
    return out.reshape(shape)


def _swath_box(ds, band_axis: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Swath rows y0:y1, cols x0:x1 of the stored dataset, bands first."""
    index = [slice(y0, y1), slice(x0, x1)]
    index.insert(band_axis, slice(None))
    return to_bands_first(ds[tuple(index)], band_axis)


def _fill_value(ds) -> float:
    value = ds.attrs.get("_FillValue")
    try:
        return float(np.asarray(value).ravel()[0]) if value is not None else FILL_VALUE
    except (TypeError, ValueError, IndexError):
        return FILL_VALUE


def glt_geo(p: Path, attrs: dict) -> dict | None:
    """GeoTIFF tags of the GLT grid from the root ``geotransform`` and ``spatial_ref``."""
    gt = attrs.get("geotransform")
    try:
        transform = tuple(float(v) for v in np.asarray(gt, dtype=float).ravel())
    except (TypeError, ValueError):
        transform = ()
    if len(transform) != 6:
        raise HSIReadError(p, "cannot georeference the orthorectified cube: no 6-value "
                              "'geotransform' attribute")
    try:
        return geo_tags(transform, wkt_epsg(attrs.get("spatial_ref")))
    except ValueError as exc:
        raise HSIReadError(p, f"cannot georeference the orthorectified cube ({exc})") from None


def wkt_epsg(wkt) -> int | None:
    """The EPSG code a WKT string ends with (its outermost ``AUTHORITY["EPSG", "n"]``)."""
    if isinstance(wkt, bytes):
        wkt = wkt.decode("utf-8", "replace")
    if not isinstance(wkt, str):
        return None
    found = re.findall(r'(?:AUTHORITY|ID)\s*\[\s*"EPSG"\s*,\s*"?(\d+)"?\s*\]', wkt)
    return int(found[-1]) if found else None
