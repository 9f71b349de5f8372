"""Which pixels train: label encoding, protocol splits and hierarchically balanced (H-B) draws.

Splits (benchmark protocols, SSDGL.md): per class ``n_c = max(min_per_class, ceil(fraction * c))``
or a fixed ``n``; in both cases ``n_c`` is capped at ``c - 1`` so every class keeps at least one
test pixel (a warning names every class so capped), and a class with a single labelled pixel is
an error (it cannot be both trained on and tested), as are negative label values (0 is
unlabelled). Every other labelled pixel is the test set. All randomness comes from a seeded
``numpy.random.Generator`` so a split is a pure function of ``(gt, parameters, seed)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator

import numpy as np

from napari_ssdgl.training.errors import TrainingError


class LabelEncoder:
    """Maps arbitrary nonzero label values (e.g. 1, 10, 11, 14) to 0..K-1 and back; 0 -> -1."""

    def __init__(self, values) -> None:
        values = np.unique(np.asarray(values, dtype=np.int64))
        if values.size and values[0] <= 0:
            raise ValueError("label values must be positive; 0 means unlabelled")
        self.values = values

    @classmethod
    def from_labels(cls, labels: np.ndarray) -> LabelEncoder:
        labels = np.asarray(labels)
        return cls(np.unique(labels[labels > 0]))

    def __len__(self) -> int:
        return int(self.values.size)

    def encode(self, labels: np.ndarray) -> np.ndarray:
        """int64 class indices; -1 for 0 (unlabelled) and for values this encoder does not know."""
        labels = np.asarray(labels, dtype=np.int64)
        idx = np.searchsorted(self.values, labels)
        idx = np.clip(idx, 0, max(len(self) - 1, 0))
        known = (self.values[idx] == labels) if len(self) else np.zeros(labels.shape, bool)
        return np.where(known & (labels > 0), idx, -1).astype(np.int64)

    def decode(self, idx: np.ndarray) -> np.ndarray:
        """Label values for class indices (-1 -> 0)."""
        idx = np.asarray(idx, dtype=np.int64)
        out = self.values[np.clip(idx, 0, len(self) - 1)]
        return np.where(idx >= 0, out, 0)


def _class_pixels(gt: np.ndarray) -> dict[int, np.ndarray]:
    gt = np.asarray(gt)
    if gt.ndim != 2:
        raise TrainingError(f"ground truth must be a 2-D label raster, got shape {gt.shape}")
    flat = gt.ravel()
    if flat.size and flat.min() < 0:
        raise TrainingError(f"the labels hold negative values (min {flat.min()}); use 0 for "
                            "unlabelled pixels and positive class values")
    values = np.unique(flat[flat > 0])
    if values.size == 0:
        raise TrainingError("the ground truth has no labelled pixels (all values are 0)")
    return {int(v): np.flatnonzero(flat == v) for v in values}


def _split(gt: np.ndarray, counts: dict[int, int], pixels, seed: int):
    rng = np.random.default_rng(seed)
    train = np.zeros(gt.size, dtype=gt.dtype)
    for value in sorted(pixels):
        chosen = rng.permutation(pixels[value])[: counts[value]]
        train[chosen] = value
    train = train.reshape(gt.shape)
    test = np.where(train > 0, 0, gt).astype(gt.dtype)
    return train, test


def _warn_capped(wanted: dict[int, int], counts: dict[int, int], pixels) -> None:
    """One warning naming every class that trains on fewer pixels than asked for, because it
    has too few (each keeps one to test)."""
    short = [v for v in sorted(counts) if counts[v] < wanted[v]]
    if not short:
        return
    parts = [f"class {v} trains on {counts[v]} of its {pixels[v].size} labelled pixels, not "
             f"{wanted[v]}" for v in short]
    warnings.warn(f"{'; '.join(parts)}: every class keeps at least one labelled pixel to test",
                  UserWarning, stacklevel=3)


def _check_sizes(pixels: dict[int, np.ndarray]) -> None:
    single = [v for v, p in pixels.items() if p.size < 2]
    if single:
        raise TrainingError(
            f"class {single[0]} has only 1 labelled pixel; a train/test split needs at least 2 "
            "per class (one to train on, one to test)"
        )


def split_by_fraction(gt: np.ndarray, fraction: float, min_per_class: int = 5, seed: int = 0):
    """(train, test) label rasters: ``max(min_per_class, ceil(fraction * c))`` per class, <= c-1."""
    if not 0 < fraction < 1:
        raise TrainingError(f"split fraction must be between 0 and 1, got {fraction}")
    if min_per_class < 1:
        raise TrainingError(f"min_per_class must be >= 1, got {min_per_class}")
    gt = np.asarray(gt)
    pixels = _class_pixels(gt)
    _check_sizes(pixels)
    wanted = {v: max(min_per_class, math.ceil(fraction * p.size)) for v, p in pixels.items()}
    counts = {v: min(n, pixels[v].size - 1) for v, n in wanted.items()}
    _warn_capped(wanted, counts, pixels)
    return _split(gt, counts, pixels, seed)


def split_per_class(gt: np.ndarray, n: int, seed: int = 0):
    """(train, test) label rasters with ``min(n, c - 1)`` training pixels per class."""
    if int(n) != n or n < 1:
        raise TrainingError(f"pixels per class must be a positive integer, got {n}")
    gt = np.asarray(gt)
    pixels = _class_pixels(gt)
    _check_sizes(pixels)
    counts = {v: min(int(n), p.size - 1) for v, p in pixels.items()}
    _warn_capped(dict.fromkeys(counts, int(n)), counts, pixels)
    return _split(gt, counts, pixels, seed)


DEFAULT_DRAW = 256
"""Pixels drawn per class and iteration by default. The paper drew 10-20; drawing every pixel of
its small splits (up to this cap) costs the same per iteration on the fast path and converged
about 3x faster with a higher mean OA on Indian Pines 5 % (benchmarks/README.md). The cap keeps
an iteration bounded, and classes balanced, when a user paints many thousands of pixels."""


class HBSampler:
    """Hierarchically balanced draws: each call takes ``min(per_class, n_c)`` pixels of every class.

    ``encoded_train`` holds class indices (-1 = not a training pixel), any shape; draws are flat
    indices into it. Rare classes are therefore seen every iteration. ``per_class`` None or 0
    means every training pixel every iteration. Each draw is a fresh random subset, shuffled.
    """

    def __init__(self, encoded_train: np.ndarray, per_class: int | None, seed: int = 0) -> None:
        if per_class is not None and (int(per_class) != per_class or per_class < 0):
            raise TrainingError(f"per-class draw must be None or an integer >= 0, got {per_class}")
        flat = np.asarray(encoded_train).ravel()
        n_classes = int(flat.max()) + 1 if flat.size else 0
        self.pixels = [np.flatnonzero(flat == k) for k in range(n_classes)]
        self.per_class = int(per_class) if per_class else None
        self.rng = np.random.default_rng(seed)

    @property
    def counts(self) -> np.ndarray:
        """Training pixels per class (the n_c of the class weights)."""
        return np.array([p.size for p in self.pixels], dtype=np.int64)

    @property
    def draw_size(self) -> int:
        """Pixels in every draw: the sum over classes of ``min(per_class, n_c)``."""
        counts = self.counts
        return int(counts.sum() if self.per_class is None
                   else np.minimum(counts, self.per_class).sum())

    def draw(self) -> np.ndarray:
        """Flat indices (int64) of this iteration's training pixels."""
        parts = []
        for pix in self.pixels:
            if self.per_class is None or self.per_class >= pix.size:
                parts.append(pix)
            else:
                parts.append(self.rng.choice(pix, self.per_class, replace=False))
        idx = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
        return self.rng.permutation(idx).astype(np.int64)

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            yield self.draw()


