"""The fast path's forward, loss and backward replayed as a CUDA graph.

A small scene is launch-bound on a big GPU: one Indian Pines iteration is about 3,000 small
kernels (ConvLSTM steps, group norms, slices), about 10 ms of GPU work but about 70 ms of
launching them from Python (H100, profiled). Captured once, the iteration is replayed with a
single launch. A graph needs fixed shapes and addresses, which training has: the scene is fixed
and every draw has the same size (``HBSampler.draw_size``), copied into one index buffer. Each
flip/transpose of ``augment`` is its own graph, captured when first drawn; all share one memory
pool, which is safe because each graph's outputs are read right after its replay. The trainer
captures every graph it will need before the first iteration, so a capture that fails means
eager training from the start, not a failure halfway.

Only forward, loss and backward are captured. Gradients go to fixed ``.grad`` tensors that the
graph zeroes itself, so the trainer must not reset them (no ``zero_grad``); the loss check,
gradient clipping and the SGD step stay eager, so the learning-rate schedule and the
non-finite-loss error work as on the eager path.

A windowed run (windows.py) reads new windows each iteration, so :class:`GraphedWindows` adds
the window batch, the draw's own targets and its padding mask to the buffers copied in before
each replay (the draw is padded to a fixed size for this). A view's graph flips or transposes
the buffer inside itself, so non-square windows under ``augment`` need nothing more: the
buffer keeps the windows' shape, and the transposed views are graphs of their own, as on a
non-square scene.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from napari_ssdgl.device import autocast
from napari_ssdgl.training.loss import picked_accuracy, picked_cross_entropy
from napari_ssdgl.transforms.dihedral import dihedral, dihedral_index

WARMUP = 2  # eager runs on a side stream before a capture (cuDNN/cuBLAS set-up, autograd init)


class GraphedIteration:
    """``graphed(index, k) -> (loss, accuracy)`` at the drawn pixels; gradients in ``p.grad``."""

    mask: Tensor | None = None  # the draw's padding mask (GraphedWindows); None: no padding

    def __init__(self, model: torch.nn.Module, forward: Callable[[Tensor, Tensor], Tensor],
                 x: Tensor, targets: Tensor | None, weights: Tensor, index: Tensor,
                 amp: torch.dtype | None) -> None:
        """``targets``: the scene's flat class indices, looked up at each draw (None where the
        draw brings its own: GraphedWindows). ``index``: any draw-sized index of labelled
        pixels (the warm-up runs on it; an unlabelled pixel's target would fail the loss's
        class check on the device)."""
        self.forward, self.x, self.targets, self.weights, self.amp = (
            forward, x, targets, weights, amp)
        self.grads = []
        for p in model.parameters():
            if p.requires_grad:
                p.grad = torch.zeros_like(p)  # fixed addresses, shared by every graph
                self.grads.append(p.grad)
        self.index = index.to(device=x.device, dtype=torch.long, copy=True)
        self.graphs: dict[int, tuple[torch.cuda.CUDAGraph, tuple[Tensor, Tensor]]] = {}
        self.pool = None

    def _target(self) -> Tensor:
        return self.targets.index_select(0, self.index)

    def body(self, k: int) -> tuple[Tensor, Tensor]:
        """One iteration on the buffers' current values, run eagerly: what each graph records.
        It needs no GPU, so its math is checked against the trainer's eager step on the CPU."""
        for g in self.grads:
            g.zero_()
        h, w = self.x.shape[-2:]
        # the autocast weight cache would hold casts made at capture time: recast each replay
        with autocast(self.x.device, self.amp, cache=False):
            picked = self.forward(dihedral(self.x, k), dihedral_index(self.index, k, h, w))
        target = self._target()
        loss = picked_cross_entropy(picked, target, self.weights, self.mask)
        loss.backward()
        return loss.detach(), picked_accuracy(picked.detach(), target, self.mask)

    def capture(self, views: list[int]) -> None:
        """Capture the iteration for each dihedral view in ``views`` (a graph records kernels
        and addresses, not data: replays read whatever index is copied in)."""
        for k in views:
            self._capture(k)

    def _capture(self, k: int) -> None:
        side = torch.cuda.Stream(self.x.device)
        side.wait_stream(torch.cuda.current_stream(self.x.device))
        with torch.cuda.stream(side):
            for _ in range(WARMUP):
                self.body(k)
        torch.cuda.current_stream(self.x.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            outputs = self.body(k)
        self.pool = graph.pool()
        self.graphs[k] = (graph, outputs)

    def __call__(self, index: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Run the iteration for the drawn flat ``index`` on dihedral view ``k``; the returned
        tensors are overwritten by the next call."""
        self.index.copy_(index)
        graph, outputs = self.graphs[k]
        graph.replay()
        return outputs


class GraphedWindows(GraphedIteration):
    """``graphed(index, k, x, target, mask) -> (loss, accuracy)`` for a windowed run: each
    iteration's window batch ``x``, its draw (``index`` into the windows, ``target``) and the
    padding ``mask`` are copied into fixed buffers, then the view's graph replays."""

    def __init__(self, model: torch.nn.Module, forward: Callable[[Tensor, Tensor], Tensor],
                 x: Tensor, target: Tensor, weights: Tensor, index: Tensor, mask: Tensor,
                 amp: torch.dtype | None) -> None:
        """``x``, ``target``, ``index``, ``mask``: any valid batch and draw of the run's
        shapes (copied; the warm-up runs on them)."""
        super().__init__(model, forward, x.clone(), None, weights, index, amp)
        self.target = target.to(device=x.device, dtype=torch.long, copy=True)
        self.mask = mask.to(device=x.device, dtype=torch.float32, copy=True)

    def _target(self) -> Tensor:
        return self.target

    def __call__(self, index: Tensor, k: int, x: Tensor, target: Tensor,
                 mask: Tensor) -> tuple[Tensor, Tensor]:
        self.x.copy_(x)
        self.target.copy_(target)
        self.mask.copy_(mask)
        return super().__call__(index, k)
