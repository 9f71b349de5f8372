"""Helpers shared by the format readers: file checks, cube/label construction, layout rules.

Every reader funnels its arrays through :func:`make_cube` / :func:`make_labels` so that the
dtype bookkeeping, the NaN/inf warning and the error wording are the same for all formats.
"""

from __future__ import annotations

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


def band_axis_by_size(shape: tuple[int, ...]) -> int | None:
    """The axis that is at most half of each other axis ("clearly the smallest"), if any."""
    for ax, size in enumerate(shape):
        others = [s for i, s in enumerate(shape) if i != ax]
        if 2 * size <= min(others):
            return ax
    return None


def to_bands_first(arr: np.ndarray) -> np.ndarray:
    """Layout rule for 3-D arrays without axis metadata (.npy/.npz, TIFF without an 'S' axis).

    1. an axis that is clearly the smallest (at most half of each other axis) holds the bands;
    2. else, when exactly two axes have the same length, they are rows and cols (a square scene
       such as Indian Pines, 145 x 145 x 200) and the third axis holds the bands;
    3. else bands first, the layout this library writes.
    """
    ax = band_axis_by_size(arr.shape)
    if ax is None and len(set(arr.shape)) == 2:
        ax = next(i for i, n in enumerate(arr.shape) if arr.shape.count(n) == 1)
    return arr if ax in (None, 0) else np.moveaxis(arr, ax, 0)


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
) -> Cube:
    """A Cube from a bands-first array, recording (and warning about) non-finite values."""
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
    wl = None
    if wavelengths is not None:
        wl = np.asarray(wavelengths, dtype=float).ravel()
        if wl.size != data.shape[0]:
            notes.append(f"ignored {wl.size} wavelengths for {data.shape[0]} bands")
            wl = None
    return Cube(
        data=data,
        wavelengths=wl,
        wavelength_units=wavelength_units or None,
        source=str(path),
        name=name or path.stem,
        dtype=dtype,
        geo=geo or None,
        warnings=notes,
    )


def make_labels(
    data: np.ndarray,
    path: str | Path,
    *,
    name: str | None = None,
    class_names: dict | None = None,
    colors: dict | None = None,
) -> LabelMap:
    path = Path(path)
    return LabelMap(
        data=data,
        source=str(path),
        name=name or path.stem,
        class_names={int(k): str(v) for k, v in (class_names or {}).items()},
        colors={int(k): str(v) for k, v in (colors or {}).items()},
    )


def from_named_arrays(
    path: Path, arrays: dict[str, np.ndarray], *, bands_last: bool, any_vector: bool = False
) -> list[Cube | LabelMap]:
    """Pick cube, label rasters and wavelengths out of a file's variables (.mat, .npz).

    The largest 3-D numeric array is the cube; every 2-D integer raster is a label map; a 1-D
    (or 1xN) vector as long as the band axis and named like ``wavelength``/``wl``/``lambda`` is
    the wavelength list (with ``any_vector``, an unnamed vector of that length also counts).
    ``bands_last`` says the cube is stored (rows, cols, bands), as MATLAB does.
    """
    numeric = {}
    for k, v in arrays.items():
        if is_numeric(v):
            numeric[k] = v.squeeze() if v.ndim > 3 else v
    if not numeric:
        found = ", ".join(f"{k or 'array'}: {getattr(v, 'dtype', '?')}" for k, v in arrays.items())
        raise HSIReadError(path, f"non-numeric data: no numeric arrays found ({found or 'empty'})")

    items: list[Cube | LabelMap] = []
    cubes = [(v.size, k) for k, v in numeric.items() if v.ndim == 3]
    cube_key = max(cubes)[1] if cubes else None
    if cube_key is not None:
        raw = numeric[cube_key]
        data = np.moveaxis(raw, -1, 0) if bands_last else to_bands_first(raw)
        bands = data.shape[0]
        vectors = {
            k: v.ravel()
            for k, v in numeric.items()
            if v.ndim <= 2 and max(v.shape, default=0) == v.size == bands and bands > 1
        }
        named = [k for k in vectors if is_wavelength_name(k)]
        wl_key = named[0] if named else (next(iter(vectors), None) if any_vector else None)
        items.append(make_cube(data, path, wavelengths=None if wl_key is None else vectors[wl_key]))

    label_keys = [k for k, v in numeric.items() if k != cube_key and as_label_array(v) is not None]
    for k in label_keys:
        alone = cube_key is None and len(label_keys) == 1
        name = path.stem if alone or not k else f"{path.stem}_{k}"
        items.append(make_labels(as_label_array(numeric[k]), path, name=name))

    if not items:
        found = "; ".join(f"{k or 'array'}: {describe(v)}" for k, v in numeric.items())
        raise HSIReadError(path, f"no 3-D cube or 2-D integer label raster found ({found})")
    return items
