"""Dispatch on file extension (and, for EnMAP, on the product's file names), plus a cheap
signature sniff for the napari reader.

Mission products: ``.nc`` is EMIT L2A (NetCDF4), ``.he5`` PRISMA L2 (HDF-EOS5); an EnMAP L2A
product opens by its ``*-SPECTRAL_IMAGE.TIF`` (when its ``*-METADATA.XML`` sits beside it), by
that XML or by its folder; any other ``.tif`` is a plain TIFF.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from napari_ssdgl.io._common import check_file
from napari_ssdgl.io._hdf5 import HDF5_MAGIC
from napari_ssdgl.io.arrays import NPY_MAGIC, read_npy, read_npz
from napari_ssdgl.io.base import Cube, HSIReadError, LabelMap
from napari_ssdgl.io.emit import check_orthorectifiable, read_emit
from napari_ssdgl.io.enmap import product_files, read_enmap
from napari_ssdgl.io.envi import DATA_SUFFIXES, header_for, read_envi
from napari_ssdgl.io.images import PNG_MAGIC, read_png
from napari_ssdgl.io.mat import read_mat
from napari_ssdgl.io.prisma import read_prisma
from napari_ssdgl.io.tiff import read_tiff

Reader = Callable[[Path], list]
READERS: dict[str, Reader] = {
    ".mat": read_mat,
    ".hdr": read_envi,
    ".tif": read_tiff,
    ".tiff": read_tiff,
    ".npy": read_npy,
    ".npz": read_npz,
    ".png": read_png,
    ".nc": read_emit,
    ".he5": read_prisma,
}
SUFFIXES = tuple(READERS)

_MAGIC = {
    ".mat": (b"MATLAB", b"\x89HDF\r\n\x1a\n"),
    ".hdr": (b"ENVI",),
    ".tif": (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),
    ".tiff": (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),
    ".npy": (NPY_MAGIC,),
    ".npz": (b"PK\x03\x04", b"PK\x05\x06"),
    ".png": (PNG_MAGIC,),
    ".nc": (HDF5_MAGIC,),
    ".he5": (HDF5_MAGIC,),
}


def _reader_for(path: Path) -> Reader:
    if (path.is_dir() or path.suffix.lower() in (".tif", ".tiff", ".xml")) and product_files(
            path) is not None:
        return read_enmap
    ext = path.suffix.lower()
    if ext in READERS:
        return READERS[ext]
    if ext in DATA_SUFFIXES and header_for(path) is not None:
        return read_envi
    if Path(str(path) + ".hdr").is_file():  # AVIRIS-NG / AVIRIS-3: '<name>_img' + '.hdr'
        return read_envi
    supported = ", ".join(SUFFIXES)
    raise HSIReadError(path, f"unsupported file type '{ext or path.name}' (supported: {supported})")


def read_path(path: str | Path, *, band_axis: int | None = None) -> list[Cube | LabelMap]:
    """Everything useful in a file: its cube (first) and any label rasters.

    ``band_axis``: which axis of the cube, as the file stores it, holds the bands (default: the
    file's own layout where it has one, else the rule of ``_common.band_axis_by_size``: two
    equal axes are rows and cols, otherwise the smallest axis). The cube records the axis taken
    and why (``Cube.band_axis``, ``Cube.band_axis_source``). Running out of memory is reported
    as ``HSIReadError`` too.
    """
    p = Path(path)
    reader = _reader_for(p)
    if reader is not read_enmap:  # a product folder is not a file; read_enmap checks its files
        check_file(p)
    try:
        return reader(p, band_axis=band_axis)
    except MemoryError:
        pass  # raised below, once the failed allocation's frames are released
    raise HSIReadError(p, "not enough memory to read it (for a scene larger than memory use "
                          "open_lazy or 'napari-ssdgl convert')")


def read_cube(path: str | Path, *, band_axis: int | None = None,
              orthorectify: bool = False) -> Cube:
    """The hyperspectral cube (bands, rows, cols) in a file; HSIReadError if there is none.
    ``orthorectify``: an EMIT L2A file on its GLT map grid (refused for other files)."""
    if orthorectify:
        check_orthorectifiable(path)
        check_file(Path(path))
        return read_emit(path, band_axis=band_axis, orthorectify=True)[0]
    items = read_path(path, band_axis=band_axis)
    for item in items:
        if isinstance(item, Cube):
            return item
    found = ", ".join(f"a 2-D label raster {item.data.shape}" for item in items)
    raise HSIReadError(path, f"expected a 3-D cube (bands, rows, cols), found only {found}")


def read_labels(path: str | Path) -> LabelMap:
    """The label raster in a file (one named like 'gt' first when there are several)."""
    labels = [item for item in read_path(path) if isinstance(item, LabelMap)]
    if not labels:
        raise HSIReadError(path, "expected a 2-D integer label raster, found only a 3-D cube")
    gt = [lm for lm in labels if "gt" in lm.name.lower().replace(Path(path).stem.lower(), "")]
    return (gt or labels)[0]


def can_read(path: str | Path) -> bool:
    """Cheap check (extension and file signature, no parsing) that ``read_path`` may apply."""
    p = Path(path)
    try:
        reader = _reader_for(p)
        if reader is read_enmap:  # the product's image must be a TIFF
            p = product_files(p)[0]
        if not p.is_file() or p.stat().st_size == 0:
            return False
        ext = p.suffix.lower()
        if ext not in _MAGIC:  # ENVI data file with a sidecar header
            p, ext = header_for(p), ".hdr"
            if reader is not read_envi or p is None:
                return False
        with open(p, "rb") as fh:
            head = fh.read(520)
    except (HSIReadError, OSError):
        return False
    if ext == ".mat" and len(head) >= 4 and 0 in head[:4]:  # MATLAB v4: no text header
        return True
    return head.startswith(_MAGIC[ext])
