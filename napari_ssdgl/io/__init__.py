"""Readers and writers for hyperspectral cubes and label rasters (no napari, no Qt).

Formats: MATLAB .mat (v5 via scipy, v7.3 via h5py), ENVI .hdr (spectral), multiband TIFF /
GeoTIFF (tifffile), .npy/.npz, PNG label rasters. Every reader returns bands-first ``Cube``s and
2-D ``LabelMap``s and raises ``HSIReadError`` (naming the file and the problem) on bad input.
"""

from napari_ssdgl.io.base import Cube, HSIReadError, LabelMap
from napari_ssdgl.io.registry import SUFFIXES, can_read, read_cube, read_labels, read_path
from napari_ssdgl.io.writers import WRITE_SUFFIXES, write_class_map

__all__ = [
    "Cube",
    "HSIReadError",
    "LabelMap",
    "SUFFIXES",
    "WRITE_SUFFIXES",
    "can_read",
    "read_cube",
    "read_labels",
    "read_path",
    "write_class_map",
]
