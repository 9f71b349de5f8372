"""Suspect bands of a cube layer, shared by the docks: the SSDGL dock detects them (and its band
selector reads them), the spectral-profile dock shades them.

The result lives in the layer's own metadata (``suspect_bands``: the BandReport, band ->
reasons, the one-line summary), so it goes where the layer goes and is dropped with it;
:data:`notices` tells any open dock that a layer's suspect bands changed. A
:class:`BandRequest` is the band selector's text with what it reads of the cube, so that the
selection (and the detection ``auto`` may still need) can be made in Train's worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from psygnal import Signal

from napari_ssdgl.analysis.band_syntax import wants_auto
from napari_ssdgl.analysis.bands import BandReport
from napari_ssdgl.prediction.spectral import BandSelection
from napari_ssdgl.workflows.band_selection import band_selection, detect_cube

KEY = "suspect_bands"


class _Notices:
    changed = Signal(object)  # the layer whose suspect bands were (re)detected


notices = _Notices()


def as_cube(layer) -> SimpleNamespace:
    """What the engine reads of a Cube, taken from ``layer`` on the main thread: its array
    (numpy or dask; only read, never written), wavelengths, units and the file's own bad-band
    flags (the reader puts them in the metadata)."""
    md = layer.metadata
    return SimpleNamespace(data=layer.data, wavelengths=md.get("wavelengths"),
                           wavelength_units=md.get("wavelength_units"),
                           bad_bands=md.get("bad_bands"))


def detect(cube: SimpleNamespace) -> BandReport:
    """The detection itself, of :func:`as_cube`'s result (safe in a worker thread: it touches
    no layer)."""
    return detect_cube(cube)


def store(layer, report: BandReport) -> None:
    """Keep ``report`` on ``layer`` (main thread) and tell the docks."""
    layer.metadata[KEY] = {"report": report, "summary": report.summary(),
                           "reasons": {int(b): ", ".join(why) for b, why in
                                       report.reasons.items()},
                           "data": id(layer.data)}
    notices.changed.emit(layer)


def stored(layer) -> dict | None:
    """What :func:`store` kept on ``layer``, if it still describes its data (not replaced
    since)."""
    found = None if layer is None else layer.metadata.get(KEY)
    if not found or found.get("data") != id(layer.data):
        return None
    return found


def report(layer) -> BandReport | None:
    """The stored detection of ``layer``, if any."""
    found = stored(layer)
    return None if found is None else found["report"]


def reasons(layer) -> dict[int, str]:
    """Band -> why it is suspect, for ``layer`` (empty when not detected)."""
    found = stored(layer)
    return {} if found is None else {int(b): str(w) for b, w in found["reasons"].items()}


@dataclass(frozen=True)
class BandRequest:
    """The bands to exclude as the user typed them, with what they are read against (taken on
    the main thread); :meth:`resolve` touches no layer, so it may run in a worker."""

    cube: SimpleNamespace  # as_cube(layer)
    text: str
    report: BandReport | None  # the layer's stored detection, if any

    @property
    def detects(self) -> bool:
        """Whether :meth:`resolve` runs a detection (``auto`` with none stored): seconds on a
        big cube, so the dock does it in a worker."""
        return self.report is None and wants_auto(self.text)

    def resolve(self) -> tuple[BandSelection | None, BandReport | None]:
        """(the bands to train on, None for all; the detection made for it, None when none was:
        to :func:`store` on the main thread). Raises BandSyntaxError."""
        made = detect(self.cube) if self.detects else None
        return band_selection(self.cube, exclude=self.text, report=self.report or made), made
