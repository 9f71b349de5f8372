"""The band-list syntax of ``--bands`` / ``--exclude-bands`` and of the dock's band selector.

A comma-separated list of items, each one of:

- ``N``: one band, counted from 0 (as numpy and napari's band slider count);
- ``N-M``: bands N to M, both included;
- ``A-Bnm`` (or ``A-Bum``, ``A-Bµm``): every band whose centre lies in A..B (needs wavelengths);
- ``auto``: the suspect bands that :func:`~napari_ssdgl.analysis.bands.detect_bad_bands` finds.

E.g. ``0-2,103-107,auto`` or ``1350-1450nm,1800-1950nm``. Spaces are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from napari_ssdgl.analysis.spectra import wavelengths_nm

SYNTAX = ("a comma-separated list of bands counted from 0: N, N-M (both included), "
          "A-Bnm (band centres in A..B nm; also um), or auto (the detected suspect bands)")
_INDEX = re.compile(r"^(\d+)(?:-(\d+))?$")
_RANGE = re.compile(r"^(\d+(?:\.\d*)?)-(\d+(?:\.\d*)?)(nm|um|µm|μm)$")
_NM_PER = {"nm": 1.0, "um": 1e3, "µm": 1e3, "μm": 1e3}


class BandSyntaxError(ValueError):
    """A band list that cannot be read, or names bands the cube does not have."""


def parse_bands(text: str, bands: int, wavelengths=None, units: str | None = None,
                auto: Sequence[int] | None = None) -> list[int]:
    """The sorted band indices that ``text`` names for a cube of ``bands`` bands.

    ``wavelengths``/``units`` serve the ``A-Bnm`` items; ``auto`` is the detected suspect
    bands (computed by the caller, only when ``text`` says ``auto``: see :func:`wants_auto`).
    Raises :class:`BandSyntaxError` with the item at fault.
    """
    chosen: set[int] = set()
    items = re.sub(r"\s+", "", text or "").split(",")
    if not any(items):
        raise BandSyntaxError(f"no bands given; expected {SYNTAX}")
    for item in items:
        if not item:
            raise BandSyntaxError(f"{text!r}: an empty item between commas")
        chosen.update(_item(item, bands, wavelengths, units, auto))
    return sorted(chosen)


def wants_auto(text: str) -> bool:
    """True when ``text`` holds the ``auto`` item (so the caller runs the detection)."""
    return "auto" in re.sub(r"\s+", "", text or "").lower().split(",")


def _item(item: str, bands: int, wavelengths, units, auto) -> Iterable[int]:
    low = item.lower()
    if low == "auto":
        if auto is None:
            raise BandSyntaxError("'auto' needs the detected bands; none were given")
        return [int(b) for b in auto]
    m = _INDEX.match(low)
    if m:
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        if last < first:
            raise BandSyntaxError(f"{item!r}: a range runs from low to high (e.g. {last}-{first})")
        if last >= bands:
            hint = ("" if wavelengths_nm(wavelengths, units, bands) is None else
                    f" (for wavelengths add nm: {item}nm)")
            raise BandSyntaxError(f"{item!r}: band {last} does not exist; the cube has {bands} "
                                  f"bands, 0-{bands - 1}{hint}")
        return range(first, last + 1)
    m = _RANGE.match(low)
    if m:
        lo, hi = (float(m.group(i)) * _NM_PER[m.group(3)] for i in (1, 2))
        if hi < lo:
            raise BandSyntaxError(f"{item!r}: a wavelength range runs from low to high")
        wl = wavelengths_nm(wavelengths, units, bands)
        if wl is None:
            raise BandSyntaxError(f"{item!r}: the cube has no wavelengths (known units); give "
                                  "band numbers instead")
        return [int(b) for b in np.flatnonzero((wl >= lo) & (wl <= hi))]
    raise BandSyntaxError(f"{item!r} is not a band item; expected {SYNTAX}")


def format_bands(indices: Iterable[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``'0-2,5,7-8'``: the shortest text :func:`parse_bands` reads
    back as the same bands."""
    out: list[str] = []
    run: list[int] = []
    for b in sorted(set(int(i) for i in indices)):
        if run and b == run[-1] + 1:
            run.append(b)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [b]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(out)


def kept_bands(bands: int, *, keep: Sequence[int] | None = None,
               exclude: Sequence[int] | None = None) -> list[int]:
    """The bands to train on: ``keep`` (all when None) minus ``exclude``; at least two."""
    chosen = set(range(bands)) if keep is None else set(int(b) for b in keep)
    chosen -= set(int(b) for b in exclude or ())
    if len(chosen) < 2:
        raise BandSyntaxError(f"the band selection leaves {len(chosen)} of {bands} bands; a "
                              "model needs at least 2")
    return sorted(chosen)
