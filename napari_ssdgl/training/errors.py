"""The one error type the training engine raises for bad input, and how it reports a speed-up
that failed and was skipped."""

from __future__ import annotations


class TrainingError(ValueError):
    """Training cannot start or go on; the message says why in words a user understands."""


def short_reason(exc: BaseException) -> str:
    """``"Type: first line of the message"``, at most 300 characters: for the warning when an
    optional speed-up (torch.compile, CUDA graphs) fails and training goes on without it."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300]
