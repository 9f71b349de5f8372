"""Opt-in ``torch.compile`` of the training forward pass, falling back to eager execution.

Compilation needs a working backend (Inductor wants a C++ compiler on the CPU and Triton on
CUDA) and can fail on unusual platforms or ops; a training run must not fail for that. So the
compiled function is tried once on the real input, forward and backward, before the first
iteration, and any failure there means eager execution with the reason reported. The try runs
no optimiser step, so the weights are untouched.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from napari_ssdgl.training.errors import short_reason


def compiled_or_eager(fn: Callable, probe: Callable[[Callable], None], backend: str = "inductor"
                      ) -> tuple[Callable, str | None]:
    """``(torch.compile(fn), None)`` when ``probe(compiled)`` runs without error, else
    ``(fn, reason)``. ``probe`` should run a forward and a backward pass, which is where
    compilation happens."""
    try:
        # static shapes: training sees one or two fixed shapes (the scene, and transposed with
        # augment), and torch's dynamic-shape recompile failed on the second one (torch 2.13)
        compiled = torch.compile(fn, backend=backend, dynamic=False)
        probe(compiled)
    except Exception as exc:  # backends raise many types (BackendCompilerFailed, OSError, ...)
        torch._dynamo.reset()
        return fn, short_reason(exc)
    return compiled, None