VALIDATION_FRACTION = 0.2
VALIDATION_MIN = 50
"""Held-out painted pixels that choose the kept checkpoint (``keep="best"``): a seeded
``floor(fraction * n_c)`` of every class, and no hold-out at all (the last model is kept) when
that makes fewer than ``VALIDATION_MIN`` pixels in all: a handful of pixels cannot rank models."""


def hold_out(labels: np.ndarray, fraction: float = VALIDATION_FRACTION,
             minimum: int = VALIDATION_MIN, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """``(fit, held)`` label rasters from the painted ``labels``: ``held`` holds a seeded,
    stratified ``floor(fraction * n_c)`` pixels of each class (never all of a class), ``fit`` the
    rest. ``held`` is None, and ``fit`` is ``labels``, when that is under ``minimum`` pixels."""
    labels = np.asarray(labels)
    if not 0 <= fraction < 1:
        raise TrainingError(f"validation fraction must be in [0, 1), got {fraction}")
    if fraction == 0:
        return labels, None
    flat = labels.ravel()
    rng = np.random.default_rng([seed, 2])  # its own stream: nothing else draws from it
    held = np.zeros(flat.size, dtype=labels.dtype)
    for value in np.unique(flat[flat > 0]):
        pixels = np.flatnonzero(flat == value)
        n = min(math.floor(fraction * pixels.size), pixels.size - 1)
        held[rng.permutation(pixels)[:n]] = value
    if int((held > 0).sum()) < max(1, minimum):
        return labels, None
    held = held.reshape(labels.shape)
    return np.where(held > 0, 0, labels).astype(labels.dtype), held
