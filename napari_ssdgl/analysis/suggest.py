"""Where to label next: the K most uncertain pixels, spread over the scene.

Taking the top-K uncertain pixels straight away puts them all in one blob (uncertainty is
spatially smooth), which tells the user nothing new after the first click. A greedy
non-maximum suppression keeps the most uncertain pixel, blocks a disc around it, and repeats;
the disc shrinks only when the scene runs out of room, so K points always come back when K
candidate pixels exist.

Two more rules keep the points useful: a ``margin`` along the scene's border gets none (a
network's uncertainty is highest there, where its windows are padded, and those pixels are the
least worth labelling), and with ``classes`` (the predicted class map) the picks go round the
predicted classes, the least served class first, so one confused class cannot take every point.
"""

from __future__ import annotations

import numpy as np


def default_min_distance(shape: tuple[int, int], k: int) -> float:
    """Half the spacing of K points on a regular grid over the scene (at least 1 pixel)."""
    rows, cols = shape
    return max(1.0, 0.5 * float(np.sqrt(rows * cols / max(k, 1))))


def default_margin(shape: tuple[int, int]) -> int:
    """Border margin without suggestions: 3 % of the shorter side, at least 1 pixel."""
    return max(1, int(round(0.03 * min(shape))))


def suggest_pixels(
    uncertainty: np.ndarray,
    k: int,
    *,
    exclude: np.ndarray | None = None,
    min_distance: float | None = None,
    margin: int = 0,
    classes: np.ndarray | None = None,
) -> np.ndarray:
    """Return ``(n, 2)`` int ``(row, col)`` of the most uncertain pixels, at most ``k`` of them.

    ``exclude`` (bool, same shape) marks pixels that must not be suggested, e.g. those already
    labelled; non-finite uncertainty is never suggested. Points are at least ``min_distance``
    apart (default :func:`default_min_distance`); if fewer than ``k`` fit, the distance is halved
    until they do. No point lies within ``margin`` pixels of the border (unless that leaves no
    candidate). ``classes`` (same shape) spreads the points over its values: each pick goes to
    the class with the fewest points so far, its most uncertain free pixel. Ordered from most
    to least uncertain.
    """
    u = np.asarray(uncertainty, dtype=np.float64)
    if u.ndim != 2:
        raise ValueError(f"uncertainty must be 2-D (rows, cols), got shape {u.shape}")
    if k <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    valid = np.isfinite(u)
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=bool)
        if exclude.shape != u.shape:
            raise ValueError(f"exclude has shape {exclude.shape}, uncertainty {u.shape}")
        valid &= ~exclude
    if margin > 0:
        inner = np.zeros_like(valid)
        inner[margin:-margin, margin:-margin] = True
        if (valid & inner).any():
            valid &= inner
    flat = np.flatnonzero(valid)
    if flat.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    # most uncertain first; ties broken by raster order so the result is deterministic
    order = flat[np.argsort(-u.ravel()[flat], kind="stable")]
    rows_idx, cols_idx = np.unravel_index(order, u.shape)
    rr, cc = rows_idx.tolist(), cols_idx.tolist()  # python ints: the loop below is scalar work
    radius = default_min_distance(u.shape, k) if min_distance is None else float(min_distance)
    if classes is None:
        groups = [np.arange(order.size)]
        group_of = np.zeros(order.size, dtype=np.int64)
    else:
        classes = np.asarray(classes)
        if classes.shape != u.shape:
            raise ValueError(f"classes has shape {classes.shape}, uncertainty {u.shape}")
        cls = classes.reshape(-1)[order]
        _, group_of = np.unique(cls, return_inverse=True)
        group_of = group_of.reshape(-1)
        groups = [np.flatnonzero(group_of == g) for g in range(int(group_of.max()) + 1)]
    chosen: list[int] = []
    taken = np.zeros(order.size, dtype=bool)
    while len(chosen) < k:
        blocked = np.zeros(u.shape, dtype=bool)
        for i in chosen:
            _block_disc(blocked, rr[i], cc[i], radius)
        counts = np.bincount(group_of[chosen], minlength=len(groups))
        ptr = [0] * len(groups)
        while len(chosen) < k:
            best = None
            for g, members in enumerate(groups):
                p = ptr[g]
                while p < members.size and (taken[members[p]]
                                             or blocked[rr[members[p]], cc[members[p]]]):
                    p += 1
                ptr[g] = p
                if p < members.size and (best is None or (counts[g], members[p])
                                         < (counts[best], groups[best][ptr[best]])):
                    best = g
            if best is None:
                break
            i = int(groups[best][ptr[best]])
            chosen.append(i)
            taken[i] = True
            counts[best] += 1
            _block_disc(blocked, rr[i], cc[i], radius)
        if len(chosen) == k or taken.all() or radius < 1.0:
            break
        radius /= 2.0
    chosen.sort()
    return np.stack([rows_idx[chosen], cols_idx[chosen]], axis=1).astype(np.int64)


def _block_disc(blocked: np.ndarray, r: int, c: int, radius: float) -> None:
    """Mark pixels within ``radius`` (exclusive) of (r, c)."""
    ri = int(np.ceil(radius))
    r0, r1 = max(0, r - ri), min(blocked.shape[0], r + ri + 1)
    c0, c1 = max(0, c - ri), min(blocked.shape[1], c + ri + 1)
    yy, xx = np.ogrid[r0:r1, c0:c1]
    blocked[r0:r1, c0:c1] |= (yy - r) ** 2 + (xx - c) ** 2 < radius**2
