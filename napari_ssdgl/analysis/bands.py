"""Suspect bands of a cube, each with its reason: the file's own bad-band flags (ENVI ``bbl``,
EMIT ``good_wavelengths``: ``Cube.bad_bands``), non-finite values, (near-)constant bands, low
signal-to-noise, and the atmospheric water-absorption windows.

Signal-to-noise here needs no homogeneous area and no dark current: the noise of a band is
estimated from the differences of neighbouring pixels (robustly, with the median absolute
deviation, so class edges barely count), the signal from the band's spatial spread left after
that noise. A band whose "image" is mostly noise has SNR near 0; on Indian Pines the bands
flagged this way are the known noisy ones at the ends of the range and beside the water
windows. Statistics come from a central window of the scene (``window`` pixels square), read
once, so a lazy cube of any size costs one small read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from napari_ssdgl.analysis.spectra import wavelengths_nm

WATER_WINDOWS_NM: tuple[tuple[float, float], ...] = ((1350.0, 1450.0), (1800.0, 1950.0))
MIN_SNR = 2.0  # spatial signal below twice the pixel noise: the band is mostly noise ...
SNR_OF_MEDIAN = 0.5  # ... and well below the cube's typical band (a flat scene is not flagged)
CONSTANT_RTOL = 1e-4  # std below this fraction of the median band std: (near-)constant
MAX_NONFINITE = 0.01  # more than 1 % NaN/inf pixels
WINDOW = 256


@dataclass(frozen=True)
class BandReport:
    """The suspect bands of a cube and why; ``snr`` per band (NaN where not computable)."""

    bands: int
    reasons: dict[int, tuple[str, ...]] = field(default_factory=dict)
    snr: np.ndarray | None = None

    @property
    def indices(self) -> list[int]:
        return sorted(self.reasons)

    def summary(self) -> str:
        """'12 suspect bands of 200: 0-1 low SNR (1.5-1.6); 103-112 water absorption
        1350-1450 nm; ...': one part per run of neighbouring bands with the same kinds of
        reason, a measured SNR as its range over the run."""
        if not self.reasons:
            return f"no suspect bands among {self.bands}"
        runs: list[list] = []  # [first, last, kinds, [values per reason]]
        for b in self.indices:
            kinds = tuple(_VALUE.sub("", w).rstrip() for w in self.reasons[b])
            values = [_VALUE.search(w) for w in self.reasons[b]]
            if runs and runs[-1][1] == b - 1 and runs[-1][2] == kinds:
                runs[-1][1] = b
                for held, v in zip(runs[-1][3], values, strict=True):
                    if v is not None:
                        held.append(v.group(1))
            else:
                runs.append([b, b, kinds, [[] if v is None else [v.group(1)] for v in values]])
        parts = []
        for a, b, kinds, values in runs:
            words = [f"{k} ({_span(v)})" if v else k for k, v in zip(kinds, values, strict=True)]
            parts.append(f"{a}{'' if a == b else f'-{b}'} {', '.join(words)}")
        return f"{len(self.reasons)} suspect bands of {self.bands}: " + "; ".join(parts)


_VALUE = re.compile(r"\((-?[\d.]+)\)$")  # the value closing a reason: "low SNR (1.6)"


def _span(values: list[str]) -> str:
    """'1.5-1.6' for the values of a run ('1.6' when one)."""
    nums = [float(v) for v in values]
    lo, hi = min(nums), max(nums)
    return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"


def _central(data, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` window (all bands) of a numpy or dask cube, as numpy."""
    rows, cols = data.shape[1:]
    r0, c0 = max(0, (rows - size) // 2), max(0, (cols - size) // 2)
    part = data[:, r0 : r0 + size, c0 : c0 + size]
    return np.asarray(part.compute() if hasattr(part, "compute") else part)


def _nonfinite_share(window: np.ndarray) -> np.ndarray:
    """Per band, the share of a (bands, rows, cols) window's values that are NaN or inf."""
    return 1.0 - np.isfinite(window).reshape(window.shape[0], -1).mean(axis=1)


def nonfinite_share(data, window: int = WINDOW) -> np.ndarray:
    """Per band of a numpy or dask cube, the share of NaN/inf values on its central
    ``window`` x ``window`` pixels (one small read of a lazy cube)."""
    return _nonfinite_share(_central(data, window))


def _mad(values: np.ndarray) -> float:
    """Robust standard deviation (1.4826 x median absolute deviation) of the finite values."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return float("nan")
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def band_noise(band: np.ndarray) -> float:
    """Pixel noise of a 2-D band from neighbouring-pixel differences: the difference of two
    pixels holds twice the noise variance, so sigma = robust std of the differences / sqrt(2),
    averaged over the row and column directions."""
    parts = [_mad(np.diff(band, axis=a).ravel()) for a in (0, 1) if band.shape[a] > 1]
    parts = [p for p in parts if np.isfinite(p)]
    return float(np.sqrt(np.mean(np.square(parts))) / np.sqrt(2.0)) if parts else float("nan")


def band_snr(window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(snr, std)`` per band of a (bands, rows, cols) float window: the spatial signal
    (std with the noise variance taken off) over the pixel noise."""
    snr = np.full(window.shape[0], np.nan)
    std = np.full(window.shape[0], np.nan)
    for b, band in enumerate(window):
        finite = band[np.isfinite(band)]
        if finite.size < 2:
            continue
        std[b] = float(finite.std())
        noise = band_noise(np.where(np.isfinite(band), band, np.median(finite)))
        if noise > 0:
            snr[b] = float(np.sqrt(max(std[b] ** 2 - noise**2, 0.0)) / noise)
    return snr, std


def detect_bad_bands(data, wavelengths=None, units: str | None = None, flags=None, *,
                     window: int = WINDOW, min_snr: float = MIN_SNR) -> BandReport:
    """The suspect bands of a (bands, rows, cols) cube (numpy or dask) with their reasons.

    ``flags`` (True = bad, e.g. ``Cube.bad_bands``) are the file's own; ``wavelengths`` (with
    ``units``; nm or µm, guessed when None) add the water-absorption windows
    (:data:`WATER_WINDOWS_NM`). The rest is measured on the central ``window`` x ``window``
    pixels: non-finite in over 1 % of them, (near-)constant, SNR below ``min_snr`` and below
    half the median band's.
    """
    bands = int(data.shape[0])
    reasons: dict[int, list[str]] = {}

    def flag(b: int, why: str) -> None:
        reasons.setdefault(int(b), []).append(why)

    if flags is not None:
        for b in np.flatnonzero(np.asarray(flags, dtype=bool).ravel()[:bands]):
            flag(b, "flagged bad by the file")
    wl = wavelengths_nm(wavelengths, units, bands)
    if wl is not None:
        for lo, hi in WATER_WINDOWS_NM:
            for b in np.flatnonzero((wl >= lo) & (wl <= hi)):
                flag(b, f"water absorption {lo:g}-{hi:g} nm")
    win = _central(data, window).astype(np.float64, copy=False)
    share = _nonfinite_share(win)
    for b in np.flatnonzero(share > MAX_NONFINITE):
        flag(b, "no finite values" if share[b] == 1 else
             f"non-finite in {share[b]:.0%} of pixels")
    snr, std = band_snr(win)
    typical_std = float(np.nanmedian(std)) if np.isfinite(std).any() else 0.0
    constant = np.isfinite(std) & (std <= CONSTANT_RTOL * typical_std)
    for b in np.flatnonzero(constant):
        flag(b, "constant" if std[b] == 0 else "near-constant")
    typical = float(np.nanmedian(snr)) if np.isfinite(snr).any() else np.nan
    low = np.isfinite(snr) & (snr < min_snr) & (snr < SNR_OF_MEDIAN * typical) & ~constant
    for b in np.flatnonzero(low):
        flag(b, f"low SNR ({snr[b]:.1f})")
    return BandReport(bands, {b: tuple(w) for b, w in sorted(reasons.items())}, snr)
