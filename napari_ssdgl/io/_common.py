"""Helpers shared by the format readers: file checks, cube/label construction, layout rules.

Every reader funnels its arrays through :func:`make_cube` / :func:`make_labels` so that the
dtype bookkeeping, the NaN/inf warning and the error wording are the same for all formats.
"""

from __future__ import annotations

import math
import operator
import os
import re
import warnings
from pathlib import Path

import numpy as np

from napari_ssdgl.io.base import Cube, HSIReadError, LabelMap

_WAVELENGTH_NAME = re.compile(
    r"^(wavelengths?|wl|wls|lambdas?|wave|waves|band_?centers?)(_\w+)?$", re.I
)


def check_file(path: str | Path) -> Path:
    """The path as a Path, or HSIReadError when it is missing, a directory or empty."""
    p = Path(path)
    if not p.exists():
        raise HSIReadError(p, "file not found")
    if p.is_dir():
        raise HSIReadError(p, "is a directory, not a file")
    if p.stat().st_size == 0:
        raise HSIReadError(p, "file is empty (0 bytes)")
    return p


def is_wavelength_name(name: str) -> bool:
    """True for variable names such as wavelength, wavelengths, wl, lambda, wavelength_nm."""
    return bool(_WAVELENGTH_NAME.match(name.strip()))


def is_numeric(arr: np.ndarray) -> bool:
    return isinstance(arr, np.ndarray) and arr.dtype.kind in "biuf"


def describe(arr: np.ndarray) -> str:
    """Short human description of an array, for error messages."""
    return f"{arr.ndim}-D {arr.dtype} array of shape {tuple(arr.shape)}"


def native(arr: np.ndarray) -> np.ndarray:
    """The array in native byte order (ENVI/TIFF/HDF5 data may be big-endian)."""
    if arr.dtype.byteorder not in ("=", "|") and not arr.dtype.isnative:
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr


# What a header may declare (see check_declared): generous for real scenes, small enough that a
# corrupt or hostile header cannot make a reader allocate, map or chunk without bound.
MAX_ELEMENTS = 10**13  # values in one array (40 TB of float32; 100 000 x 100 000 x 500 is 5e12)
MAX_CHUNKS = 2**20  # chunks of one lazy array: the dask graph stays small (~1 M tasks)
MAX_CHUNK_BYTES = 2**31  # bytes of one chunk, what one task reads (2 GiB)
MAX_RATIO = 1024  # declared bytes per stored byte of a compressed array (deflate tops out ~1032)
RATIO_FLOOR = 64 * 2**20  # ... but a compressed array may always declare up to 64 MiB


