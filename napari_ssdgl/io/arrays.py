"""NumPy .npy / .npz files (never unpickled).

.npy: a 3-D array is a cube, a 2-D integer array is a label raster. .npz: the largest 3-D array
is the cube, 2-D integer arrays are label rasters, a 1-D array as long as the band axis is the
wavelength list (a name like ``wavelengths`` wins). Without axis metadata the band axis is the
clearly smallest axis, else the odd one out next to two equal (square) spatial axes, else axis 0
(see ``_common.to_bands_first``): save cubes bands first to be unambiguous.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from napari_ssdgl.io._common import check_file, from_named_arrays
from napari_ssdgl.io.base import Cube, HSIReadError, LabelMap

NPY_MAGIC = b"\x93NUMPY"


def read_npy(path: str | Path) -> list[Cube | LabelMap]:
    p = check_file(path)
    with open(p, "rb") as fh:
        if fh.read(6) != NPY_MAGIC:
            raise HSIReadError(p, "not a NumPy .npy file (bad magic bytes)")
    try:
        arr = np.load(p, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise HSIReadError(
                p, "non-numeric data (an object array; pickles are not loaded)"
            ) from exc
        raise HSIReadError(p, f"truncated or corrupt .npy file ({exc})") from exc
    except Exception as exc:
        raise HSIReadError(p, f"truncated or corrupt .npy file ({exc})") from exc
    return from_named_arrays(p, {"": arr}, bands_last=False)


def read_npz(path: str | Path) -> list[Cube | LabelMap]:
    p = check_file(path)
    if not zipfile.is_zipfile(p):
        raise HSIReadError(p, "not a NumPy .npz file (not a zip archive)")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(p, allow_pickle=False) as npz:
            for key in npz.files:
                try:
                    arrays[key] = npz[key]
                except ValueError:  # object array: skip, reported as non-numeric if alone
                    arrays[key] = np.empty(0, dtype=object)
    except Exception as exc:
        raise HSIReadError(p, f"truncated or corrupt .npz file ({exc})") from exc
    if not arrays:
        raise HSIReadError(p, "the .npz archive holds no arrays")
    return from_named_arrays(p, arrays, bands_last=False, any_vector=True)
