"""JSON out of the engine's values: numpy arrays and scalars, int-keyed dicts (class tables).

Model files, zarr attributes, metrics and run folders all hold such values; one conversion
keeps them written alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def jsonable(obj):
    """``obj`` with numpy arrays and scalars as Python lists and numbers, tuples as lists and
    dict keys as strings (JSON has no int keys), recursively; anything else as it is."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())  # an object array may hold dicts
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def write_json(path: str | Path, obj, *, indent: int | None = 2) -> Path:
    """Write ``jsonable(obj)`` to ``path`` as UTF-8 (NaN allowed, as Python's json writes it)."""
    path = Path(path)
    path.write_text(json.dumps(jsonable(obj), indent=indent, allow_nan=True), encoding="utf-8")
    return path