def check_declared(
    path: str | Path,
    shape,
    itemsize: int,
    *,
    stored: int | None = None,
    compressed: bool = False,
    chunks=None,
    allow_empty: bool = False,
    what: str = "the header",
    holder: str | None = None,
) -> int:
    """The one check of what a file's header declares, made before anything is allocated,
    memory-mapped or chunked; returns the declared bytes (shape x itemsize).

    Every dimension is a positive integer (a zero-size dimension is an error unless
    ``allow_empty``, for the empty variables of .mat/.npz files, which are skipped); at most
    :data:`MAX_ELEMENTS` values. ``stored`` is what holds the data: for an uncompressed array
    the file's bytes after the header (the data must fit in them), for a compressed one its
    compressed bytes (it may declare at most :data:`MAX_RATIO` times as much, or
    :data:`RATIO_FLOOR`); None where missing data are legitimately fill values (zarr chunks).
    ``chunks`` (the chunk shape of a lazy array): at most :data:`MAX_CHUNKS` chunks of at most
    :data:`MAX_CHUNK_BYTES` each. ``what`` names the declaration in messages, ``holder`` the
    file that holds the data when it is not ``path`` (an ENVI data file).
    """
    p = Path(path)
    try:
        dims = tuple(operator.index(n) for n in shape)
        itemsize = operator.index(itemsize)
    except TypeError:
        raise HSIReadError(p, f"{what} declares a shape that is not a tuple of integers "
                              f"({shape!r})") from None
    shown = _shape(dims)
    if any(n < 0 for n in dims):
        raise HSIReadError(p, f"{what} declares a negative dimension (shape {shown})")
    if 0 in dims and not allow_empty:
        raise HSIReadError(p, f"{what} declares a zero-size dimension (shape {shown})")
    values = math.prod(dims)
    if values > MAX_ELEMENTS:
        raise HSIReadError(p, f"{what} declares {values:,} values (shape {shown}), more than "
                              f"the {MAX_ELEMENTS:,} a reader accepts (corrupt header?)")
    declared = values * itemsize
    if stored is not None:
        stored = max(0, int(stored))
        if not compressed and declared > stored:
            raise HSIReadError(p, f"{what} declares {declared:,} bytes of data (shape {shown} x "
                                  f"{itemsize} bytes) but {holder or 'the file'} holds only "
                                  f"{stored:,}: "
                                  f"truncated, or a corrupt header")
        if compressed and declared > max(MAX_RATIO * stored, RATIO_FLOOR):
            raise HSIReadError(p, f"{what} declares {declared:,} bytes of data (shape {shown} x "
                                  f"{itemsize} bytes) held in {stored:,} bytes, more than "
                                  f"{MAX_RATIO} times compression (corrupt header?)")
    if chunks is not None and values:
        try:
            edges = tuple(operator.index(c) for c in chunks)
        except TypeError:
            raise HSIReadError(p, f"{what} declares chunks that are not integers "
                                  f"({chunks!r})") from None
        if len(edges) != len(dims) or any(c <= 0 for c in edges):
            raise HSIReadError(p, f"{what} declares chunks {_shape(edges)} for shape {shown}")
        count = math.prod(-(-n // c) for n, c in zip(dims, edges, strict=True))
        if count > MAX_CHUNKS:
            raise HSIReadError(p, f"shape {shown} in chunks of {_shape(edges)} makes {count:,} "
                                  f"chunks, more than the {MAX_CHUNKS:,} a lazy cube may have "
                                  f"(corrupt header, or choose a larger tile)")
        chunk_bytes = math.prod(min(n, c) for n, c in zip(dims, edges, strict=True)) * itemsize
        if chunk_bytes > MAX_CHUNK_BYTES:
            raise HSIReadError(p, f"chunks of {_shape(edges)} hold {chunk_bytes:,} bytes each, "
                                  f"more than the {MAX_CHUNK_BYTES:,} one read may take")
    return declared


def _shape(dims) -> str:
    return "(" + ", ".join(str(n) for n in dims) + ")"


def file_identity(*paths: str | Path) -> tuple:
    """(resolved path, size, mtime_ns) of each file: what a cache or a dask token is keyed on
    besides the path, so that a file replaced at the same path is read afresh."""
    out = []
    for path in paths:
        st = os.stat(path)
        out.append((str(Path(path).resolve()), int(st.st_size), int(st.st_mtime_ns)))
    return tuple(out)


BAND_AXIS_RULE = "two equal axes are rows and cols, else the smallest axis holds the bands"


def band_axis_by_size(shape: tuple[int, ...]) -> tuple[int, str]:
    """The band axis of a 3-D array without axis metadata, and how it was chosen.

    The rule the README states: two equal axes are rows and cols and the third holds the bands
    (a square scene such as Indian Pines, 145 x 145 x 200); otherwise the smallest axis holds
    the bands (a (40, 50, 30) array has 30 bands). Three equal axes: axis 0 (bands first, the
    layout this library writes).
    """
    shape = tuple(int(n) for n in shape)
    if len(set(shape)) == 1:
        return 0, "rule: all axes equal, bands first"
    if len(set(shape)) == 2:
        return next(i for i, n in enumerate(shape) if shape.count(n) == 1), (
            "rule: two equal axes are rows and cols")
    return shape.index(min(shape)), "rule: the smallest axis"


def choose_band_axis(
    path: str | Path, shape: tuple[int, ...], band_axis: int | None = None, *,
    stored: tuple[int, str] | None = None,
) -> tuple[int, str]:
    """(axis, source) of the bands in a 3-D array as the file stores it: the reader's
    ``band_axis`` option first, then the file's own layout (``stored``: axis and its source,
    e.g. an ENVI interleave), then :func:`band_axis_by_size`."""
    if band_axis is not None:
        if isinstance(band_axis, bool) or not isinstance(band_axis, (int, np.integer)) or not (
            -len(shape) <= band_axis < len(shape)
        ):
            raise HSIReadError(path, f"band_axis={band_axis!r} is not an axis of its "
                                     f"{len(shape)}-D array of shape {_shape(shape)}")
        return int(band_axis) % len(shape), "option: band_axis"
    if stored is not None:
        return stored
    return band_axis_by_size(shape)


def to_bands_first(arr: np.ndarray, axis: int) -> np.ndarray:
    """The array with its band axis ``axis`` moved to the front (a view)."""
    return arr if axis == 0 else np.moveaxis(arr, axis, 0)


def as_label_array(arr: np.ndarray) -> np.ndarray | None:
    """A 2-D integer raster, or None when ``arr`` is not one.

    Integral floats count (MATLAB stores many ground truths as double) and are cast to the
    smallest integer type that holds them.
    """
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or min(arr.shape) < 2:
        return None
    kind = arr.dtype.kind
    if kind == "b":
        return arr.astype(np.uint8)
    if kind in "iu":
        return np.ascontiguousarray(native(arr))
    if kind == "f" and arr.size:
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            return None
        lo, hi = int(arr.min()), int(arr.max())
        if lo < -(2**31) or hi >= 2**31:
            return None
        dtype = np.result_type(np.min_scalar_type(lo), np.min_scalar_type(hi))
        return np.ascontiguousarray(arr.astype(dtype))
    return None


def make_cube(
    data: np.ndarray,
    path: str | Path,
    *,
    wavelengths=None,
    wavelength_units: str | None = None,
    geo: dict | None = None,
    name: str | None = None,
    band_axis: tuple[int, str] | None = None,
    stored_shape: tuple[int, ...] | None = None,
    fwhm=None,
    bad_bands=None,
) -> Cube:
    """A Cube from a bands-first array, recording (and warning about) non-finite values;
    ``band_axis`` is the (axis, source) the bands came from in the ``stored_shape`` array.
    ``wavelengths``, ``fwhm`` and ``bad_bands`` of another length than the bands are dropped
    with a note."""
    path = Path(path)
    if data.ndim != 3:
        raise HSIReadError(path, f"expected a 3-D cube (bands, rows, cols), found {describe(data)}")
    if not is_numeric(data):
        raise HSIReadError(path, f"non-numeric data (dtype {data.dtype})")
    data = native(data)
    dtype = str(data.dtype)
    if data.dtype.kind == "b":
        data = data.astype(np.uint8)
    data = np.ascontiguousarray(data)
    notes: list[str] = []
    if data.dtype.kind == "f":
        bad = int(data.size - np.count_nonzero(np.isfinite(data)))
        if bad:
            notes.append(
                f"{bad} non-finite value(s) (NaN/inf) in the cube ({bad / data.size:.2%} of values)"
            )
            warnings.warn(f"{path}: {notes[-1]}", UserWarning, stacklevel=3)
    wl = per_band(wavelengths, data.shape[0], float, "wavelengths", notes)
    return Cube(
        data=data,
        wavelengths=wl,
        wavelength_units=wavelength_units or None,
        source=str(path),
        name=name or path.stem,
        dtype=dtype,
        geo=geo or None,
        warnings=notes,
        band_axis=None if band_axis is None else band_axis[0],
        band_axis_source=None if band_axis is None else band_axis[1],
        stored_shape=None if stored_shape is None else tuple(int(n) for n in stored_shape),
        fwhm=per_band(fwhm, data.shape[0], float, "FWHM values", notes),
        bad_bands=per_band(bad_bands, data.shape[0], bool, "bad-band flags", notes),
    )


def per_band(values, bands: int, kind: type, what: str, notes: list[str]) -> np.ndarray | None:
    """A file's per-band list as a 1-D array of ``kind``, or None when absent, not numbers or
    not one per band (then a note says so: the list describes some other cube)."""
    if values is None:
        return None
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        notes.append(f"ignored {what} that are not numbers")
        return None
    if arr.size != bands:
        notes.append(f"ignored {arr.size} {what} for {bands} bands")
        return None
    return arr != 0 if kind is bool else arr.astype(kind)


def make_labels(
    data: np.ndarray,
    path: str | Path,
    *,
    name: str | None = None,
    class_names: dict | None = None,
    colors: dict | None = None,
    geo: dict | None = None,
) -> LabelMap:
    path = Path(path)
    return LabelMap(
        data=data,
        source=str(path),
        name=name or path.stem,
        class_names={int(k): str(v) for k, v in (class_names or {}).items()},
        colors={int(k): str(v) for k, v in (colors or {}).items()},
        geo=geo,
    )


MATLAB_LAYOUT = (2, "format: MATLAB arrays are rows x cols x bands")


def from_named_arrays(
    path: Path, arrays: dict[str, np.ndarray], *, bands_last: bool, any_vector: bool = False,
    band_axis: int | None = None,
) -> list[Cube | LabelMap]:
    """Pick cube, label rasters and wavelengths out of a file's variables (.mat, .npz).

    The largest 3-D numeric array is the cube; every 2-D integer raster is a label map; a 1-D
    (or 1xN) vector as long as the band axis and named like ``wavelength``/``wl``/``lambda`` is
    the wavelength list (with ``any_vector``, an unnamed vector of that length also counts).
    ``bands_last`` says the cube is stored (rows, cols, bands), as MATLAB does; otherwise the
    band axis is chosen by :func:`choose_band_axis` (``band_axis`` overrides either). Empty
    (zero-size) variables are skipped.
    """
    numeric = {}
    for k, v in arrays.items():
        if is_numeric(v):
            numeric[k] = v.squeeze() if v.ndim > 3 else v
    empty = {k: v for k, v in numeric.items() if v.size == 0}
    numeric = {k: v for k, v in numeric.items() if v.size}
    if not numeric and empty:
        found = "; ".join(f"{k or 'array'}: {describe(v)}" for k, v in empty.items())
        raise HSIReadError(path, f"only empty (zero-size) arrays ({found})")
    if not numeric:
        found = ", ".join(f"{k or 'array'}: {getattr(v, 'dtype', '?')}" for k, v in arrays.items())
        raise HSIReadError(path, f"non-numeric data: no numeric arrays found ({found or 'empty'})")

    items: list[Cube | LabelMap] = []
    cubes = [(v.size, k) for k, v in numeric.items() if v.ndim == 3]
    cube_key = max(cubes)[1] if cubes else None
    if cube_key is not None:
        raw = numeric[cube_key]
        axis = choose_band_axis(path, raw.shape, band_axis,
                                stored=MATLAB_LAYOUT if bands_last else None)
        data = to_bands_first(raw, axis[0])
        bands = data.shape[0]
        vectors = {
            k: v.ravel()
            for k, v in numeric.items()
            if v.ndim <= 2 and max(v.shape, default=0) == v.size == bands and bands > 1
        }
        named = [k for k in vectors if is_wavelength_name(k)]
        wl_key = named[0] if named else (next(iter(vectors), None) if any_vector else None)
        items.append(make_cube(data, path, wavelengths=None if wl_key is None else vectors[wl_key],
                               band_axis=axis, stored_shape=raw.shape))

    label_keys = [k for k, v in numeric.items() if k != cube_key and as_label_array(v) is not None]
    for k in label_keys:
        alone = cube_key is None and len(label_keys) == 1
        name = path.stem if alone or not k else f"{path.stem}_{k}"
        items.append(make_labels(as_label_array(numeric[k]), path, name=name))

    if not items:
        found = "; ".join(f"{k or 'array'}: {describe(v)}" for k, v in numeric.items())
        raise HSIReadError(path, f"no 3-D cube or 2-D integer label raster found ({found})")
    return items
