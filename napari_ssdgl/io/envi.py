"""ENVI rasters (.hdr + binary data file, BSQ/BIL/BIP): header through ``spectral.envi``, data
memory-mapped with numpy.

The header is the entry point; pointing at the data file (.img, .dat, .raw, .bsq, ...) works when
``<data>.hdr`` or ``<stem>.hdr`` sits beside it. Wavelengths and their units come from the header.
A one-band integer file that is an ENVI classification (or has ``class names``) is a label map,
with class names and colours from ``class names`` / ``class lookup``.

:func:`envi_layout` is the one place a header is interpreted (by this reader, by
:func:`napari_ssdgl.io.lazy.open_lazy` and by the napari hook's size estimate): every field it
uses must be a single value of the right kind, the interleave one of bsq/bil/bip, and the data
file must hold the ``samples x lines x bands x bytes`` the header declares after its offset
(``_common.check_declared``); otherwise ``HSIReadError`` naming the file and the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from napari_ssdgl.io._common import check_declared, check_file, make_cube, make_labels, native
from napari_ssdgl.io.base import Cube, HSIReadError, LabelMap

DATA_SUFFIXES = (".img", ".dat", ".raw", ".bsq", ".bil", ".bip", ".sli", ".hyspex")
MAX_HEADER_BYTES = 16 * 2**20  # a header with thousands of wavelengths is ~100 kB
# ENVI "data type" code -> numpy type (little-endian; 'byte order = 1' swaps)
ENVI_DTYPES = {1: "u1", 2: "i2", 3: "i4", 4: "f4", 5: "f8", 6: "c8", 9: "c16", 12: "u2",
               13: "u4", 14: "i8", 15: "u8"}
INTERLEAVES = ("bsq", "bil", "bip")
_SEARCH_SUFFIXES = ("", ".img", ".dat", ".sli", ".hyspex", ".raw", ".bin", ".bsq", ".bil",
                    ".bip")


def header_for(path: str | Path) -> Path | None:
    """The ENVI header that describes ``path`` (itself if it is a .hdr), or None."""
    p = Path(path)
    if p.suffix.lower() == ".hdr":
        return p
    for cand in (Path(str(p) + ".hdr"), p.with_suffix(".hdr"), p.with_suffix(".HDR")):
        if cand.is_file():
            return cand
    return None


@dataclass(frozen=True)
class EnviLayout:
    """What a checked ENVI header says about its data file."""

    header: Path
    data: Path
    shape: tuple[int, int, int]  # as stored: bsq (bands, lines, samples), bil (lines, bands,
    #                              samples), bip (lines, samples, bands)
    dtype: np.dtype
    offset: int
    interleave: str
    meta: dict = field(repr=False)

    @property
    def band_axis(self) -> int:
        """The axis of the stored array that holds the bands."""
        return {"bsq": 0, "bil": 1, "bip": 2}[self.interleave]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def memmap(self) -> np.ndarray:
        """The data as stored (read-only memory map; nothing is read)."""
        return np.memmap(self.data, dtype=self.dtype, mode="r", offset=self.offset,
                         shape=self.shape)

    def text(self, key: str) -> str | None:
        """A header field that must be one value (str), or None when absent."""
        value = self.meta.get(key)
        if value is None or isinstance(value, str):
            return value
        raise HSIReadError(self.header, f"header field '{key}' must be a single value, found "
                                        f"a list {{{', '.join(map(str, value))}}}")


def _single(hdr: Path, meta: dict, key: str, default: str | None = None) -> str:
    value = meta.get(key, default)
    if value is None:
        raise HSIReadError(hdr, f"header field '{key}' is missing")
    if not isinstance(value, str):
        raise HSIReadError(hdr, f"header field '{key}' must be a single value, found a list "
                                f"{{{', '.join(map(str, value))}}}")
    return value.strip()


def _integer(hdr: Path, meta: dict, key: str, default: str | None = None, *,
             low: int = 1) -> int:
    text = _single(hdr, meta, key, default)
    try:
        value = int(text)
    except ValueError:
        raise HSIReadError(hdr, f"header field '{key}' must be an integer, found "
                                f"'{text[:40]}'") from None
    if value < low:
        raise HSIReadError(hdr, f"header field '{key}' must be at least {low}, found {value}")
    return value


def read_header(hdr: Path) -> dict:
    """The header's fields (lower-case keys; list values for ``{a, b}`` fields)."""
    from spectral.io import envi

    hdr = check_file(hdr)
    if hdr.stat().st_size > MAX_HEADER_BYTES:
        raise HSIReadError(hdr, f"too large for an ENVI header ({hdr.stat().st_size:,} bytes)")
    with open(hdr, "rb") as fh:
        if not fh.read(4).startswith(b"ENVI"):
            raise HSIReadError(hdr, "not an ENVI header (the first line must be 'ENVI')")
    try:
        return envi.read_envi_header(str(hdr))
    except Exception as exc:  # spectral's parse errors, UnicodeDecodeError, ...
        raise HSIReadError(hdr, f"cannot parse the ENVI header ({type(exc).__name__}: "
                                f"{exc})") from exc


