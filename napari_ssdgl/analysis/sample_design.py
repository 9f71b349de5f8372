"""A stratified random reference sample of a class map (map classes as strata).

Good practice (Olofsson et al. 2014, Remote Sens. Environ. 148, 42-57, section 5.1.2):

* **Size** from a target standard error of overall accuracy: Cochran's ``n0 = (sum_i W_i S_i /
  S(O))^2`` with ``S_i = sqrt(U_i (1 - U_i))`` from anticipated user's accuracies ``U_i`` and map
  class proportions ``W_i`` (their eq. 13), then the finite population correction ``n = n0 / (1
  + n0 / N)`` (Cochran 1977, eq. 4.2), which matters on small scenes.
* **Allocation**: proportional to the class areas with a floor (``min_per_class``, default 50,
  as recommended there for rare classes): a class whose proportional share is below the floor
  gets the floor, the rest of ``n`` is shared proportionally among the others (repeated until no
  share is below the floor; largest-remainder rounding keeps the total). A class smaller than
  the floor is sampled whole. The floors can make the total exceed ``n``.
* **Draw**: within each class, pixels without replacement, uniformly, from the sampling frame
  (mapped pixels, inside ``mask`` if given, minus ``exclude``: the training pixels, on which a
  map is optimistically right). One seeded generator, classes in ascending order: the same seed
  gives the same points.

numpy only; the CLI (``assess --propose``), the dock and the benchmark share it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DEFAULT_ANTICIPATED_UA", "DEFAULT_MIN_PER_CLASS", "SampleDesign", "allocate",
           "anticipated", "describe_anticipated_ua", "expected_se_oa", "parse_anticipated_ua",
           "propose_sample", "sample_size", "sampling_frame"]

DEFAULT_MIN_PER_CLASS = 50
DEFAULT_ANTICIPATED_UA = 0.85  # a trained classifier's classes; lower it for a rough map


def anticipated(classes, anticipated_ua: float | Mapping[int, float]) -> np.ndarray:
    """The anticipated user's accuracy of each class: one value for all, or a mapping (classes
    it lacks get :data:`DEFAULT_ANTICIPATED_UA`)."""
    if isinstance(anticipated_ua, Mapping):
        u = np.array([float(anticipated_ua.get(int(c), DEFAULT_ANTICIPATED_UA))
                      for c in classes])
    else:
        u = np.full(len(classes), float(anticipated_ua))
    if np.any((u <= 0) | (u > 1)) or not np.all(np.isfinite(u)):
        raise ValueError(f"anticipated user's accuracies must be in (0, 1], got {u.tolist()}")
    return u


def parse_anticipated_ua(text: str) -> float | dict[int, float]:
    """Anticipated user's accuracies as the CLI (``--anticipated-ua``) and the dock take them:
    ``"0.9"`` for every class, or ``"1:0.8,3:0.95"`` per class (the classes it does not name
    get :data:`DEFAULT_ANTICIPATED_UA`). A ValueError says what does not parse."""
    text = str(text).strip()
    if ":" not in text:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"anticipated user's accuracy {text!r}: give a number such as "
                             "0.9, or class:accuracy pairs such as 1:0.8,3:0.95") from None
        anticipated([0], value)  # the range check
        return value
    out: dict[int, float] = {}
    for item in text.split(","):
        cls, _, value = item.partition(":")
        try:
            c, u = int(cls), float(value)
        except ValueError:
            raise ValueError(f"anticipated user's accuracy {item.strip()!r}: each item is "
                             "class:accuracy, e.g. 3:0.95") from None
        if c <= 0 or c in out:
            raise ValueError(f"anticipated user's accuracy {item.strip()!r}: "
                             + ("class values are above 0" if c <= 0 else
                                f"class {c} is given twice"))
        out[c] = u
    anticipated(list(out), out)
    return out


def describe_anticipated_ua(anticipated_ua: float | Mapping[int, float]) -> str:
    """``"0.85"`` or ``"1: 0.8, 3: 0.95 (others 0.85)"``, for a status line."""
    if not isinstance(anticipated_ua, Mapping):
        return f"{float(anticipated_ua):g}"
    pairs = ", ".join(f"{c}: {u:g}" for c, u in sorted(anticipated_ua.items()))
    return f"{pairs} (others {DEFAULT_ANTICIPATED_UA:g})"


def sample_size(counts: Mapping[int, int], target_se: float,
                anticipated_ua: float | Mapping[int, float] = DEFAULT_ANTICIPATED_UA) -> int:
    """Points needed for standard error ``target_se`` of overall accuracy (see the module
    docstring: Olofsson eq. 13 with the finite population correction)."""
    if not 0 < target_se < 1:
        raise ValueError(f"the target standard error must be between 0 and 1, got {target_se}")
    classes = sorted(counts)
    n_pix = np.array([counts[c] for c in classes], dtype=float)
    total = float(n_pix.sum())
    if total <= 0:
        raise ValueError("the map has no pixels to sample")
    u = anticipated(classes, anticipated_ua)
    n0 = (float(np.sum(n_pix / total * np.sqrt(u * (1 - u)))) / target_se) ** 2
    return int(min(total, max(1, math.ceil(n0 / (1 + n0 / total)))))


def _largest_remainder(shares: np.ndarray, total: int) -> np.ndarray:
    base = np.floor(shares).astype(np.int64)
    short = int(total - base.sum())
    if short > 0:
        order = np.argsort(-(shares - base), kind="stable")
        base[order[:short]] += 1
    return base


def allocate(total: int, counts: Mapping[int, int],
             min_per_class: int = DEFAULT_MIN_PER_CLASS) -> dict[int, int]:
    """Points per class: proportional with a floor (see the module docstring)."""
    if total < 1:
        raise ValueError(f"the sample needs at least one point, got {total}")
    if min_per_class < 0:
        raise ValueError(f"the minimum per class cannot be negative, got {min_per_class}")
    classes = [c for c in sorted(counts) if counts[c] > 0]
    size = {c: int(counts[c]) for c in classes}
    total = min(int(total), sum(size.values()))
    fixed: dict[int, int] = {}
    free = list(classes)
    while free:
        pool = total - sum(fixed.values())
        shares = pool * np.array([size[c] for c in free], float) / sum(size[c] for c in free)
        low = [c for c, s in zip(free, shares, strict=True) if s < min(min_per_class, size[c])]
        if not low:
            break
        for c in low:
            fixed[c] = min(min_per_class, size[c])
            free.remove(c)
    out = dict(fixed)
    if free:
        pool = max(0, total - sum(fixed.values()))
        shares = pool * np.array([size[c] for c in free], float) / sum(size[c] for c in free)
        out.update(zip(free, _largest_remainder(shares, pool).tolist(), strict=True))
    return {c: int(min(out[c], size[c])) for c in classes}


def expected_se_oa(counts: Mapping[int, int], allocation: Mapping[int, int],
                   anticipated_ua: float | Mapping[int, float] = DEFAULT_ANTICIPATED_UA
                   ) -> float:
    """The standard error of overall accuracy this allocation should give if the anticipated
    user's accuracies hold (the stratified variance with the finite population correction)."""
    classes = [c for c in sorted(counts) if counts[c] > 0]
    n_pix = np.array([counts[c] for c in classes], float)
    n = np.array([allocation.get(c, 0) for c in classes], float)
    if np.any(n == 0):
        return float("nan")
    u = anticipated(classes, anticipated_ua)
    w = n_pix / n_pix.sum()
    return float(np.sqrt(np.sum(w ** 2 * u * (1 - u) / n * (1 - n / n_pix))))


