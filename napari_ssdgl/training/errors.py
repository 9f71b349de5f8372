"""The one error type the training engine raises for bad input."""

from __future__ import annotations


class TrainingError(ValueError):
    """Training cannot start or go on; the message says why in words a user understands."""
