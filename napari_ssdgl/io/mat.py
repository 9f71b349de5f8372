"""MATLAB .mat files: v4/v5/v7 through scipy.io.loadmat, v7.3 (HDF5) through h5py.

MATLAB arrays are (rows, cols, bands); the band axis is the last one. v7.3 files are HDF5
written column-major, so h5py sees every variable with its axes reversed; we transpose back to
MATLAB layout first, then apply the same rules as for v5 (see ``from_named_arrays``).
``band_axis=`` names another axis (of the MATLAB-order array) as the bands.

Every variable's declared shape is checked against the file (``_common.check_declared``) before
it is read: v5 headers through ``scipy.io.whosmat``, v7.3 datasets through h5py's metadata.
A v5 file is first scanned for what would crash scipy's compiled reader (``_mat5_scan``).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import scipy.io

from napari_ssdgl.io._common import check_declared, check_file, from_named_arrays
from napari_ssdgl.io._mat5_scan import scan_v5
from napari_ssdgl.io.base import Cube, HSIReadError, LabelMap

_SKIP_CLASSES = {"char", "cell", "struct", "function_handle", "string"}
# bytes per element a v5 variable of each MATLAB class takes once read (cells and structs: one
# Python object each, counted generously; sparse: only the nonzeros are stored)
_CLASS_BYTES = {"double": 8, "single": 4, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2,
                "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "logical": 1, "char": 4,
                "cell": 64, "struct": 64, "object": 64, "sparse": 0}


def read_mat(path: str | Path, *, band_axis: int | None = None) -> list[Cube | LabelMap]:
    """Every cube and label raster in a .mat file (cube first)."""
    p = check_file(path)
    arrays = _read_v73(p) if h5py.is_hdf5(p) else _read_v5(p)
    if not arrays:
        raise HSIReadError(p, "the MATLAB file holds no variables")
    return from_named_arrays(p, arrays, bands_last=True, band_axis=band_axis)


def _check_v5(path: Path) -> None:
    """The element structure (``_mat5_scan.scan_v5``: what would crash scipy's reader), then
    each variable's declared dimensions against the file (variables may be compressed)."""
    scan_v5(path)
    size = path.stat().st_size
    for name, shape, cls in scipy.io.whosmat(str(path)):
        check_declared(path, shape, _CLASS_BYTES.get(cls, 8), stored=size, compressed=True,
                       allow_empty=True, what=f"variable '{name}'")


def _read_v5(path: Path) -> dict[str, np.ndarray]:
    try:
        _check_v5(path)
        raw = scipy.io.loadmat(str(path))
    except (HSIReadError, MemoryError):
        raise
    except Exception as exc:  # scipy raises ValueError, OSError, zlib errors, ...
        with open(path, "rb") as fh:
            head = fh.read(128)
        if head.startswith(b"MATLAB"):
            raise HSIReadError(path, f"truncated or corrupt MATLAB file ({exc})") from exc
        if _looks_like_text(head):
            raise HSIReadError(path, "not a MATLAB .mat file (it looks like a text file)") from exc
        raise HSIReadError(path, f"not a MATLAB .mat file ({exc})") from exc
    return {k: v for k, v in raw.items() if not k.startswith("__")}


def _read_v73(path: Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            for name, obj in f.items():
                if name.startswith("#") or not isinstance(obj, h5py.Dataset):
                    continue
                cls = obj.attrs.get("MATLAB_class", b"")
                cls = cls.decode() if isinstance(cls, bytes) else str(cls)
                if cls in _SKIP_CLASSES or obj.attrs.get("MATLAB_empty", 0) or obj.shape is None:
                    continue
                if obj.dtype.kind not in "biuf":
                    arrays[name] = np.empty(0, dtype=object)  # reported as non-numeric
                    continue
                check_h5_dataset(path, obj, allow_empty=True, what=f"dataset '{name}'")
                arrays[name] = np.asarray(obj[()]).T  # undo the column-major axis reversal
    except (HSIReadError, MemoryError):
        raise
    except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError on damaged files
        raise HSIReadError(path, f"truncated or corrupt MATLAB v7.3 (HDF5) file ({exc})") from exc
    return arrays


def check_h5_dataset(path: Path, ds, *, chunks=None, allow_empty: bool = False,
                     what: str = "the dataset") -> int:
    """``check_declared`` for an HDF5 dataset: a contiguous, allocated, unfiltered dataset must
    fit in the file after its offset; a chunked or filtered one is held to the compression
    ratio cap."""
    size = path.stat().st_size
    offset = ds.id.get_offset() if ds.chunks is None and not ds.compression else None
    plain = offset is not None
    return check_declared(path, ds.shape, ds.dtype.itemsize,
                          stored=size - offset if plain else size, compressed=not plain,
                          chunks=chunks, allow_empty=allow_empty, what=what)


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)
