"""The bands to train on, from the user's ``--bands`` / ``--exclude-bands`` text (the syntax of
:mod:`napari_ssdgl.analysis.band_syntax`) and, for ``auto``, the suspect-band detection.

The file's own bad-band flags (``Cube.bad_bands``: ENVI ``bbl``, EMIT ``good_wavelengths``) are
honoured only through ``auto``, as one of its reasons: a product's flags are often conservative
and the user decides. Shared by the CLI and the dock, so both read a band list the same way.
"""

from __future__ import annotations

from napari_ssdgl.analysis.band_syntax import kept_bands, parse_bands, wants_auto
from napari_ssdgl.analysis.bands import BandReport, detect_bad_bands
from napari_ssdgl.io.base import pixels
from napari_ssdgl.prediction.spectral import BandSelection

__all__ = ["band_selection", "detect_cube"]


def detect_cube(cube) -> BandReport:
    """:func:`detect_bad_bands` of a Cube with its wavelengths, units and file flags (or of a
    bare array)."""
    return detect_bad_bands(pixels(cube), getattr(cube, "wavelengths", None),
                            getattr(cube, "wavelength_units", None),
                            getattr(cube, "bad_bands", None))


def band_selection(cube, *, keep: str | None = None, exclude: str | None = None,
                   report: BandReport | None = None) -> BandSelection | None:
    """The BandSelection that ``keep`` (bands to train on; all when None) less ``exclude``
    names for ``cube`` (a Cube or a (bands, rows, cols) array), or None when that is every
    band. ``auto`` in either list is the suspect bands of ``report`` (detected now when None).
    Each excluded band's reason goes with it (the detection's for an ``auto`` exclusion, else
    "excluded by the user" / "not in the band list"). Raises
    :class:`~napari_ssdgl.analysis.band_syntax.BandSyntaxError` (a ValueError)."""
    data = pixels(cube)
    bands = int(data.shape[0])
    wl, units = getattr(cube, "wavelengths", None), getattr(cube, "wavelength_units", None)
    if keep is None and exclude is None:
        return None
    if report is None and (wants_auto(keep or "") or wants_auto(exclude or "")):
        report = detect_cube(cube)
    auto = None if report is None else report.indices
    chosen = None if keep is None else parse_bands(keep, bands, wl, units, auto)
    dropped = None if exclude is None else parse_bands(exclude, bands, wl, units, auto)
    indices = kept_bands(bands, keep=chosen, exclude=dropped)
    if len(indices) == bands:
        return None
    found = report.reasons if report is not None and wants_auto(exclude or "") else {}
    reasons = {}
    for b in sorted(set(range(bands)) - set(indices)):
        if b in found:
            reasons[b] = ", ".join(found[b])
        else:
            reasons[b] = "excluded by the user" if dropped and b in dropped else \
                "not in the band list"
    return BandSelection(tuple(indices), bands, reasons)
