"""Dihedral augmentation of the whole scene: the 8 flips/transposes of the pixel grid.

Overhead and line-scan images have no preferred orientation, so training on a randomly
flipped or transposed scene each iteration is free extra data for a model that otherwise
memorises a few hundred pixels. Only the input and the drawn pixel positions move; the labels
of the drawn pixels are unchanged, so the loss still sees the drawn pixels and nothing else.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

TRANSPOSE, FLIP_ROWS, FLIP_COLS = 4, 1, 2  # bits of the dihedral element 0..7


def dihedral(x: Tensor, k: int) -> Tensor:
    """(N, C, H, W) -> the scene under dihedral element ``k`` (0 = unchanged)."""
    if k & TRANSPOSE:
        x = x.transpose(-1, -2)
    dims = [d for bit, d in ((FLIP_ROWS, -2), (FLIP_COLS, -1)) if k & bit]
    if dims:
        x = x.flip(dims)
    return x.contiguous()


def dihedral_index(index: Tensor, k: int, h: int, w: int) -> Tensor:
    """Flat pixel indices into an (N, h, w) grid -> the same pixels' indices after
    :func:`dihedral` with element ``k``."""
    n, rc = index // (h * w), index % (h * w)
    r, c = rc // w, rc % w
    if k & TRANSPOSE:
        r, c, h, w = c, r, w, h
    if k & FLIP_ROWS:
        r = h - 1 - r
    if k & FLIP_COLS:
        c = w - 1 - c
    return n * (h * w) + r * w + c


def dihedral_view(a: np.ndarray, k: int) -> np.ndarray:
    """``a`` (..., rows, cols) under dihedral element ``k`` (a view,
    no copy: a memory-mapped cube stays on disk). numpy and dask arrays get their own views;
    another lazy array (zarr, HDF5, a band view) a :class:`DihedralView`."""
    if k and not (isinstance(a, np.ndarray) or hasattr(a, "map_blocks")):
        return DihedralView(a, k)
    if k & TRANSPOSE:
        a = np.swapaxes(a, -1, -2)
    if k & FLIP_ROWS:
        a = a[..., ::-1, :]
    if k & FLIP_COLS:
        a = a[..., ::-1]
    return a


def undo_dihedral_view(a: np.ndarray, k: int) -> np.ndarray:
    """The inverse of :func:`dihedral_view`."""
    if k & FLIP_COLS:
        a = a[..., ::-1]
    if k & FLIP_ROWS:
        a = a[..., ::-1, :]
    if k & TRANSPOSE:
        a = np.swapaxes(a, -1, -2)
    return a


class DihedralView:
    """Dihedral element ``k`` of a lazy (..., rows, cols) array that has no views of its own
    (zarr, HDF5, a band view): each window asked for (step-1 slices of rows and cols, as tiles
    are read) is read from the matching window of the source and flipped there, so the array
    is never read whole."""

    def __init__(self, source, k: int) -> None:
        self.source, self.k = source, int(k)
        shape = tuple(int(n) for n in source.shape)
        self.shape = (*shape[:-2], shape[-1], shape[-2]) if k & TRANSPOSE else shape
        self.ndim, self.dtype = len(shape), source.dtype

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        *lead, rows, cols = key + (slice(None),) * (self.ndim - len(key))
        (h, w), spans = self.shape[-2:], []
        for index, n, bit in ((rows, h, FLIP_ROWS), (cols, w, FLIP_COLS)):
            start, stop, step = index.indices(n)
            if step != 1:
                raise IndexError("a DihedralView reads windows: slices of step 1 only")
            stop = max(start, stop)
            spans.append(slice(n - stop, n - start) if self.k & bit else slice(start, stop))
        if self.k & TRANSPOSE:
            spans.reverse()
        return dihedral_view(np.asarray(self.source[(*lead, *spans)]), self.k)
