"""Opening the HDF5 files of mission products (EMIT NetCDF4, PRISMA HDF-EOS5) with h5py: one
place that turns h5py's failures into ``HSIReadError`` and fetches checked datasets."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np

from napari_ssdgl.io._common import check_file
from napari_ssdgl.io.base import HSIReadError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@contextmanager
def open_hdf5(path: str | Path, kind: str):
    """``h5py.File`` of ``path`` read-only; HSIReadError naming ``kind`` (e.g. "an EMIT
    NetCDF4 file") when it is not HDF5 or cannot be opened. Errors raised inside the block
    that are not HSIReadError become one too (a truncated file fails on the first read)."""
    import h5py

    p = check_file(path)
    if not h5py.is_hdf5(p):
        raise HSIReadError(p, f"not {kind} (no HDF5 signature; truncated or another format)")
    try:
        f = h5py.File(p, "r")
    except Exception as exc:  # a truncated superblock, a damaged b-tree, ...
        raise HSIReadError(p, f"cannot open {kind} ({type(exc).__name__}: {exc})") from exc
    try:
        yield f
    except (HSIReadError, MemoryError):
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/ValueError on damaged objects
        raise HSIReadError(p, f"corrupt or truncated {kind} ({type(exc).__name__}: "
                              f"{exc})") from exc
    finally:
        f.close()


def dataset(path: Path, f, key: str, ndim: int):
    """The dataset ``key`` of ``f``, numeric and ``ndim``-D with its declared size checked
    against the file (``mat.check_h5_dataset``) before anything is read."""
    import h5py

    from napari_ssdgl.io.mat import check_h5_dataset

    obj = f.get(key)
    if not isinstance(obj, h5py.Dataset):
        raise HSIReadError(path, f"no dataset '{key}'")
    if obj.shape is None or len(obj.shape) != ndim or obj.dtype.kind not in "biuf":
        raise HSIReadError(path, f"dataset '{key}' must be a {ndim}-D numeric array, found "
                                 f"shape {obj.shape} of {obj.dtype}")
    check_h5_dataset(path, obj, what=f"dataset '{key}'")
    return obj


def vector(path: Path, values, name: str, size: int | None = None) -> np.ndarray:
    """A 1-D float array from a dataset or attribute; HSIReadError when it is not numbers or
    (with ``size``) not that long."""
    if values is None:
        raise HSIReadError(path, f"no '{name}'")
    try:
        arr = np.asarray(values[()] if hasattr(values, "shape") and not isinstance(
            values, np.ndarray) else values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise HSIReadError(path, f"'{name}' is not a list of numbers") from None
    if size is not None and arr.size != size:
        raise HSIReadError(path, f"'{name}' has {arr.size} values for {size} bands")
    return arr
