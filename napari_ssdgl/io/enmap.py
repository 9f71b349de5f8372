"""EnMAP L2A surface reflectance: ``*-SPECTRAL_IMAGE.TIF`` (GeoTIFF, read by the TIFF reader)
with its ``*-METADATA.XML``.

The XML gives, per band, under ``specific/bandCharacterisation/bandID``: ``wavelengthCenterOfBand``
and ``FWHMOfBand`` (nm) and ``GainOfBand``/``OffsetOfBand``, the scaling of the stored integers
(reflectance = DN * gain + offset). The image's no-data value (GDAL_NODATA tag, else -32768)
becomes NaN. Georeferencing is the GeoTIFF's, kept in ``Cube.geo`` as for any TIFF.

A product opens by its image, by its XML, or by its folder (the one image and XML in it).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from napari_ssdgl.io._common import check_file
from napari_ssdgl.io.base import Cube, HSIReadError

MAX_XML_BYTES = 64 * 2**20  # an EnMAP METADATA.XML is a few MB
NODATA = -32768.0
IMAGE_TAG, XML_TAG = "-SPECTRAL_IMAGE", "-METADATA"
_IMAGE_SUFFIXES = (".tif", ".tiff")


def product_files(path: str | Path) -> tuple[Path, Path] | None:
    """(image, metadata XML) of the EnMAP product that ``path`` (its image, its XML or its
    folder) belongs to, or None when ``path`` is not part of one."""
    p = Path(path)
    if p.is_dir():
        images = [c for c in p.iterdir() if _is_image(c)]
        if len(images) != 1:
            return None
        p = images[0]
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    upper = stem.upper()
    if _is_image(p):
        xml = _sibling(p, stem[: upper.rindex(IMAGE_TAG)] + XML_TAG, (".XML", ".xml"))
        return (p, xml) if xml is not None else None
    if upper.endswith(XML_TAG) and p.suffix.lower() == ".xml":
        image = _sibling(p, stem[: upper.rindex(XML_TAG)] + IMAGE_TAG, (".TIF", ".tif",
                                                                        ".TIFF", ".tiff"))
        return (image, p) if image is not None else None
    return None


def _is_image(p: Path) -> bool:
    return (p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file()
            and p.name[: -len(p.suffix)].upper().endswith(IMAGE_TAG))


def _sibling(p: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    for suffix in suffixes:
        cand = p.with_name(stem + suffix)
        if cand.is_file():
            return cand
    return None


def read_enmap(path: str | Path, *, band_axis: int | None = None) -> list[Cube]:
    """The reflectance cube of an EnMAP L2A product with wavelengths, FWHM and the
    GeoTIFF's georeferencing; the XML's gains and offsets applied."""
    from napari_ssdgl.io.tiff import read_tiff

    p = Path(path)
    files = product_files(p)
    if files is None:
        raise HSIReadError(p, "not an EnMAP product: needs a '*-SPECTRAL_IMAGE.TIF' with its "
                              "'*-METADATA.XML' beside it")
    image, xml = files
    bands = band_table(xml)
    cubes = [c for c in read_tiff(image, band_axis=band_axis) if isinstance(c, Cube)]
    if not cubes:
        raise HSIReadError(image, "the EnMAP image holds no 3-D cube")
    cube = cubes[0]
    if len(bands["wavelength"]) != cube.bands:
        raise HSIReadError(xml, f"describes {len(bands['wavelength'])} bands but the image "
                                f"{image.name} has {cube.bands}")
    nodata = _nodata(cube.geo)
    data = cube.data.astype(np.float32)
    data[cube.data == nodata] = np.nan
    data *= bands["gain"].astype(np.float32)[:, None, None]
    data += bands["offset"].astype(np.float32)[:, None, None]
    return [Cube(data=data, wavelengths=bands["wavelength"], wavelength_units="nm",
                 source=str(image), name=image.stem, dtype=cube.dtype, geo=cube.geo,
                 warnings=cube.warnings, band_axis=cube.band_axis,
                 band_axis_source=cube.band_axis_source, stored_shape=cube.stored_shape,
                 fwhm=bands["fwhm"])]


def band_table(xml: str | Path) -> dict[str, np.ndarray]:
    """Per band (in ``number`` order): ``wavelength``, ``fwhm``, ``gain``, ``offset`` from an
    EnMAP METADATA.XML; HSIReadError when the XML is damaged or lacks them."""
    xml = check_file(xml)
    if xml.stat().st_size > MAX_XML_BYTES:
        raise HSIReadError(xml, f"too large for an EnMAP metadata XML "
                                f"({xml.stat().st_size:,} bytes)")
    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as exc:
        raise HSIReadError(xml, f"corrupt or truncated XML ({exc})") from None
    entries = root.findall("specific/bandCharacterisation/bandID")
    if not entries:
        raise HSIReadError(xml, "no 'specific/bandCharacterisation/bandID' entries (not an "
                                "EnMAP L2A METADATA.XML?)")
    rows = []
    for i, entry in enumerate(entries):
        try:
            number = int(entry.get("number", i + 1))
            wl = float(_text(entry, "wavelengthCenterOfBand"))
            fwhm = float(_text(entry, "FWHMOfBand"))
            gain = float(_text(entry, "GainOfBand", "1"))
            offset = float(_text(entry, "OffsetOfBand", "0"))
        except (TypeError, ValueError):
            raise HSIReadError(xml, f"band entry {i + 1}: wavelengthCenterOfBand, FWHMOfBand, "
                                    f"GainOfBand and OffsetOfBand must be numbers") from None
        rows.append((number, wl, fwhm, gain, offset))
    rows.sort()
    if [r[0] for r in rows] != list(range(rows[0][0], rows[0][0] + len(rows))):
        raise HSIReadError(xml, "band numbers are not consecutive")
    table = np.array([r[1:] for r in rows], dtype=float)
    return dict(zip(("wavelength", "fwhm", "gain", "offset"), table.T, strict=True))


def _text(entry, tag: str, default: str | None = None) -> str | None:
    node = entry.find(tag)
    return default if node is None or node.text is None else node.text.strip()


def _nodata(geo: dict | None) -> float:
    try:
        return float(str((geo or {}).get(42113, NODATA)).strip())
    except ValueError:
        return NODATA
