"""ENVI rasters (.hdr + binary data file, BSQ/BIL/BIP) through ``spectral.envi``.

The header is the entry point; pointing at the data file (.img, .dat, .raw, .bsq, ...) works when
``<data>.hdr`` or ``<stem>.hdr`` sits beside it. Wavelengths and their units come from the header.
A one-band integer file that is an ENVI classification (or has ``class names``) is a label map,
with class names and colours from ``class names`` / ``class lookup``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_ssdgl.io._common import check_file, make_cube, make_labels, native
from napari_ssdgl.io.base import Cube, HSIReadError, LabelMap

DATA_SUFFIXES = (".img", ".dat", ".raw", ".bsq", ".bil", ".bip", ".sli", ".hyspex")


def header_for(path: str | Path) -> Path | None:
    """The ENVI header that describes ``path`` (itself if it is a .hdr), or None."""
    p = Path(path)
    if p.suffix.lower() == ".hdr":
        return p
    for cand in (Path(str(p) + ".hdr"), p.with_suffix(".hdr"), p.with_suffix(".HDR")):
        if cand.is_file():
            return cand
    return None


def read_envi(path: str | Path) -> list[Cube | LabelMap]:
    """The cube (or the classification label map) of an ENVI file."""
    from spectral.io import envi

    p = check_file(path)
    hdr = header_for(p)
    if hdr is None:
        raise HSIReadError(p, "no ENVI header (.hdr) found next to the data file")
    hdr = check_file(hdr)
    with open(hdr, "rb") as fh:
        if not fh.read(4).startswith(b"ENVI"):
            raise HSIReadError(hdr, "not an ENVI header (the first line must be 'ENVI')")
    try:
        img = envi.open(str(hdr), None if p == hdr else str(p))
        data = native(np.array(img.open_memmap(interleave="bsq")))
    except Exception as exc:  # spectral raises its own header/data-file errors, ValueError, OSError
        raise HSIReadError(hdr, f"cannot read ENVI data ({type(exc).__name__}: {exc})") from exc

    meta = img.metadata
    name = Path(hdr.stem).stem if Path(hdr.stem).suffix.lower() in DATA_SUFFIXES else hdr.stem
    is_class = meta.get("file type", "").lower() == "envi classification" or "class names" in meta
    if data.shape[0] == 1 and data.dtype.kind in "iu" and is_class:
        return [make_labels(data[0], hdr, name=name, **_classes(meta))]
    units = meta.get("wavelength units") or getattr(img.bands, "band_unit", None)
    wl = img.bands.centers if img.bands.centers else None
    return [make_cube(data, hdr, wavelengths=wl, wavelength_units=units, name=name)]


def _classes(meta: dict) -> dict:
    """Class names and '#rrggbb' colours of an ENVI classification header (value 0 skipped)."""
    names = {i: n for i, n in enumerate(meta.get("class names", [])) if i > 0}
    lut = [int(float(v)) for v in meta.get("class lookup", [])]
    colors = {
        i: "#{:02x}{:02x}{:02x}".format(*lut[3 * i : 3 * i + 3]) for i in range(1, len(lut) // 3)
    }
    return {"class_names": names, "colors": colors}
