"""Spectral resampling: one sensor's bands onto another's band centres, as a weight matrix.

A model learns one band set; another sensor's cube reaches it through a (model bands x cube
bands) matrix ``W``, each row summing to 1, so that ``W @ spectrum`` is the spectrum the model
expects. A model band with a known FWHM gets a Gaussian spectral response: its weights are the
Gaussian of that FWHM at the cube's band centres, times each cube band's share of the
wavelength axis (``np.gradient`` of the centres, so uneven grids weigh right), normalised. A model
band without FWHM, or one narrower than the cube's spacing there (the cube does not sample its
response), is linearly interpolated between its two neighbouring cube bands.

Everything here is in one unit (the callers convert to nm); wavelengths need not be sorted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))  # a Gaussian's sigma per unit FWHM
GAUSS_CUTOFF = 1e-6  # Gaussian weights below this fraction of the row's largest are dropped


class CoverageError(ValueError):
    """The source bands do not span the target band centres: resampling would extrapolate."""


@dataclass(frozen=True)
class Gap:
    """The widest stretch between neighbouring source bands that a target band falls in."""

    target: float  # the target band centre
    below: float  # the source band centres around it
    above: float

    @property
    def width(self) -> float:
        return self.above - self.below


def edge_tolerance(source: np.ndarray) -> float:
    """How far past the first/last source centre a target may lie and still count as covered:
    half the median source spacing (the edge band's own half-width)."""
    s = np.sort(np.asarray(source, dtype=float))
    return 0.5 * float(np.median(np.diff(s))) if s.size > 1 else 0.0


def check_coverage(source: np.ndarray, target: np.ndarray, unit: str = "") -> None:
    """Raise :class:`CoverageError` when any target centre lies outside the source range (plus
    :func:`edge_tolerance`); the message gives both ranges and how many targets are out."""
    src = np.asarray(source, dtype=float)
    dst = np.asarray(target, dtype=float)
    tol = edge_tolerance(src)
    lo, hi = float(src.min()), float(src.max())
    out = (dst < lo - tol) | (dst > hi + tol)
    if src.size < 2 or out.any():
        raise CoverageError(
            f"the cube's bands cover {lo:g}-{hi:g}{unit} but the model's span "
            f"{dst.min():g}-{dst.max():g}{unit} ({int(out.sum()) if src.size > 1 else dst.size} of "
            f"its {dst.size} bands outside); resampling does not extrapolate")


def largest_gap(source: np.ndarray, target: np.ndarray) -> Gap:
    """The target band lying in the widest interval between neighbouring source centres (a
    target on a source centre, or past either end, lies in a 0-wide one)."""
    src = np.sort(np.asarray(source, dtype=float))
    dst = np.asarray(target, dtype=float)
    hi = np.clip(np.searchsorted(src, dst, side="left"), 0, src.size - 1)
    lo = np.clip(hi - 1, 0, src.size - 1)
    exact = src[hi] == dst
    lo = np.where(exact, hi, lo)
    widths = src[hi] - src[lo]
    j = int(np.argmax(widths))
    return Gap(float(dst[j]), float(src[lo[j]]), float(src[hi[j]]))


def linear_weights(source: np.ndarray, target: float) -> np.ndarray:
    """Weights over ``source`` that interpolate linearly at ``target`` (held at the ends)."""
    src = np.asarray(source, dtype=float)
    order = np.argsort(src, kind="stable")
    s = src[order]
    w = np.zeros(src.size)
    if target <= s[0] or src.size == 1:
        w[order[0]] = 1.0
        return w
    if target >= s[-1]:
        w[order[-1]] = 1.0
        return w
    b = int(np.searchsorted(s, target, side="right"))
    a = b - 1
    t = (target - s[a]) / (s[b] - s[a])
    w[order[a]] += 1.0 - t
    w[order[b]] += t
    return w


def gaussian_weights(source: np.ndarray, target: float, fwhm: float) -> np.ndarray:
    """Weights over ``source`` of a Gaussian response centred at ``target`` with ``fwhm``,
    each times the source band's share of the axis, normalised to sum 1."""
    src = np.asarray(source, dtype=float)
    sigma = fwhm * FWHM_TO_SIGMA
    order = np.argsort(src, kind="stable")
    share = np.empty(src.size)
    share[order] = np.abs(np.gradient(src[order])) if src.size > 1 else 1.0
    w = np.exp(-0.5 * ((src - target) / sigma) ** 2) * share
    w[w < GAUSS_CUTOFF * w.max()] = 0.0  # the far tails: exact zeros, so the rows stay local
    return w / w.sum()


def local_spacing(source: np.ndarray, target: float) -> float:
    """Distance between the two source centres around ``target`` (the edge pair at the ends)."""
    s = np.sort(np.asarray(source, dtype=float))
    if s.size < 2:
        return np.inf
    b = int(np.clip(np.searchsorted(s, target), 1, s.size - 1))
    return float(s[b] - s[b - 1])


def resampling_matrix(source: np.ndarray, target: np.ndarray,
                      target_fwhm: np.ndarray | None = None, unit: str = ""
                      ) -> tuple[np.ndarray, str]:
    """``(W, method)``: the (target, source) float32 weight matrix and a word on how it was made
    ("Gaussian", "linear" or "Gaussian/linear" when mixed). Checks coverage first
    (:class:`CoverageError`)."""
    src = np.asarray(source, dtype=float)
    dst = np.asarray(target, dtype=float)
    check_coverage(src, dst, unit)
    fwhm = None if target_fwhm is None else np.asarray(target_fwhm, dtype=float)
    rows, kinds = [], set()
    for j, centre in enumerate(dst):
        f = None if fwhm is None else fwhm[j]
        if f is not None and np.isfinite(f) and f > 0 and f >= local_spacing(src, centre):
            rows.append(gaussian_weights(src, centre, f))
            kinds.add("Gaussian")
        else:
            rows.append(linear_weights(src, centre))
            kinds.add("linear")
    method = "/".join(k for k in ("Gaussian", "linear") if k in kinds)
    return np.asarray(rows, dtype=np.float32), method


def apply_matrix(matrix: np.ndarray, data):
    """``matrix`` (target, source) applied along axis 0 of a (source bands, rows, cols) numpy
    array, as float32 (target bands, rows, cols). ``data`` must be finite (a NaN would reach
    every target band through its zero weights: clean it first)."""
    flat = np.asarray(data, dtype=np.float32).reshape(data.shape[0], -1)
    return (matrix @ flat).reshape((matrix.shape[0], *data.shape[1:]))
