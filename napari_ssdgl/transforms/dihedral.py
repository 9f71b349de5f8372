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
    no copy: a memory-mapped cube stays on disk)."""
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
