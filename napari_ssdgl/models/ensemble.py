"""Several networks of one architecture, trained side by side, predicting together.

Members start from different random weights and see the same drawn pixels; each has its own
loss term (summed, so each gets the gradient it would get alone) and its own gradient clipping,
so member 0 trains exactly as the single model of the same seed would. At prediction time the
ensemble returns the log of the members' mean softmax, so everything that applies a softmax to
a model's output (whole scene, tiles, dask, flips) gets the mean probability without knowing it
holds an ensemble. Averaging removes part of the spread that the random start adds to a single
model's accuracy (benchmarks/README.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor, nn


class Ensemble(nn.Module):
    """``members`` networks; ``forward`` gives log mean probabilities, ``sampled_logits`` one
    (P, K) block of logits per member, stacked to (members, P, K) for the loss."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
        self.members = nn.ModuleList(members)
        self.config = {**members[0].config, "members": len(members)}

    @property
    def supports_sampled_head(self) -> bool:
        return all(getattr(m, "supports_sampled_head", False) for m in self.members)

    def _mean_log_probs(self, outputs: list[Tensor]) -> Tensor:
        logp = torch.stack([torch.log_softmax(o.float(), dim=1) for o in outputs])
        return torch.logsumexp(logp, dim=0) - math.log(len(outputs))

    def forward(self, x: Tensor) -> Tensor:
        return self._mean_log_probs([m(x) for m in self.members])

    def folded_logits(self, x: Tensor) -> Tensor:
        """:meth:`forward` through each member's folded head (see ``EncoderDecoder``)."""
        return self._mean_log_probs([m.folded_logits(x) for m in self.members])

    def sampled_logits(self, x: Tensor, index: Tensor) -> Tensor:
        return torch.stack([m.sampled_logits(x, index) for m in self.members])

    def clip_groups(self) -> Iterator[Iterator[nn.Parameter]]:
        """One parameter group per member: gradients are clipped member by member."""
        return (m.parameters() for m in self.members)
