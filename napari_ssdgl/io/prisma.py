"""PRISMA L2 surface reflectance (HDF-EOS5 ``.he5``, read with h5py).

The product's layout (as ``prismaread`` and the EnMAP-Box PRISMA import read it): the swath
``HDFEOS/SWATHS/PRS_L2<x>_HCO/Data Fields`` holds ``VNIR_Cube`` and ``SWIR_Cube``, stored
(rows, bands, cols) as uint16; a value is ``min + DN * (max - min) / 65535`` with ``min``/``max``
the root attributes ``L2ScaleVnirMin``/``L2ScaleVnirMax`` (``...Swir...``). Root attributes
``List_Cw_Vnir``/``List_Cw_Swir`` and ``List_Fwhm_Vnir``/``List_Fwhm_Swir`` give each stored
band's centre and width in nm (VNIR and SWIR are stored in decreasing wavelength), and
``List_Cw_Vnir_Flags``/``List_Cw_Swir_Flags`` (older products: ``CNM_VNIR_SELECT``) mark with 0
a band that is not used. L2D is on a map grid: ``Epsg_Code`` and the corner attributes
``Product_ULcorner_easting``... (pixel centres) give ``Cube.geo``.

Joining: the bands with a centre of 0 (not delivered) are dropped, the rest of VNIR and SWIR
are sorted together by wavelength. The spectrometers overlap (the SWIR's first bands lie
below the VNIR's last);
``overlap="both"`` (default) keeps every band of both, ``"vnir"`` or ``"swir"`` keeps that
spectrometer's bands in the overlap and drops the other's. The cube's notes say which.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_ssdgl.io._common import make_cube
from napari_ssdgl.io._hdf5 import dataset, open_hdf5, vector
from napari_ssdgl.io.base import Cube, HSIReadError
from napari_ssdgl.io.geo import geo_tags

DN_MAX = 65535.0
OVERLAP = ("both", "vnir", "swir")
KIND = "a PRISMA HDF-EOS5 file"
PRISMA_LAYOUT = (1, "format: PRISMA cubes are (rows, bands, cols)")
_PARTS = ("Vnir", "Swir")


def read_prisma(path: str | Path, *, band_axis: int | None = None,
                overlap: str = "both") -> list[Cube]:
    """The VNIR and SWIR reflectance of a PRISMA L2 file joined into one cube sorted by
    wavelength, with FWHM, the band flags (as ``bad_bands``) and, for L2D, georeferencing.
    ``band_axis`` is accepted for the registry's signature; the layout is the product's."""
    p = Path(path)
    if overlap not in OVERLAP:  # before the file is opened: a caller's error, not the file's
        raise ValueError(f"overlap must be one of {OVERLAP}, got {overlap!r}")
    if band_axis not in (None, 1):
        raise HSIReadError(p, f"band_axis={band_axis!r}: PRISMA cubes are stored (rows, bands, "
                              f"cols), the bands on axis 1")
    with open_hdf5(p, KIND) as f:
        swath, parts, keep, geo = prisma_layout(p, f, overlap)  # sizes checked
        cubes = [lo + ds[()][:, idx, :].astype(np.float32) * np.float32((hi - lo) / DN_MAX)
                 for (_, ds, _, _, _, lo, hi), idx in zip(parts, keep, strict=True)]
    wl, fw, bad = joined_bands(parts, keep)
    order = np.argsort(wl, kind="stable")
    data = np.moveaxis(np.concatenate(cubes, axis=1), 1, 0)[order]
    return [joined_notes(make_cube(np.ascontiguousarray(data), p, wavelengths=wl[order],
                              wavelength_units="nm", fwhm=fw[order] if np.any(fw) else None,
                              bad_bands=bad[order], geo=geo, band_axis=PRISMA_LAYOUT,
                              stored_shape=parts[0][1].shape), swath, parts, keep, overlap)]


def prisma_layout(p: Path, f, overlap: str = "both"):
    """(swath path, per spectrometer (name, dataset, centres, fwhm, flags, min, max), per
    spectrometer the stored band indices kept, GeoTIFF tags or None) of an open PRISMA file;
    declared sizes checked, nothing of the cubes read (shared with ``lazy.open_lazy``)."""
    if overlap not in OVERLAP:
        raise ValueError(f"overlap must be one of {OVERLAP}, got {overlap!r}")
    swath = _swath(p, f)
    attrs = f.attrs
    parts = []
    for part in _PARTS:
        ds = dataset(p, f, f"{swath}/Data Fields/{part.upper()}_Cube", 3)
        bands = int(ds.shape[1])
        cw = vector(p, attrs.get(f"List_Cw_{part}"), f"List_Cw_{part}", bands)
        fwhm = vector(p, attrs.get(f"List_Fwhm_{part}", np.zeros(bands)), f"List_Fwhm_{part}",
                      bands)
        flags = attrs.get(f"List_Cw_{part}_Flags",
                          attrs.get(f"CNM_{part.upper()}_SELECT", np.ones(bands)))
        flags = vector(p, flags, f"List_Cw_{part}_Flags", bands)
        lo, hi = (_scalar(p, attrs, f"L2Scale{part}{m}") for m in ("Min", "Max"))
        parts.append((part, ds, cw, fwhm, flags, lo, hi))
    shapes = {(ds.shape[0], ds.shape[2]) for _, ds, *_ in parts}
    if len(shapes) != 1:
        raise HSIReadError(p, f"VNIR_Cube {parts[0][1].shape} and SWIR_Cube "
                              f"{parts[1][1].shape} are not on the same grid")
    geo = _geo(p, attrs, *shapes.pop()) if "L2D" in swath else None
    return swath, parts, _kept(parts, overlap), geo


def joined_bands(parts, keep) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres, FWHM and bad-band flags of the kept bands, VNIR then SWIR (unsorted)."""
    wl = np.concatenate([part[2][idx] for part, idx in zip(parts, keep, strict=True)])
    fw = np.concatenate([part[3][idx] for part, idx in zip(parts, keep, strict=True)])
    bad = np.concatenate([part[4][idx] == 0 for part, idx in zip(parts, keep, strict=True)])
    return wl, fw, bad


