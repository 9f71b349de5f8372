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


def floor_std(std: np.ndarray) -> np.ndarray:
    """float32 ``std`` with near-constant bands (under ``STD_FLOOR``) at 1: what a model divides
    by, so a constant band stays as it is after centring."""
    return np.where(np.asarray(std) < STD_FLOOR, 1.0, std).astype(np.float32)


def band_statistics(cube: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and std over every pixel (float32); near-constant bands get std 1."""
    flat = np.asarray(cube).reshape(cube.shape[0], -1)
    mean = flat.mean(axis=1, dtype=np.float64)
    return mean.astype(np.float32), floor_std(flat.std(axis=1, dtype=np.float64))


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


STREAM_BYTES = 64 << 20  # raw float32 bytes per block read by streaming_band_statistics


def _chunk_shape(cube) -> tuple[int, int] | None:
    """(rows, cols) of the array's storage chunks (zarr, HDF5, dask), None when it has none (a
    memory map, numpy)."""
    chunks = getattr(cube, "chunksize", None) or getattr(cube, "chunks", None)
    if isinstance(chunks, tuple) and len(chunks) == 3 and all(
            isinstance(n, int) and n > 0 for n in chunks[1:]):
        return int(chunks[1]), int(chunks[2])
    return None


def stream_blocks(cube, rows: int | None = None) -> list[tuple[slice, slice]]:
    """The (rows, cols) blocks :func:`streaming_band_statistics` reads, about ``STREAM_BYTES``
    of float32 each: whole storage chunks, as many side by side as fit (each chunk is then
    decoded once), or, without chunks or with chunks larger than that, full-width strips of
    ``rows`` rows (the most that fit by default)."""
    bands, height, width = (int(n) for n in cube.shape)
    budget = max(1, STREAM_BYTES // (4 * bands))  # pixels per block
    chunk = None if rows else _chunk_shape(cube)
    if chunk is not None and chunk[0] * chunk[1] <= budget:
        step_r = chunk[0]
        step_c = min(width, chunk[1] * max(1, budget // (chunk[0] * chunk[1])))
    else:
        step_c = width
        step_r = int(rows) if rows else max(1, budget // width)
    return [(slice(r, r + step_r), slice(c, c + step_c))
            for r in range(0, height, step_r) for c in range(0, width, step_c)]


def streaming_band_statistics(cube, rows: int | None = None
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-band mean and std of the finite values of ``cube`` (bands, rows, cols; numpy,
    memory map, dask or zarr), read block by block (:func:`stream_blocks`; ``rows``: strips of
    that many rows) so a cube larger than memory is never loaded whole. Blocks are merged with
    Chan et al.'s pairwise update, their sums accumulated in float64 (no sum-of-squares
    cancellation on bright bands). The std is the measured one (0 for a constant band;
    :func:`floor_std` makes it a divisor); an all-non-finite band has mean 0, as
    :func:`replace_nonfinite` fills it. Returns ``(mean, std, nonfinite)``: float32 mean and
    std, and per band how many values were NaN/inf. Unlike :func:`band_statistics` on a cleaned
    cube, NaN/inf values do not count (they would count as the mean there): window-trained
    models normalise with these."""
    bands = int(cube.shape[0])
    count = np.zeros(bands, np.float64)
    mean = np.zeros(bands, np.float64)
    m2 = np.zeros(bands, np.float64)
    bad = np.zeros(bands, np.int64)
    for rs, cs in stream_blocks(cube, rows):
        block = np.asarray(cube[:, rs, cs], dtype=np.float32).reshape(bands, -1)
        sums = block.sum(axis=1, dtype=np.float64)
        finite = None  # a finite sum: every value is (float32 values cannot overflow float64)
        if np.isfinite(sums).all():
            n = np.full(bands, float(block.shape[1]))
        else:
            finite = np.isfinite(block)
            n = finite.sum(axis=1).astype(np.float64)
            bad += block.shape[1] - n.astype(np.int64)
            sums = np.where(finite, block, np.float32(0)).sum(axis=1, dtype=np.float64)
        bmean = sums / np.maximum(n, 1)
        dev = block - bmean.astype(np.float32)[:, None]
        if finite is not None:
            dev[~finite] = 0  # a NaN/inf value is no deviation
        bm2 = np.einsum("ij,ij->i", dev, dev, dtype=np.float64)
        total = count + n
        delta = bmean - mean
        safe = np.maximum(total, 1)
        mean = mean + delta * n / safe
        m2 = m2 + bm2 + delta * delta * count * n / safe
        count = total
    std = np.sqrt(m2 / np.maximum(count, 1))
    return mean.astype(np.float32), std.astype(np.float32), bad