def _data_file(hdr: Path, interleave: str) -> Path:
    base = hdr.with_suffix("")
    for suffix in _SEARCH_SUFFIXES + ("." + interleave,):
        for s in (suffix, suffix.upper()):
            cand = Path(str(base) + s)
            if cand.is_file() and cand != hdr:
                return cand
    raise HSIReadError(hdr, "cannot read ENVI data: no data file next to the header (looked for "
                            f"{base.name} with {', '.join(s or 'no' for s in _SEARCH_SUFFIXES)} "
                            "extension)")


def envi_layout(path: str | Path, data: str | Path | None = None) -> EnviLayout:
    """The checked layout of an ENVI file (``path``: its header or its data file; ``data``: the
    data file, found beside the header when None)."""
    p = Path(path)
    hdr = header_for(p)
    if hdr is None:
        raise HSIReadError(p, "no ENVI header (.hdr) found next to the data file")
    meta = read_header(hdr)
    samples = _integer(hdr, meta, "samples")
    lines = _integer(hdr, meta, "lines")
    bands = _integer(hdr, meta, "bands")
    code = _integer(hdr, meta, "data type")
    if code not in ENVI_DTYPES:
        known = ", ".join(map(str, ENVI_DTYPES))
        raise HSIReadError(hdr, f"unsupported ENVI data type {code} (supported: {known})")
    interleave = _single(hdr, meta, "interleave", "bsq").lower()
    if interleave not in INTERLEAVES:
        raise HSIReadError(hdr, f"unknown interleave '{interleave[:40]}' (expected bsq, bil or "
                                f"bip)")
    order = _integer(hdr, meta, "byte order", "0", low=0)
    if order not in (0, 1):
        raise HSIReadError(hdr, f"header field 'byte order' must be 0 or 1, found {order}")
    offset = _integer(hdr, meta, "header offset", "0", low=0)
    file_type = _single(hdr, meta, "file type", "ENVI Standard")
    if file_type.lower() == "envi spectral library":
        raise HSIReadError(hdr, "an ENVI spectral library, not an image cube")
    for key in ("major frame offsets", "minor frame offsets"):
        values = meta.get(key)
        values = [values] if isinstance(values, str) else values or []
        if any(v.strip() not in ("", "0") for v in values):
            raise HSIReadError(hdr, f"ENVI '{key}' are not supported")
    dtype = np.dtype(ENVI_DTYPES[code]).newbyteorder(">" if order else "<")
    shape = {"bsq": (bands, lines, samples), "bil": (lines, bands, samples),
             "bip": (lines, samples, bands)}[interleave]
    data_path = check_file(data) if data is not None and Path(data) != hdr else (
        check_file(_data_file(hdr, interleave)))
    check_declared(hdr, shape, dtype.itemsize, stored=data_path.stat().st_size - offset,
                   what=f"the ENVI header (samples x lines x bands, data type {code}, header "
                        f"offset {offset})", holder=f"the data file {data_path}")
    return EnviLayout(hdr, data_path, shape, dtype, offset, interleave, meta)


