"""MATLAB .mat files: v4/v5/v7 through scipy.io.loadmat, v7.3 (HDF5) through h5py.

MATLAB arrays are (rows, cols, bands); the band axis is the last one. v7.3 files are HDF5
written column-major, so h5py sees every variable with its axes reversed; we transpose back to
MATLAB layout first, then apply the same rules as for v5 (see ``from_named_arrays``).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import scipy.io

from napari_ssdgl.io._common import check_file, from_named_arrays
from napari_ssdgl.io.base import Cube, HSIReadError, LabelMap

_SKIP_CLASSES = {"char", "cell", "struct", "function_handle", "string"}


def read_mat(path: str | Path) -> list[Cube | LabelMap]:
    """Every cube and label raster in a .mat file (cube first)."""
    p = check_file(path)
    arrays = _read_v73(p) if h5py.is_hdf5(p) else _read_v5(p)
    if not arrays:
        raise HSIReadError(p, "the MATLAB file holds no variables")
    return from_named_arrays(p, arrays, bands_last=True)


def _read_v5(path: Path) -> dict[str, np.ndarray]:
    try:
        raw = scipy.io.loadmat(str(path))
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
                if cls in _SKIP_CLASSES or obj.attrs.get("MATLAB_empty", 0):
                    continue
                if obj.dtype.kind not in "biuf":
                    arrays[name] = np.empty(0, dtype=object)  # reported as non-numeric
                    continue
                arrays[name] = np.asarray(obj[()]).T  # undo the column-major axis reversal
    except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError on damaged files
        raise HSIReadError(path, f"truncated or corrupt MATLAB v7.3 (HDF5) file ({exc})") from exc
    return arrays


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)
