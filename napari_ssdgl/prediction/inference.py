"""Whole-scene and tiled prediction: class probabilities and their uncertainty.

The whole scene in one forward pass is the reference (the model was trained that way). Tiled
prediction (``tile_size``) bounds memory; with ``scene_stats=True`` (default) it reproduces the
whole-scene result up to the receptive-field effects that ``overlap`` absorbs (see
:mod:`.tiling` for why naive tiling is badly off for SSDGL and what it costs).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from napari_ssdgl.device import (
    amp_dtype,
    autocast,
    cpu_has_native_bf16,
    is_out_of_memory,
    resolve_device,
)
from napari_ssdgl.prediction.tiling import (
    DEFAULT_OVERLAP,
    Prepare,
    frozen_statistics,
    logits,
    predict_tiled,
)
from napari_ssdgl.transforms.dihedral import dihedral_view, undo_dihedral_view

FALLBACK_TILE = 512
ROW_BLOCK = 256  # rows per block when deriving labels/entropy/margin (bounds temporaries)


def pixel_entropy(p: np.ndarray) -> np.ndarray:
    """Entropy (nats, float32) over the class axis 0 of probabilities ``p``; high = uncertain.
    The one formula of every prediction path (in memory, tiled, dask blocks)."""
    return -(p * np.log(np.clip(p, 1e-12, None))).sum(axis=0).astype(np.float32, copy=False)


def pixel_margin(p: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability (float32) over axis 0 of ``p``; low = uncertain, 1 with
    one class."""
    k = p.shape[0]
    if k < 2:
        return np.ones(p.shape[1:], np.float32)
    top2 = np.partition(p, k - 2, axis=0)[-2:]
    return (top2[1] - top2[0]).astype(np.float32, copy=False)


@dataclass
class Prediction:
    """A class map and its uncertainty. ``labels`` holds label values (not indices)."""

    labels: np.ndarray  # (rows, cols) label values
    probabilities: np.ndarray  # (K, rows, cols) float32, softmax over classes
    entropy: np.ndarray  # (rows, cols) float32, nats; high = uncertain
    margin: np.ndarray  # (rows, cols) float32, top-1 minus top-2 probability; low = uncertain
    class_values: np.ndarray | None = None  # (K,) label value of each probability channel

    @classmethod
    def from_probabilities(cls, probabilities: np.ndarray, class_values) -> Prediction:
        """Labels, entropy and margin from (K, rows, cols) probabilities, in blocks of rows so
        that the temporaries stay small next to the probabilities on a large scene."""
        probs = np.asarray(probabilities, dtype=np.float32)
        values = np.asarray(class_values)
        labels = np.empty(probs.shape[1:], dtype=values.dtype)
        entropy = np.empty(probs.shape[1:], dtype=np.float32)
        margin = np.empty(probs.shape[1:], dtype=np.float32)
        for r in range(0, probs.shape[1], ROW_BLOCK):
            p = probs[:, r : r + ROW_BLOCK]
            labels[r : r + ROW_BLOCK] = values[np.argmax(p, axis=0)]
            entropy[r : r + ROW_BLOCK] = pixel_entropy(p)
            margin[r : r + ROW_BLOCK] = pixel_margin(p)
        return cls(labels, probs, entropy, margin, values)


def _run(model: torch.nn.Module, window: np.ndarray, device: torch.device) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(window))[None].to(device)
    return torch.softmax(logits(model, x).float(), dim=1)[0].cpu().numpy()


def predict_probabilities(
    model: torch.nn.Module,
    x: np.ndarray,
    *,
    tile_size: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    device: str | torch.device = "auto",
    scene_stats: bool = True,
    prepare: Prepare | None = None,
    amp: bool = False,
    tta: bool = False,
    frozen: dict | None = None,
) -> np.ndarray:
    """(K, rows, cols) float32 softmax probabilities for a normalised (bands, rows, cols) cube.

    ``tta`` (test-time augmentation): the mean of the probabilities over the 8 flips and
    transposes of the scene, 8 times the work. It pays for a model trained with ``augment``
    (one that has seen every orientation); a model trained without it is not orientation-
    invariant and gets worse.

    With ``tile_size`` None the scene goes through in one piece; if that runs out of memory the
    prediction is retried in tiles of ``FALLBACK_TILE`` (with a warning). ``tile_size`` and
    ``overlap`` are rounded up to multiples of 16; ``scene_stats`` see :mod:`.tiling`.
    ``prepare`` (clean-up and normalisation of a raw ``x``) is applied per window when tiling,
    so the raw scene is never copied whole; in one piece it is applied to the whole scene.
    ``amp`` autocasts to bfloat16 on CUDA and on CPUs with native bf16 (~1.3x faster on an
    AMX CPU; probabilities move by ~1e-2, a few uncertain pixels may change class).
    ``frozen``: fixed layer statistics of a window-trained model (``scene_stats`` is then
    moot: tiles and the whole scene use these, in one pass).
    """
    kw = {"tile_size": tile_size, "overlap": overlap, "device": device,
          "scene_stats": scene_stats, "prepare": prepare, "amp": amp, "frozen": frozen}
    if tta:
        mean = None
        for k in range(8):
            p = undo_dihedral_view(predict_probabilities(model, dihedral_view(x, k), **kw), k)
            mean = p.copy() if mean is None else np.add(mean, p, out=mean)
        mean /= 8  # in place: on a tiled scene the probabilities are the big array
        return mean
    dev = resolve_device(device)
    model = model.to(dev).eval()
    dtype = None
    if amp:
        dtype = amp_dtype(dev) if dev.type == "cuda" else (
            torch.bfloat16 if dev.type == "cpu" and cpu_has_native_bf16() else None)
    with torch.inference_mode(), autocast(dev, dtype):
        if tile_size is None:
            try:
                with frozen_statistics(model, frozen, dev):
                    return _run(model, x if prepare is None else prepare(x), dev)
            except (torch.cuda.OutOfMemoryError, MemoryError, RuntimeError) as exc:
                if not is_out_of_memory(exc):
                    raise
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
                warnings.warn(
                    f"out of memory on the whole scene; predicting in {FALLBACK_TILE}px tiles",
                    stacklevel=2,
                )
                tile_size = FALLBACK_TILE
        return predict_tiled(model, x, int(tile_size), int(overlap), dev, scene_stats, prepare,
                             frozen)
