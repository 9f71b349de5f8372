"""NumPy .npy / .npz files (never unpickled).

.npy: a 3-D array is a cube, a 2-D integer array is a label raster. .npz: the largest 3-D array
is the cube, 2-D integer arrays are label rasters, a 1-D array as long as the band axis is the
wavelength list (a name like ``wavelengths`` wins). Without axis metadata the band axis follows
``_common.band_axis_by_size``: two equal axes are rows and cols (the third holds the bands),
otherwise the smallest axis holds the bands; ``band_axis=`` chooses another.

The header of every array (shape, dtype) is read and checked against the bytes that hold it
(``_common.check_declared``) before any array is allocated.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from napari_ssdgl.io._common import check_declared, check_file, from_named_arrays
from napari_ssdgl.io.base import Cube, HSIReadError, LabelMap

NPY_MAGIC = b"\x93NUMPY"
_MAX_HEADER = 100_000  # bytes of an .npy header (numpy's own default limit is 10 000)


def npy_header(fh, path: Path) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """(shape, dtype, fortran_order, data offset) from an open .npy stream at its start."""
    from numpy.lib import format as npformat

    try:
        version = npformat.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(fh, max_header_size=_MAX_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = npformat.read_array_header_2_0(fh, max_header_size=_MAX_HEADER)
        else:
            shape, fortran, dtype = npformat._read_array_header(
                fh, version, max_header_size=_MAX_HEADER)
        return tuple(shape), np.dtype(dtype), bool(fortran), fh.tell()
    except Exception as exc:  # ValueError for a bad header, SyntaxError, EOF, ...
        raise HSIReadError(path, f"truncated or corrupt .npy header ({type(exc).__name__}: "
                                 f"{exc})") from exc


def _object_error(path: Path) -> HSIReadError:
    return HSIReadError(path, "non-numeric data (an object array; pickles are not loaded)")


def checked_npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of an .npy file whose header fits the file's size."""
    with open(path, "rb") as fh:
        if fh.read(6) != NPY_MAGIC:
            raise HSIReadError(path, "not a NumPy .npy file (bad magic bytes)")
        fh.seek(0)
        shape, dtype, _, offset = npy_header(fh, path)
    if dtype.hasobject:
        raise _object_error(path)
    check_declared(path, shape, dtype.itemsize, stored=path.stat().st_size - offset,
                   what="the .npy header")
    return shape, dtype, offset


def read_npy(path: str | Path, *, band_axis: int | None = None) -> list[Cube | LabelMap]:
    p = check_file(path)
    checked_npy_header(p)
    try:
        arr = np.load(p, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise _object_error(p) from exc
        raise HSIReadError(p, f"truncated or corrupt .npy file ({exc})") from exc
    except MemoryError:
        raise
    except Exception as exc:
        raise HSIReadError(p, f"truncated or corrupt .npy file ({exc})") from exc
    return from_named_arrays(p, {"": arr}, bands_last=False, band_axis=band_axis)


def _check_members(p: Path, zf: zipfile.ZipFile) -> list[str]:
    """Keys of the .npy members of an .npz archive (numpy's key: the name without '.npy'),
    each member's header checked against its stored bytes; other members are not read."""
    keys = []
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            continue
        what = f"member '{info.filename}'"
        with zf.open(info) as fh:
            if fh.read(6) != NPY_MAGIC:
                raise HSIReadError(p, f"{what} is not a NumPy array (bad magic bytes)")
        with zf.open(info) as fh:
            shape, dtype, _, offset = npy_header(fh, p)
        stored = info.compress_size if info.compress_type != zipfile.ZIP_STORED else (
            info.file_size - offset)
        check_declared(p, shape, dtype.itemsize, stored=stored,
                       compressed=info.compress_type != zipfile.ZIP_STORED, allow_empty=True,
                       what=f"the header of {what}")
        keys.append(info.filename[: -len(".npy")])
    return keys


def read_npz(path: str | Path, *, band_axis: int | None = None) -> list[Cube | LabelMap]:
    p = check_file(path)
    if not zipfile.is_zipfile(p):
        raise HSIReadError(p, "not a NumPy .npz file (not a zip archive)")
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(p) as zf:
            keys = _check_members(p, zf)
        with np.load(p, allow_pickle=False) as npz:
            for key in keys:
                try:
                    arrays[key] = npz[key]
                except ValueError as exc:  # object array: skip, reported as non-numeric if alone
                    if "pickle" not in str(exc):
                        raise
                    arrays[key] = np.empty(0, dtype=object)
    except (HSIReadError, MemoryError):
        raise
    except Exception as exc:
        raise HSIReadError(p, f"truncated or corrupt .npz file ({type(exc).__name__}: "
                              f"{exc})") from exc
    if not arrays:
        raise HSIReadError(p, "the .npz archive holds no arrays")
    return from_named_arrays(p, arrays, bands_last=False, any_vector=True, band_axis=band_axis)