def sampling_frame(class_map: np.ndarray, *, mask: np.ndarray | None = None,
                   exclude: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """(frame, excluded): the pixels a sample may fall on (mapped, > 0; inside ``mask``; not in
    ``exclude``) and how many mapped pixels ``exclude`` took out."""
    cm = np.asarray(class_map)
    if cm.ndim != 2:
        raise ValueError(f"the class map must be 2-D, got shape {cm.shape}")
    frame = cm > 0
    for what, extra in (("mask", mask), ("exclude", exclude)):
        if extra is not None and np.shape(extra) != cm.shape:
            raise ValueError(f"the {what} raster is {np.shape(extra)} but the class map "
                             f"{cm.shape}")
    if mask is not None:
        frame &= np.asarray(mask, bool)
    excluded = 0
    if exclude is not None:
        ex = np.asarray(exclude, bool)
        excluded = int((frame & ex).sum())
        frame &= ~ex
    return frame, excluded


@dataclass
class SampleDesign:
    """A proposed sample: the points (row, col, stratum = map class), the stratum sizes of the
    frame, the points per stratum, and the numbers that chose them."""

    rows: np.ndarray
    cols: np.ndarray
    strata: np.ndarray
    stratum_sizes: dict[int, int]
    allocation: dict[int, int]
    excluded_pixels: int
    min_per_class: int
    seed: int
    anticipated_ua: float | dict[int, float]
    target_se: float | None = None
    requested: int | None = None  # the size asked for, or from target_se, before the floors
    expected_se: float = float("nan")
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return int(self.rows.size)

    def to_dict(self) -> dict:
        """The design without the points, for JSON and the dock's status line."""
        return {"points": self.size, "requested": self.requested, "target_se": self.target_se,
                "expected_se_oa": self.expected_se, "min_per_class": self.min_per_class,
                "anticipated_ua": self.anticipated_ua, "seed": self.seed,
                "stratum_sizes": dict(self.stratum_sizes), "allocation": dict(self.allocation),
                "excluded_training_pixels": self.excluded_pixels, "notes": list(self.notes)}


def propose_sample(class_map: np.ndarray, *, total: int | None = None,
                   target_se: float | None = None,
                   min_per_class: int = DEFAULT_MIN_PER_CLASS,
                   anticipated_ua: float | Mapping[int, float] = DEFAULT_ANTICIPATED_UA,
                   mask: np.ndarray | None = None, exclude: np.ndarray | None = None,
                   seed: int = 0) -> SampleDesign:
    """Size (``total`` points, or enough for ``target_se``), allocate and draw a stratified
    random sample of ``class_map`` (see the module docstring)."""
    if (total is None) == (target_se is None):
        raise ValueError("give either a sample size or a target standard error of OA")
    frame, excluded = sampling_frame(class_map, mask=mask, exclude=exclude)
    cm = np.asarray(class_map)
    values, counts = np.unique(cm[frame], return_counts=True)
    if values.size == 0:
        raise ValueError("the class map has no mapped pixels to sample"
                         + (" outside the excluded pixels" if excluded else ""))
    sizes = {int(v): int(n) for v, n in zip(values, counts, strict=True)}
    requested = int(total) if total is not None else sample_size(sizes, target_se,
                                                                  anticipated_ua)
    alloc = allocate(requested, sizes, min_per_class)
    rng = np.random.default_rng(seed)
    flat = cm.ravel()
    frame_flat = frame.ravel()
    picks = []
    for value in sorted(alloc):
        where = np.flatnonzero(frame_flat & (flat == value))
        picks.append(np.sort(rng.choice(where, size=alloc[value], replace=False)))
    idx = np.concatenate(picks) if picks else np.zeros(0, np.int64)
    rows, cols = np.unravel_index(idx, cm.shape)
    notes = []
    whole = [c for c in alloc if alloc[c] == sizes[c] and sizes[c] < min_per_class]
    if whole:
        notes.append(f"classes {whole} have fewer pixels than the minimum of {min_per_class} "
                     "and are sampled whole")
    if excluded:
        notes.append(f"{excluded} training pixels excluded from the sampling frame")
    ua = (dict(anticipated_ua) if isinstance(anticipated_ua, Mapping)
          else float(anticipated_ua))
    return SampleDesign(rows=rows.astype(np.int64), cols=cols.astype(np.int64),
                        strata=flat[idx].astype(np.int64), stratum_sizes=sizes,
                        allocation=alloc, excluded_pixels=excluded,
                        min_per_class=int(min_per_class), seed=int(seed), anticipated_ua=ua,
                        target_se=target_se, requested=requested,
                        expected_se=expected_se_oa(sizes, alloc, anticipated_ua), notes=notes)
