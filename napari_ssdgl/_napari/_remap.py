"""Label-value remapping for imported label rasters ("3:1, 5:2" = value 3 becomes 1, 5 becomes 2).

Imported ground truth rarely uses the values of the classes already painted; remapping on
import lets a user merge or renumber classes without editing the file. Values not named in
the mapping keep their value; mapping a value to 0 drops it (unlabelled).
"""

from __future__ import annotations

import numpy as np


def parse_remap(text: str) -> dict[int, int]:
    """Parse ``"old:new, old:new"`` (``=`` or ``->`` also accepted); empty text means no remap."""
    mapping: dict[int, int] = {}
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        for sep in ("->", ":", "="):
            if sep in part:
                old, new = part.split(sep, 1)
                break
        else:
            raise ValueError(f"cannot read {part!r}: write pairs like '3:1, 5:2'")
        try:
            o, n = int(old.strip()), int(new.strip())
        except ValueError:
            raise ValueError(f"cannot read {part!r}: label values are whole numbers") from None
        if o < 0 or n < 0:
            raise ValueError(f"negative label value in {part!r}")
        mapping[o] = n
    return mapping


def remap_values(data: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """A copy of ``data`` with each value ``old`` in ``mapping`` replaced by ``mapping[old]``."""
    data = np.asarray(data)
    if not mapping:
        return data.copy()
    values, inverse = np.unique(data, return_inverse=True)
    new = np.array([mapping.get(int(v), int(v)) for v in values], dtype=np.int64)
    out = new[inverse].reshape(data.shape)
    info = np.iinfo(data.dtype) if np.issubdtype(data.dtype, np.integer) else None
    fits = info is not None and info.min <= out.min(initial=0) and out.max(initial=0) <= info.max
    return out.astype(data.dtype if fits else np.int32)


def remap_keys(table: dict[int, str], mapping: dict[int, int]) -> dict[int, str]:
    """Carry class names/colours to their new values (the first old value wins; 0 dropped)."""
    out: dict[int, str] = {}
    for old, value in sorted(table.items()):
        new = mapping.get(int(old), int(old))
        if new != 0:
            out.setdefault(new, value)
    return out
