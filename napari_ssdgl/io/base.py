"""The two things every reader returns: a spectral cube and a label raster."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class HSIReadError(ValueError):
    """A file could not be read as a cube or label raster; the message names the file and why."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # picklable, so dask workers can send it back to the client
        return type(self), (self.path, self.reason)


@dataclass
class Cube:
    """A hyperspectral cube, bands first: ``data.shape == (bands, rows, cols)``."""

    data: np.ndarray
    wavelengths: np.ndarray | None = None
    wavelength_units: str | None = None
    source: str | None = None
    name: str = "cube"
    dtype: str = ""
    geo: dict | None = None  # GeoTIFF tags (tag code -> value) to carry to outputs
    warnings: list[str] = field(default_factory=list)
    # which axis of the array as the file stores it holds the bands, and why (the file's own
    # layout, the reader's ``band_axis`` option, or the size rule of ``_common.band_axis_by_size``)
    band_axis: int | None = None
    band_axis_source: str | None = None
    stored_shape: tuple[int, ...] | None = None
    # band full width at half maximum, same units as ``wavelengths`` (what cross-sensor
    # resampling needs for a Gaussian spectral response), and the file's own bad-band flags
    # (True = flagged bad, e.g. ENVI ``bbl`` == 0, EMIT ``good_wavelengths`` == 0)
    fwhm: np.ndarray | None = None
    bad_bands: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.dtype:
            self.dtype = str(self.data.dtype)
        bands = int(self.data.shape[0]) if getattr(self.data, "ndim", 0) else 0
        self.fwhm = _per_band(self.fwhm, bands, float)
        self.bad_bands = _per_band(self.bad_bands, bands, bool)

    @property
    def bands(self) -> int:
        return int(self.data.shape[0])

    @property
    def spatial_shape(self) -> tuple[int, int]:
        return int(self.data.shape[1]), int(self.data.shape[2])

    def metadata(self) -> dict:
        """Metadata for a napari layer (plain Python values only)."""
        md: dict = {
            "source": self.source,
            "dtype": self.dtype,
            "wavelength_units": self.wavelength_units,
            "wavelengths": None if self.wavelengths is None else list(map(float, self.wavelengths)),
        }
        if self.fwhm is not None:
            md["fwhm"] = [float(v) for v in self.fwhm]
        if self.bad_bands is not None:
            md["bad_bands"] = [bool(v) for v in self.bad_bands]
        if self.band_axis is not None:
            md["band_axis"] = int(self.band_axis)
            md["band_axis_source"] = self.band_axis_source
        if self.stored_shape is not None:
            md["stored_shape"] = [int(n) for n in self.stored_shape]
        if self.geo:
            md["geo"] = self.geo
        if self.warnings:
            md["warnings"] = list(self.warnings)
        return md


def pixels(cube):
    """The pixel array of ``cube``: an array as it is (numpy, memory map, dask, zarr, HDF5), a
    Cube's (or any holder's) ``data``. Not ``getattr(cube, "data", cube)`` alone: an ndarray's
    ``.data`` is its memory buffer."""
    return cube if isinstance(cube, np.ndarray) else getattr(cube, "data", cube)


def _per_band(values, bands: int, kind: type) -> np.ndarray | None:
    """``values`` as a 1-D array of ``kind`` with one entry per band (None stays None); a
    list of another length is a programming error (readers drop and note a file's mismatched
    list before building the Cube), so it raises rather than describe some other cube."""
    if values is None:
        return None
    arr = np.asarray(values, dtype=kind).ravel()
    if arr.size != bands:
        raise ValueError(f"{arr.size} per-band values for a cube of {bands} bands")
    return arr


@dataclass
class LabelMap:
    """A 2-D integer label raster; 0 means unlabelled."""

    data: np.ndarray
    source: str | None = None
    name: str = "labels"
    class_names: dict[int, str] = field(default_factory=dict)
    colors: dict[int, str] = field(default_factory=dict)  # value -> "#rrggbb"
    geo: dict | None = None  # GeoTIFF tags, as Cube.geo (a class map's areas in ha)

    def metadata(self) -> dict:
        md = {
            "source": self.source,
            "class_names": {int(k): v for k, v in self.class_names.items()},
            "class_colors": {int(k): v for k, v in self.colors.items()},
        }
        if self.geo:
            md["geo"] = self.geo
        return md
