"""Weighted softmax loss evaluated only at the drawn training pixels.

Logits and targets are *gathered* at the drawn flat indices before the cross-entropy, so no
other pixel (unlabelled, test, or a training pixel not drawn this iteration) is part of the
graph's loss: its gradient is exactly zero whatever its label. This is the guard against the
test-label leak of the authors' first release.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def effective_number_weights(counts, beta: float = 0.9999) -> torch.Tensor:
    """Class weights ``(1 - beta) / (1 - beta**n_c)`` normalised to sum to K (Cui et al. 2019).

    ``counts`` are the TRAINING pixels per class; every class must have at least one.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError("counts must be a non-empty 1-D sequence")
    if np.any(counts < 1):
        raise ValueError("every class needs at least one training pixel for its weight")
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    w = (1.0 - beta) / (1.0 - np.power(beta, counts)) if beta > 0 else np.ones_like(counts)
    w = w / w.sum() * counts.size
    return torch.as_tensor(w, dtype=torch.float32)


def gather_pixels(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(M, K) logits of the pixels at flat ``index`` into the (N, H, W) pixel grid."""
    n, k = logits.shape[:2]
    per_pixel = logits.permute(0, 2, 3, 1).reshape(-1, k)
    return per_pixel.index_select(0, index)


def weighted_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    index: torch.Tensor,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Class-weighted cross-entropy at the pixels ``index`` only.

    logits (N, K, H, W); targets: class indices for the whole (N, H, W) grid (any values where
    not drawn, e.g. -1); index: flat int64 indices of the drawn pixels. Computed in float32
    (AMP-safe). Reduction is PyTorch's weighted mean: sum(w_y * l) / sum(w_y).
    """
    picked = gather_pixels(logits, index)
    return picked_cross_entropy(picked, targets.reshape(-1).index_select(0, index), weights)


def picked_cross_entropy(
    picked: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Class-weighted cross-entropy of already gathered (M, K) logits, in float32.

    The fast training path computes logits only at the drawn pixels and calls this directly;
    :func:`weighted_cross_entropy` gathers from a dense map first. Same reduction in both.
    (E, M, K) logits (an ensemble's members at the same pixels): the sum of the E members'
    losses, so each member gets the gradient it would get trained alone. ``mask`` (M,) 0/1:
    only the entries with 1 count.
    """
    picked = picked.float()
    if weights is not None:
        weights = weights.to(device=picked.device, dtype=torch.float32)
    if picked.ndim == 3:
        return sum(picked_cross_entropy(p, target, weights, mask) for p in picked.unbind(0))
    if mask is None:
        return F.cross_entropy(picked, target, weight=weights)
    # the weighted mean over the entries with mask 1 (a windowed draw's fixed-size padding
    # has mask 0: no loss, no gradient)
    each = F.cross_entropy(picked, target, weight=weights, reduction="none")
    norm = mask if weights is None else weights.index_select(0, target) * mask
    return (each * mask).sum() / norm.sum()


def picked_accuracy(picked: torch.Tensor, target: torch.Tensor,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    """Share of the (M, K) or (E, M, K) ``picked`` logits whose top class is ``target``: over
    the entries with ``mask`` 1 (of every ensemble member) when given, as the loss counts them."""
    right = (picked.argmax(-1) == target).float()
    if mask is None:
        return right.mean()
    return (right * mask).sum() / (mask.sum() * (right.numel() // mask.numel()))
