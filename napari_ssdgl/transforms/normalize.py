"""Cube clean-up and per-band z-scoring, shared by training and prediction.

The statistics are computed once on the training scene and stored with the model, so a
saved model normalises any later cube exactly as it normalised its training scene.
"""

from __future__ import annotations

import numpy as np

STD_FLOOR = 1e-6  # a band with std below this is (numerically) constant: divide by 1 instead


def replace_nonfinite(cube: np.ndarray, fill: np.ndarray | None = None, *,
                      out: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """float32 copy of ``cube`` (bands, rows, cols) with NaN/inf replaced per band.

    ``fill`` gives one value per band; by default the mean of the band's finite values (0 for
    an all-non-finite band). The copy goes into ``out`` (float32, ``cube``'s shape) when given.
    Returns ``(clean, messages)``; messages describe what was replaced.
    """
    if out is None:
        data = np.array(cube, dtype=np.float32, copy=True)
    else:
        out[...] = cube
        data = out
    bad = ~np.isfinite(data)
    messages: list[str] = []
    if not bad.any():
        return data, messages
    per_band = bad.reshape(data.shape[0], -1).sum(axis=1)
    for b in np.flatnonzero(per_band):
        band = data[b]
        if fill is not None:
            value = float(fill[b])
        else:
            finite = band[np.isfinite(band)]
            value = float(finite.mean(dtype=np.float64)) if finite.size else 0.0
        band[~np.isfinite(band)] = value
    bands = np.flatnonzero(per_band)
    messages.append(
        f"{int(per_band.sum())} NaN/inf values in {bands.size} band(s) (first: band {bands[0]}) "
        "were replaced by the band mean"
    )
    return data, messages


def band_statistics(cube: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and std over every pixel (float32); near-constant bands get std 1."""
    flat = np.asarray(cube).reshape(cube.shape[0], -1)
    mean = flat.mean(axis=1, dtype=np.float64)
    std = flat.std(axis=1, dtype=np.float64)
    std = np.where(std < STD_FLOOR, 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


def normalize(cube: np.ndarray, mean: np.ndarray, std: np.ndarray, *,
              out: np.ndarray | None = None) -> np.ndarray:
    """float32 z-scored cube, per band: into ``out`` when given (``cube`` itself: in place),
    else into one new array."""
    if out is None:
        out = np.array(cube, dtype=np.float32, copy=True)
    elif out is not cube:
        out[...] = cube
    out -= np.asarray(mean, dtype=np.float32)[:, None, None]
    out /= np.asarray(std, dtype=np.float32)[:, None, None]
    return out


def clean_and_normalize(cube: np.ndarray, mean: np.ndarray, std: np.ndarray, *,
                        out: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """A model's input from raw pixels (a scene or one window): NaN/inf -> the band's training
    ``mean``, then z-scored. One float32 copy (into ``out`` when given, e.g. the in-scene part
    of a zero-filled window), the rest in place. Returns ``(x, messages)`` like
    :func:`replace_nonfinite`."""
    clean, messages = replace_nonfinite(cube, fill=mean, out=out)
    return normalize(clean, mean, std, out=clean), messages