def read_envi(path: str | Path, *, band_axis: int | None = None) -> list[Cube | LabelMap]:
    """The cube (or the classification label map) of an ENVI file."""
    from napari_ssdgl.io._common import choose_band_axis, to_bands_first

    p = check_file(path)
    layout = envi_layout(p, None if header_for(p) == p else p)
    hdr = layout.header
    axis = choose_band_axis(hdr, layout.shape, band_axis,
                            stored=(layout.band_axis, f"metadata: ENVI interleave "
                                                      f"{layout.interleave}"))
    try:
        data = native(np.array(to_bands_first(layout.memmap(), axis[0]), order="C"))  # a copy
    except MemoryError:
        raise
    except Exception as exc:  # the data file vanished, an I/O error, ...
        raise HSIReadError(layout.data, f"cannot read ENVI data ({type(exc).__name__}: "
                                        f"{exc})") from exc

    name = Path(hdr.stem).stem if Path(hdr.stem).suffix.lower() in DATA_SUFFIXES else hdr.stem
    file_type = (layout.text("file type") or "").lower()
    is_class = file_type == "envi classification" or "class names" in layout.meta
    if data.shape[0] == 1 and data.dtype.kind in "iu" and is_class:
        return [make_labels(data[0], hdr, name=name, geo=envi_geo(layout.meta),
                            **_classes(layout.meta))]
    info = envi_band_info(layout.meta)
    ignore = ignore_value(layout.meta)
    if ignore is not None and data.dtype.kind == "f":
        data[data == ignore] = np.nan  # AVIRIS-NG / AVIRIS-3: -9999 outside the swath
    cube = make_cube(data, hdr, wavelengths=envi_wavelengths(layout.meta), name=name,
                     band_axis=axis, stored_shape=layout.shape, geo=envi_geo(layout.meta),
                     **info)
    return [envi_notes(cube, layout.meta)]


def envi_wavelengths(meta: dict) -> list[float] | None:
    """The header's ``wavelength`` list as floats, or None (absent or not numbers)."""
    return _numbers(meta, "wavelength")


def _numbers(meta: dict, key: str) -> list[float] | None:
    values = meta.get(key)
    if values is None:
        return None
    try:
        return [float(v) for v in ([values] if isinstance(values, str) else values)]
    except (TypeError, ValueError):
        return None


def envi_band_info(meta: dict) -> dict:
    """``fwhm`` (the header's ``fwhm``, in the wavelength units), ``bad_bands`` (True where
    the header's ``bbl`` is 0) and ``wavelength_units`` for :func:`make_cube`; None where
    absent or not numbers. Without a ``wavelength units`` field (many AVIRIS-NG headers) the
    units follow the values: below 30 micrometres, else nanometres (see :func:`envi_notes`)."""
    bbl = _numbers(meta, "bbl")
    units = _units(meta)
    wl = envi_wavelengths(meta)
    if units is None and wl:
        units = "Micrometers" if max(wl) < 30 else "Nanometers"
    return {"fwhm": _numbers(meta, "fwhm"), "wavelength_units": units,
            "bad_bands": None if bbl is None else [v == 0 for v in bbl]}


def ignore_value(meta: dict) -> float | None:
    """The header's ``data ignore value`` (AVIRIS-NG and AVIRIS-3 write -9999), or None."""
    values = _numbers(meta, "data ignore value")
    return values[0] if values and len(values) == 1 and math.isfinite(values[0]) else None


def envi_geo(meta: dict) -> dict | None:
    """GeoTIFF tags (as ``Cube.geo`` holds them) from the header's ``map info``, or None."""
    from napari_ssdgl.io.geo import envi_map_info, geo_tags

    grid = envi_map_info(meta.get("map info"))
    if grid is None:
        return None
    try:
        return geo_tags(*grid)
    except ValueError:  # a zero pixel size: not a grid
        return None


def envi_notes(cube: Cube, meta: dict) -> Cube:
    """The cube with notes on what the header left to inference (units, an unknown map)."""
    if _units(meta) is None and cube.wavelength_units:
        cube.warnings.append(f"no 'wavelength units' in the header: taken as "
                             f"{cube.wavelength_units.lower()} from the values")
    if meta.get("map info") is not None and cube.geo is None:
        cube.warnings.append("the header's 'map info' is not a grid this reader understands: "
                             "outputs are not georeferenced")
    return cube


def _units(meta: dict) -> str | None:
    units = meta.get("wavelength units")
    return units.strip() or None if isinstance(units, str) else None


def _classes(meta: dict) -> dict:
    """Class names and '#rrggbb' colours of an ENVI classification header (value 0 skipped);
    fields that are not lists of the right kind are ignored."""
    names = meta.get("class names", [])
    names = {i: str(n) for i, n in enumerate(names if isinstance(names, list) else []) if i > 0}
    try:
        lut = [int(float(v)) for v in meta.get("class lookup", [])]
    except (TypeError, ValueError):
        lut = []
    if not isinstance(meta.get("class lookup", []), list) or any(not 0 <= v < 256 for v in lut):
        lut = []
    colors = {
        i: "#{:02x}{:02x}{:02x}".format(*lut[3 * i : 3 * i + 3]) for i in range(1, len(lut) // 3)
    }
    return {"class_names": names, "colors": colors}
