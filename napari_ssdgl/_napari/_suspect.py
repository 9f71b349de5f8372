"""Suspect bands of a cube layer, shared by the docks: the SSDGL dock detects them (and its band
selector reads them), the spectral-profile dock shades them.

The result lives in the layer's own metadata (``suspect_bands``: band -> reasons, and the
one-line summary), so it goes where the layer goes and is dropped with it; :data:`notices`
tells any open dock that a layer's suspect bands changed.
"""

from __future__ import annotations

from psygnal import Signal

from napari_ssdgl.analysis.bands import BandReport, detect_bad_bands

KEY = "suspect_bands"


class _Notices:
    changed = Signal(object)  # the layer whose suspect bands were (re)detected


notices = _Notices()


def cube_inputs(layer) -> tuple:
    """``(data, wavelengths, units, flags)`` for :func:`detect`, read on the main thread: the
    array (numpy or dask; only read by the detection) and the file's own bad-band flags."""
    md = layer.metadata
    return layer.data, md.get("wavelengths"), md.get("wavelength_units"), md.get("bad_bands")


def detect(data, wavelengths=None, units: str | None = None, flags=None) -> BandReport:
    """The detection itself (safe in a worker thread: it touches no layer)."""
    return detect_bad_bands(data, wavelengths, units, flags)


def store(layer, report: BandReport) -> None:
    """Keep ``report`` on ``layer`` (main thread) and tell the docks."""
    layer.metadata[KEY] = {"reasons": {int(b): ", ".join(why) for b, why in
                                       report.reasons.items()},
                           "bands": int(report.bands), "summary": report.summary(),
                           "data": id(layer.data)}
    notices.changed.emit(layer)


def stored(layer) -> dict | None:
    """What :func:`store` kept on ``layer``, if it still describes its data (not replaced
    since)."""
    found = None if layer is None else layer.metadata.get(KEY)
    if not found or found.get("data") != id(layer.data):
        return None
    return found


def reasons(layer) -> dict[int, str]:
    """Band -> why it is suspect, for ``layer`` (empty when not detected)."""
    found = stored(layer)
    return {} if found is None else {int(b): str(w) for b, w in found["reasons"].items()}