def joined_notes(cube: Cube, swath: str, parts, keep, overlap: str) -> Cube:
    """The cube with the notes on how the spectrometers were joined and on its geometry."""
    cube.warnings.append(_overlap_note(parts, keep, overlap))
    if cube.geo is None:
        cube.warnings.append(f"{swath.rsplit('/', 1)[-1]}: swath geometry, not a map grid "
                             f"(L2D products are georeferenced)")
    return cube


def _swath(p: Path, f) -> str:
    swaths = f.get("HDFEOS/SWATHS")
    names = sorted(n for n in (swaths or {}) if n.startswith("PRS_L2") and n.endswith("_HCO"))
    if not names:
        raise HSIReadError(p, "not a PRISMA L2 product: no HDFEOS/SWATHS/PRS_L2*_HCO swath")
    return f"HDFEOS/SWATHS/{names[0]}"


def _scalar(p: Path, attrs, name: str) -> float:
    if name not in attrs:
        raise HSIReadError(p, f"no '{name}' attribute (needed to scale the stored integers)")
    value = vector(p, attrs[name], name)
    if value.size != 1 or not np.isfinite(value[0]):
        raise HSIReadError(p, f"attribute '{name}' must be one number")
    return float(value[0])


def _kept(parts, overlap: str) -> list[np.ndarray]:
    """Per spectrometer, the stored band indices kept: a centre above 0, and outside the
    other spectrometer's range where ``overlap`` gives the overlap to the other."""
    (_, _, vnir, *_), (_, _, swir, *_) = parts
    v_ok, s_ok = vnir > 0, swir > 0
    v_top = vnir[v_ok].max() if v_ok.any() else -np.inf
    s_low = swir[s_ok].min() if s_ok.any() else np.inf
    if overlap == "vnir":
        s_ok &= swir > v_top
    elif overlap == "swir":
        v_ok &= vnir < s_low
    return [np.flatnonzero(v_ok), np.flatnonzero(s_ok)]


def _overlap_note(parts, keep, overlap: str) -> str:
    vnir, swir = (parts[i][2][keep[i]] for i in (0, 1))
    if not vnir.size or not swir.size or vnir.max() < swir.min():
        return f"joined {vnir.size} VNIR and {swir.size} SWIR bands (no overlap)"
    both = int(np.sum(vnir >= swir.min()) + np.sum(swir <= vnir.max()))
    return (f"joined {vnir.size} VNIR and {swir.size} SWIR bands sorted by wavelength; "
            f"{both} bands in the overlap {swir.min():.0f}-{vnir.max():.0f} nm kept from "
            f"{'both spectrometers' if overlap == 'both' else overlap.upper()}")


def _geo(p: Path, attrs, rows: int, cols: int) -> dict | None:
    """GeoTIFF tags of an L2D grid: corner attributes are pixel centres, EPSG from
    ``Epsg_Code``; None (with no error) when they are missing."""
    names = ("Product_ULcorner_easting", "Product_ULcorner_northing",
             "Product_LRcorner_easting", "Product_LRcorner_northing", "Epsg_Code")
    if not all(n in attrs for n in names):
        return None
    ul_e, ul_n, lr_e, lr_n, epsg = (_scalar(p, attrs, n) for n in names)
    dx = (lr_e - ul_e) / (cols - 1) if cols > 1 else 30.0
    dy = (ul_n - lr_n) / (rows - 1) if rows > 1 else 30.0
    try:
        return geo_tags((ul_e - dx / 2, dx, 0.0, ul_n + dy / 2, 0.0, -dy), int(epsg))
    except ValueError as exc:
        raise HSIReadError(p, f"cannot georeference the L2D grid ({exc})") from None
