"""Spectral viewing maths: RGB band choice, contrast stretch, pixel spectra and class means.

Kept free of napari/Qt so the viewer widgets stay thin and the numbers are unit-testable. Every
function reads the cube without copying it (a pixel's spectrum is a strided read; class means
gather only the labelled pixels, a few bands at a time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

RGB_TARGETS_NM: tuple[float, float, float] = (640.0, 545.0, 460.0)  # red, green, blue

_NM_PER_UNIT = {
    "nm": 1.0, "nanometer": 1.0, "nanometers": 1.0, "nanometre": 1.0, "nanometres": 1.0,
    "um": 1e3, "µm": 1e3, "μm": 1e3, "micron": 1e3, "microns": 1e3, "micrometer": 1e3,
    "micrometers": 1e3, "micrometre": 1e3, "micrometres": 1e3, "mm": 1e6, "millimeters": 1e6,
}  # fmt: skip


def valid_wavelengths(wavelengths, n_bands: int) -> np.ndarray | None:
    """The wavelengths as floats if there is one finite value per band, else None."""
    if wavelengths is None:
        return None
    try:
        wl = np.asarray(wavelengths, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        return None
    if wl.size != n_bands or not np.all(np.isfinite(wl)):
        return None
    return wl


def wavelengths_nm(wavelengths, units: str | None, n_bands: int) -> np.ndarray | None:
    """Wavelengths in nanometres, or None when absent, malformed or in unknown units.

    Without units, values below 30 are taken as micrometres (0.4-2.5 µm sensors), else nm.
    """
    wl = valid_wavelengths(wavelengths, n_bands)
    if wl is None:
        return None
    key = (units or "").strip().lower()
    if key in _NM_PER_UNIT:
        return wl * _NM_PER_UNIT[key]
    if key in ("", "unknown", "none", "wavelength"):
        return wl * (1e3 if np.nanmax(wl) < 30 else 1.0)
    return None


def nearest_bands(wl_nm: np.ndarray, targets_nm: Sequence[float]) -> tuple[int, ...]:
    """Index of the band whose centre is nearest to each target wavelength."""
    wl = np.asarray(wl_nm, dtype=float)
    return tuple(int(np.argmin(np.abs(wl - t))) for t in targets_nm)


def covers(wl_nm: np.ndarray, targets_nm: Sequence[float]) -> bool:
    """True when every target lies within the sensor's range (plus two band spacings)."""
    wl = np.sort(np.asarray(wl_nm, dtype=float))
    pad = 2.0 * float(np.median(np.diff(wl))) if wl.size > 1 else 0.0
    return all(wl[0] - pad <= t <= wl[-1] + pad for t in targets_nm)


def spaced_bands(n_bands: int) -> tuple[int, int, int]:
    """Bands at 3/4, 1/2 and 1/4 of the range: a neutral false colour for an unknown sensor."""
    last = max(n_bands - 1, 0)
    return tuple(int(round(last * f)) for f in (0.75, 0.5, 0.25))  # type: ignore[return-value]


def default_rgb_bands(
    n_bands: int,
    wavelengths=None,
    units: str | None = None,
    fallback: Sequence[int] | None = None,
    targets_nm: Sequence[float] = RGB_TARGETS_NM,
) -> tuple[tuple[int, int, int], str]:
    """``(bands, how)``: nearest to ``targets_nm`` when the wavelengths cover them
    (``how="wavelengths"``), else ``fallback`` (e.g. the registry's bands, ``"metadata"``),
    else `spaced_bands` (``"spaced"``)."""
    wl = wavelengths_nm(wavelengths, units, n_bands)
    if wl is not None and covers(wl, targets_nm):
        bands = nearest_bands(wl, targets_nm)
        if len(set(bands)) == len(bands):
            return bands, "wavelengths"  # type: ignore[return-value]
    if fallback is not None:
        try:
            fb = tuple(int(b) for b in fallback)
        except (TypeError, ValueError):
            fb = ()
        if len(fb) == 3 and all(0 <= b < n_bands for b in fb):
            return fb, "metadata"  # type: ignore[return-value]
    return spaced_bands(n_bands), "spaced"


def bands_in_window(wl_nm: np.ndarray, centre_nm: float, width_nm: float = 0.0) -> np.ndarray:
    """Bands within ``centre ± width/2`` (a wavelength range for false colour); at least the
    nearest band, so a narrow window still gives a channel."""
    wl = np.asarray(wl_nm, dtype=float)
    inside = np.flatnonzero(np.abs(wl - centre_nm) <= width_nm / 2.0)
    return inside if inside.size else np.array([int(np.argmin(np.abs(wl - centre_nm)))])


def band_image(data, bands: int | Sequence[int]) -> np.ndarray:
    """One band (a view of the cube, no copy) or the mean of several bands."""
    if np.ndim(bands) == 0:
        return data[int(bands)]
    idx = [int(b) for b in np.asarray(bands).reshape(-1)]
    if len(idx) == 1:
        return data[idx[0]]
    return np.mean(np.stack([np.asarray(data[b], dtype=np.float32) for b in idx]), axis=0)


def percentile_limits(
    image: np.ndarray, low: float = 2.0, high: float = 98.0, max_samples: int = 250_000
) -> tuple[float, float]:
    """Robust display range: the ``low``/``high`` percentiles of the finite values (sampled on
    big images), widened to a non-empty interval."""
    flat = np.asarray(image).reshape(-1)
    sample = flat[:: max(1, flat.size // max_samples)].astype(np.float64)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(sample, [low, high]))
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def stretch(image: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    """Map ``limits`` to 0..1 (clipped, float32); NaN/inf become 0."""
    lo, hi = limits
    out = (np.asarray(image, dtype=np.float32) - lo) / max(hi - lo, 1e-12)
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def rgb_composite(
    data,
    channels: Sequence[int | Sequence[int]],
    percentiles: tuple[float, float] = (2.0, 98.0),
    dtype: str = "uint8",
) -> np.ndarray:
    """A ``(rows, cols, 3)`` image from three bands (or band groups) of a ``(bands, rows,
    cols)`` cube, each channel stretched to its own percentiles; uint8 0-255 or float 0-1."""
    if len(channels) != 3:
        raise ValueError(f"an RGB composite needs 3 channels, got {len(channels)}")
    planes = []
    for ch in channels:
        img = band_image(data, ch)
        planes.append(stretch(img, percentile_limits(img, *percentiles)))
    rgb = np.stack(planes, axis=-1)
    if np.dtype(dtype) == np.uint8:
        return np.round(rgb * 255.0).astype(np.uint8)
    return rgb.astype(dtype)


def spectrum_at(data, row: int, col: int) -> np.ndarray | None:
    """The spectrum of one pixel (reads ``bands`` values, never the cube), None outside."""
    rows, cols = data.shape[-2:]
    if not (0 <= row < rows and 0 <= col < cols):
        return None
    return np.asarray(data[:, int(row), int(col)], dtype=np.float64)


def band_axis(n_bands: int, wavelengths=None, units: str | None = None) -> tuple[np.ndarray, str]:
    """x values and label for a spectrum plot: wavelengths (with units) when known, else the
    band index."""
    wl = valid_wavelengths(wavelengths, n_bands)
    if wl is None:
        return np.arange(n_bands, dtype=float), "band"
    return wl, f"wavelength ({units})" if units else "wavelength"


@dataclass
class ClassSpectra:
    """Per-class statistics: ``mean``/``std`` are ``(classes, bands)``, ``count`` the number of
    labelled pixels of each class; ``std`` is the population std (numpy's default)."""

    values: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    count: np.ndarray


def class_spectra(data, labels, max_elements: int = 1 << 22) -> ClassSpectra:
    """Mean ± std spectrum of each nonzero label value.

    Class sums come from one product with a sparse (pixels x classes) indicator per block of
    bands: vectorised like ``np.bincount`` but ~10x faster, linear in the labelled pixels, and
    memory stays bounded by ``max_elements``. Values are centred per band first so the
    sum-of-squares variance keeps its precision; NaN/inf are left out of their band's statistics.
    """
    labels = np.asarray(labels)
    n_bands = int(data.shape[0])
    if labels.shape != tuple(data.shape[1:]):
        raise ValueError(
            f"labels of shape {labels.shape} do not match the cube's {tuple(data.shape[1:])}"
        )
    flat = labels.reshape(-1)
    pix = np.flatnonzero(flat > 0)
    values = np.unique(flat[pix])
    k = values.size
    cls = np.searchsorted(values, flat[pix])
    count = np.bincount(cls, minlength=k)
    mean = np.full((k, n_bands), np.nan)
    std = np.full((k, n_bands), np.nan)
    if k == 0:
        return ClassSpectra(values, mean, std, count)
    ind = sparse.csr_matrix((np.ones(pix.size), (np.arange(pix.size), cls)), shape=(pix.size, k))
    floating = np.issubdtype(data.dtype, np.floating)
    step = max(1, max_elements // pix.size)
    for b0 in range(0, n_bands, step):
        b1 = min(n_bands, b0 + step)
        x = np.asarray(data[b0:b1]).reshape(b1 - b0, -1)[:, pix].astype(np.float64)
        n = np.broadcast_to(count.astype(np.float64), (b1 - b0, k))
        if floating:
            bad = ~np.isfinite(x)
            x[bad] = 0.0
            n = np.asarray((~bad).astype(np.float64) @ ind)
        ref = x.sum(1, keepdims=True) / np.maximum(n.sum(1, keepdims=True), 1.0)
        x -= ref
        if floating:
            x[bad] = 0.0
        s, ss = np.asarray(x @ ind), np.asarray((x * x) @ ind)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = s / n
            var = np.maximum(ss / n - m * m, 0.0)
        mean[:, b0:b1], std[:, b0:b1] = (m + ref).T, np.sqrt(var).T
    return ClassSpectra(values, mean, std, count)
