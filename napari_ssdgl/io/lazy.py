"""Lazy cubes: dask arrays over files that may be larger than memory.

A flight line or a drill-core scan can exceed RAM, so these readers never load the whole array:
ENVI, .npy and contiguous TIFF are memory-mapped, zarr is read chunk by chunk, tiled or
compressed TIFF through tifffile's zarr store (tiles or strips on demand), HDF5 / MATLAB v7.3
one hyperslab at a time (EMIT L2A ``.nc`` and PRISMA L2 ``.he5`` too, scaled and
joined chunk by chunk). Every cube is ``(bands, rows, cols)`` with all bands in one chunk and
spatial tiles as chunks: prediction needs every band of a pixel, and a tile is what one task
processes.

Backends are reached through :class:`LazySource`, a picklable object holding a *path*, not data
or an open handle, that opens its file once per process; so a graph sent to dask.distributed
workers carries a few hundred bytes per chunk and each worker reads the file itself (the file must
be visible to the workers at the same path, e.g. on a shared file system). A source presents its
array bands first (it reorders the axes of each block it reads), so a small window asked of the
dask array is a small read of the file.

What a header declares is checked before anything is mapped or chunked
(``_common.check_declared``: sizes against the file, the compression-ratio, element and chunk
caps), the band axis follows the same rule as the in-memory readers (``band_axis=`` chooses
another), and the per-process cache of open files and the dask tokens are keyed on each file's
identity (resolved path, size, modification time): a file replaced at the same path is read
afresh, and a source whose file changed under it refuses to read.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from napari_ssdgl.io._common import check_declared, choose_band_axis, file_identity, per_band
from napari_ssdgl.io.base import Cube, HSIReadError
from napari_ssdgl.io.zarr_store import DEFAULT_TILE, ChunkReadError, open_zarr_cube

LAZY_SUFFIXES = (".zarr", ".hdr", ".tif", ".tiff", ".mat", ".h5", ".hdf5", ".npy", ".nc", ".he5")

_OPEN: dict[tuple, object] = {}  # (kind, path, key, identity) -> opened backend array
_OPEN_LOCK = threading.Lock()


def _open_backend(kind: str, path: str, key: str, identity: tuple):
    """The backend's array-like for (kind, path, key) as the file is now (``identity``), opened
    once per process; entries for an earlier version of the same file are dropped."""
    token = (kind, path, key, identity)
    with _OPEN_LOCK:
        arr = _OPEN.get(token)
        if arr is None:
            for old in [t for t in _OPEN if t[:3] == token[:3]]:
                del _OPEN[old]
            arr = _OPEN[token] = _OPENERS[kind](path, key)
    return arr


def _open_envi(path: str, data_file: str):
    from napari_ssdgl.io.envi import envi_layout

    return envi_layout(path, data_file or None).memmap()


def _open_npy(path: str, key: str):
    return np.load(path, mmap_mode="r", allow_pickle=False)


def _open_h5(path: str, key: str):
    import h5py

    return h5py.File(path, "r")[key]


def _open_tiff(path: str, key: str):
    """Contiguous (untiled, uncompressed) TIFFs are memory-mapped; the others are read through
    tifffile's zarr store, tile by tile (recent tifffile needs zarr >= 3 for that store)."""
    import tifffile

    try:
        return tifffile.memmap(path, series=0, mode="r")
    except ValueError:  # "not memory-mappable": tiled, compressed or strided
        pass
    import zarr

    z = zarr.open(tifffile.imread(path, aszarr=True, series=0), mode="r")
    return z if isinstance(z, zarr.Array) else z[key or "0"]  # pyramids: level 0


_OPENERS = {"envi": _open_envi, "npy": _open_npy, "h5": _open_h5, "tiff": _open_tiff}


def _is_int(index) -> bool:
    return isinstance(index, (int, np.integer)) and not isinstance(index, bool)


def _full_index(index, ndim: int) -> tuple:
    """``index`` as a tuple of ``ndim`` entries: an Ellipsis and missing trailing axes become
    full slices."""
    index = index if isinstance(index, tuple) else (index,)
    if any(i is Ellipsis for i in index):
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (ndim - len(index) + 1) + index[at + 1:]
    return index + (slice(None),) * (ndim - len(index))


class LazySource:
    """Array-like (shape, dtype, ``__getitem__``) for ``dask.array.from_array``, picklable.

    ``axes``: for each axis this source presents, the axis of the stored array it is (bands
    first); stored axes not listed have length 1. ``files``: the files whose identity the
    source is keyed on (default: ``path``; an ENVI source has its header and its data file).
    """

    def __init__(self, kind: str, path: str | Path, key: str = "", *, axes=None,
                 files=None) -> None:
        self.kind, self.path, self.key = kind, str(path), key
        self.files = tuple(str(f) for f in (files or (path,)))
        self.identity = file_identity(*self.files)
        arr = _open_backend(kind, self.path, key, self.identity)
        self.stored_shape = tuple(int(n) for n in arr.shape)
        self.axes = tuple(range(len(self.stored_shape)) if axes is None else axes)
        dropped = set(range(len(self.stored_shape))) - set(self.axes)
        if sorted(self.axes) != sorted(set(self.axes)) or any(
            self.stored_shape[a] != 1 for a in dropped
        ):
            raise HSIReadError(path, f"axes {self.axes} do not fit the stored shape "
                                     f"{self.stored_shape}")
        self.shape = tuple(self.stored_shape[a] for a in self.axes)
        dtype = np.dtype(arr.dtype)
        self.dtype = dtype if dtype.isnative else dtype.newbyteorder("=")
        self.ndim = len(self.shape)

    def _check_identity(self) -> None:
        try:
            now = file_identity(*self.files)
        except OSError as exc:
            raise ChunkReadError(f"{self.path}: the file is gone ({exc})") from exc
        if [i[1:] for i in now] != [i[1:] for i in self.identity]:
            raise ChunkReadError(f"{self.path}: the file changed since it was opened (size or "
                                 f"modification time); open it again")

    def _stored_index(self, index) -> tuple[tuple, list[int]]:
        """The index into the stored array (ints as length-1 slices) and the presented axes
        the block keeps."""
        index = _full_index(index, self.ndim)
        stored: list = [slice(None)] * len(self.stored_shape)
        kept = []
        for i, (ix, axis) in enumerate(zip(index, self.axes, strict=True)):
            if _is_int(ix):
                n = self.stored_shape[axis]
                ix = int(ix) % n if -n <= ix < n else int(ix)
                stored[axis] = slice(ix, ix + 1)
            else:
                stored[axis] = ix
                kept.append(i)
        return tuple(stored), kept

    def __getitem__(self, index) -> np.ndarray:
        self._check_identity()
        stored, kept = self._stored_index(index)
        try:
            block = np.asarray(_open_backend(self.kind, self.path, self.key,
                                             self.identity)[stored])
        except Exception as exc:  # truncated file, bad tile/chunk, vanished network share
            raise ChunkReadError(f"{self.path}: cannot read {index} ({type(exc).__name__}: "
                                 f"{exc})") from exc
        dropped = tuple(a for a in range(len(self.stored_shape)) if a not in self.axes)
        order = self.axes + dropped  # presented axes first, then the length-1 ones dropped
        if order != tuple(range(len(order))):
            block = block.transpose(order)
        if len(kept) != block.ndim:
            block = block.reshape([block.shape[i] for i in kept])
        if not block.dtype.isnative:
            block = block.astype(block.dtype.newbyteorder("="))
        return block

    def __dask_tokenize__(self) -> tuple:
        """Same files (path, size, modification time) -> same dask keys (cached results stay
        valid); a replaced file gets new keys."""
        return (self.kind, self.path, self.key, self.identity, self.axes)

    def __getstate__(self) -> dict:
        keys = ("kind", "path", "key", "files", "identity", "stored_shape", "axes", "shape",
                "dtype", "ndim")
        return {k: getattr(self, k) for k in keys}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


def _bands_first_axes(axis: int, keep: list[int]) -> tuple[int, ...]:
    """Stored axes, bands first: ``keep`` are the stored axes of the 3-D array (singletons
    dropped) and ``axis`` the band axis among them."""
    return (keep[axis], *(a for i, a in enumerate(keep) if i != axis))


def open_lazy(path: str | Path, *, tile: int = DEFAULT_TILE, band_axis: int | None = None,
              orthorectify: bool = False) -> Cube:
    """A :class:`Cube` whose ``data`` is a dask array ``(bands, rows, cols)``; nothing is read
    but headers and metadata. ``tile`` is the spatial chunk edge (zarr keeps its own chunks);
    ``band_axis`` names the axis of the stored array that holds the bands (default: the file's
    layout, else the rule of ``_common.band_axis_by_size``). ``orthorectify``: an EMIT L2A
    file on its GLT map grid (:class:`GLTSource`); refused for other files. Every failure,
    running out of memory included, is an ``HSIReadError`` naming the file."""
    p = Path(path)
    if not p.exists():
        raise HSIReadError(p, "file not found")
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 1:
        raise ValueError(f"tile must be a positive integer, got {tile!r}")
    ext = p.suffix.lower()
    if orthorectify:
        from napari_ssdgl.io.emit import check_orthorectifiable

        check_orthorectifiable(p)
    try:
        if p.is_dir() or ext == ".zarr":
            return open_zarr_cube(p, band_axis=band_axis)
        if ext in (".hdr",) or (ext not in LAZY_SUFFIXES and _envi_header(p) is not None):
            return _envi(p, tile, band_axis)
        if ext in (".tif", ".tiff"):
            return _tiff(p, tile, band_axis)
        if ext in (".mat", ".h5", ".hdf5"):
            return _hdf5(p, tile, band_axis)
        if ext == ".nc":
            return _emit(p, tile, band_axis, orthorectify)
        if ext == ".he5":
            return _prisma(p, tile)
        if ext == ".npy":
            return _npy(p, tile, band_axis)
    except HSIReadError:
        raise
    except MemoryError:
        pass  # raised below, once the failed allocation's frames are released
    except Exception as exc:  # backends raise OSError, ValueError, KeyError, their own types
        raise HSIReadError(p, f"cannot open lazily ({type(exc).__name__}: {exc})") from exc
    else:
        raise HSIReadError(p, f"no lazy reader for '{ext}' (lazy formats: "
                              f"{', '.join(LAZY_SUFFIXES)})")
    raise HSIReadError(p, "not enough memory to open it lazily")


def can_open_lazy(path: str | Path) -> bool:
    """True when :func:`open_lazy` has a reader for the path (by extension only)."""
    p = Path(path)
    return p.suffix.lower() in LAZY_SUFFIXES or is_zarr_dir(p)


def is_zarr_dir(path: str | Path) -> bool:
    """A directory that holds a zarr array or group (format 3 or 2), whatever its name."""
    p = Path(path)
    return p.is_dir() and any((p / m).is_file() for m in ("zarr.json", ".zarray", ".zgroup"))


def _chunked(src: LazySource, tile: int, name: str | None = None):
    import dask.array as da

    chunks = (src.shape[0], *(min(n, tile) for n in src.shape[1:]))
    return da.from_array(src, chunks=chunks, name=name)


def _tile_chunks(shape: tuple[int, ...], axes: tuple[int, ...], tile: int) -> tuple[int, ...]:
    """The chunk edges of a bands-first array with stored shape ``shape``."""
    bands, *rest = (shape[a] for a in axes)
    return (bands, *(min(n, tile) for n in rest))


def _cube(src: LazySource | GLTSource, path: Path, tile: int, axis: tuple[int, str], **kw) -> Cube:
    data = _chunked(src, tile)
    wl = kw.pop("wavelengths", None)
    if wl is not None:
        try:
            wl = np.asarray(wl, dtype=float).ravel()
        except (TypeError, ValueError):
            wl = None
        wl = wl if wl is not None and wl.size == data.shape[0] else None
    notes: list[str] = kw.pop("warnings", [])
    for key, kind, what in (("fwhm", float, "FWHM values"), ("bad_bands", bool, "bad-band flags")):
        kw[key] = per_band(kw.get(key), data.shape[0], kind, what, notes)
    return Cube(data=data, wavelengths=wl, source=str(path), name=kw.pop("name", path.stem),
                band_axis=axis[0], band_axis_source=axis[1],
                stored_shape=src.stored_shape, warnings=notes, **kw)


def _envi_header(p: Path) -> Path | None:
    from napari_ssdgl.io.envi import header_for

    return header_for(p)


def _envi(p: Path, tile: int, band_axis: int | None) -> Cube:
    from napari_ssdgl.io.envi import (
        envi_band_info,
        envi_geo,
        envi_layout,
        envi_notes,
        envi_wavelengths,
        ignore_value,
    )

    hdr = _envi_header(p)
    if hdr is None:
        raise HSIReadError(p, "no ENVI header (.hdr) found next to the data file")
    layout = envi_layout(hdr, None if p == hdr else p)  # sizes checked against the data file
    axis = choose_band_axis(hdr, layout.shape, band_axis,
                            stored=(layout.band_axis, f"metadata: ENVI interleave "
                                                      f"{layout.interleave}"))
    axes = _bands_first_axes(axis[0], [0, 1, 2])
    check_declared(hdr, layout.shape, layout.dtype.itemsize,
                   chunks=_stored_chunks(layout.shape, axes, tile))
    src = LazySource("envi", hdr, str(layout.data), axes=axes, files=(hdr, layout.data))
    cube = _cube(src, hdr, tile, axis, wavelengths=envi_wavelengths(layout.meta),
                 name=hdr.stem, geo=envi_geo(layout.meta), **envi_band_info(layout.meta))
    ignore = ignore_value(layout.meta)
    if ignore is not None and cube.data.dtype.kind == "f":  # AVIRIS-NG / AVIRIS-3: -9999
        import dask.array as da

        cube.data = da.where(cube.data == ignore, np.nan, cube.data).astype(cube.data.dtype)
    return envi_notes(cube, layout.meta)


def _stored_chunks(shape, axes, tile) -> list[int]:
    """:func:`_tile_chunks` in the stored order (1 for dropped singleton axes)."""
    edges = _tile_chunks(shape, axes, tile)
    return [edges[axes.index(a)] if a in axes else 1 for a in range(len(shape))]


def _npy(p: Path, tile: int, band_axis: int | None) -> Cube:
    from napari_ssdgl.io.arrays import checked_npy_header

    shape, dtype, _ = checked_npy_header(p)  # sizes checked against the file
    if len(shape) != 3:
        raise HSIReadError(p, f"expected a 3-D cube (bands, rows, cols), got shape {shape}")
    axis = choose_band_axis(p, shape, band_axis)
    axes = _bands_first_axes(axis[0], [0, 1, 2])
    check_declared(p, shape, dtype.itemsize, chunks=_stored_chunks(shape, axes, tile))
    return _cube(LazySource("npy", p, axes=axes), p, tile, axis)


def _tiff(p: Path, tile: int, band_axis: int | None) -> Cube:
    import tifffile

    from napari_ssdgl.io.tiff import check_series, read_geo_tags, tiff_band_axis

    with tifffile.TiffFile(p) as tf:
        if not tf.series:
            raise HSIReadError(p, "the TIFF holds no image series")
        series = tf.series[0]
        shape, axes = tuple(int(n) for n in series.shape), series.axes
        keep = [i for i, n in enumerate(shape) if n != 1]
        if len(keep) != 3:
            raise HSIReadError(p, f"expected a 3-D cube, got shape {shape} with axes {axes!r}")
        kept = tuple(shape[i] for i in keep)
        axis = tiff_band_axis(p, kept, "".join(axes[i] for i in keep), band_axis)
        order = _bands_first_axes(axis[0], keep)
        check_series(p, series, chunks=_stored_chunks(shape, order, tile))  # before any read
        geo = read_geo_tags(tf.pages[0])
    return _cube(LazySource("tiff", p, axes=order), p, tile, axis, geo=geo)


def _hdf5(p: Path, tile: int, band_axis: int | None) -> Cube:
    """The largest 3-D numeric dataset. MATLAB v7.3 stores (rows, cols, bands) column-major, so
    h5py sees (bands, cols, rows): presenting stored axes (0, 2, 1) gives the cube without a
    copy (``band_axis`` is then an axis of the MATLAB-order array)."""
    import h5py

    from napari_ssdgl.io._common import MATLAB_LAYOUT
    from napari_ssdgl.io.mat import check_h5_dataset

    if not h5py.is_hdf5(p):
        raise HSIReadError(p, "not an HDF5 / MATLAB v7.3 file (v5 .mat files cannot be read "
                              "lazily; convert them with 'napari-ssdgl convert')")
    found: list[tuple[int, str]] = []
    with h5py.File(p, "r") as f:
        matlab = any("MATLAB_class" in f[k].attrs for k in f if isinstance(f[k], h5py.Dataset))

        def visit(name, obj):
            if (isinstance(obj, h5py.Dataset) and obj.shape is not None and obj.ndim == 3
                    and obj.dtype.kind in "biuf"):
                found.append((int(np.prod(obj.shape, dtype=object)), name))

        f.visititems(visit)
        if not found:
            raise HSIReadError(p, "no 3-D numeric dataset in the HDF5 file")
        key = max(found)[1]
        ds = f[key]
        shape = tuple(int(n) for n in ds.shape)
        if matlab:  # choose in MATLAB order (rows, cols, bands) = reversed h5py order
            b, source = choose_band_axis(p, shape[::-1], band_axis, stored=MATLAB_LAYOUT)
            axes = _bands_first_axes(b, [2, 1, 0])  # MATLAB axis i is h5py axis 2 - i
            axis = (b, source)
        else:
            axis = choose_band_axis(p, shape, band_axis)
            axes = _bands_first_axes(axis[0], [0, 1, 2])
        check_h5_dataset(p, ds, chunks=_stored_chunks(shape, axes, tile),
                         what=f"dataset '{key}'")
        wl = _h5_wavelengths(f, shape[axes[0]])
    return _cube(LazySource("h5", p, key, axes=axes), p, tile, axis, wavelengths=wl)


class GLTSource:
    """Array-like ``(bands, grid rows, grid cols)``: an EMIT swath (a bands-first
    :class:`LazySource`) on its GLT map grid, for ``dask.array.from_array``; picklable.

    A block reads its cells' GLT, then ``emit.gather_glt`` reads only the box of the swath they
    point into: fill values and cells without a pixel are NaN."""

    def __init__(self, swath: LazySource, glt_x: LazySource, glt_y: LazySource,
                 fill: float) -> None:
        self.swath, self.glt_x, self.glt_y, self.fill = swath, glt_x, glt_y, float(fill)
        self.shape = (swath.shape[0], *glt_x.shape)
        self.stored_shape = swath.stored_shape  # the file's swath, as the in-memory reader says
        self.dtype, self.ndim = np.dtype(np.float32), 3

    def __getitem__(self, index) -> np.ndarray:
        from napari_ssdgl.io.emit import gather_glt, glt_indices

        bands, rows, cols = _full_index(index, 3)
        if sum(np.ndim(i) > 0 for i in (bands, rows, cols)) > 1:
            raise IndexError(f"GLTSource takes one index array at most, got {index}")
        band_pick = slice(None)
        if _is_int(bands):  # napari shows one band: only that band is read
            b = int(bands) % self.shape[0]
            bands, band_pick = slice(b, b + 1), 0
        spans, picks = [], []  # the grid's bounding box, then the index relative to it
        for ix, n in ((rows, self.shape[1]), (cols, self.shape[2])):
            if isinstance(ix, slice) and ix.step in (None, 1):
                spans.append(ix)
                picks.append(slice(None))
                continue
            kept = np.arange(n)[ix]
            low = int(kept.min()) if kept.size else 0
            spans.append(slice(low, int(kept.max()) + 1 if kept.size else 0))
            picks.append(kept - low)
        gx, gy = (glt_indices(g[spans[0], spans[1]]) for g in (self.glt_x, self.glt_y))
        out = gather_glt(lambda y0, y1, x0, x1: self.swath[bands, y0:y1, x0:x1], gx, gy,
                         self.fill)
        return out[band_pick, picks[0], picks[1]]

    def __dask_tokenize__(self) -> tuple:
        return ("glt", self.swath.__dask_tokenize__(), self.fill)


def _emit(p: Path, tile: int, band_axis: int | None, orthorectify: bool = False) -> Cube:
    """An EMIT L2A swath (``io.emit``), fill values NaN chunk by chunk; with ``orthorectify``
    on its GLT map grid, tile by tile (:class:`GLTSource`; the GLT's bounds are checked here,
    once, as the in-memory reader checks them)."""
    import dask.array as da

    from napari_ssdgl.io._hdf5 import open_hdf5
    from napari_ssdgl.io.emit import (
        KIND,
        SWATH_NOTE,
        check_glt,
        emit_layout,
        glt_arrays,
        glt_geo,
    )

    with open_hdf5(p, KIND) as f:
        ds, axis, (wl, fwhm, good), fill = emit_layout(p, f, band_axis)
        shape = tuple(int(n) for n in ds.shape)
        axes = _bands_first_axes(axis[0], [0, 1, 2])
        check_declared(p, shape, ds.dtype.itemsize, chunks=_stored_chunks(shape, axes, tile))
        if orthorectify:
            gx, gy = glt_arrays(p, f)
            geo = glt_geo(p, dict(f.attrs))
    swath = LazySource("h5", p, "reflectance", axes=axes)
    kw = {"wavelengths": wl, "wavelength_units": "nm", "fwhm": fwhm,
          "bad_bands": None if good is None else good == 0}
    if orthorectify:
        check_glt(p, gx, gy, *swath.shape[1:])
        src = GLTSource(swath, LazySource("h5", p, "location/glt_x"),
                        LazySource("h5", p, "location/glt_y"), fill)
        return _cube(src, p, tile, axis, geo=geo, **kw)
    cube = _cube(swath, p, tile, axis, warnings=[SWATH_NOTE], **kw)
    data = cube.data.astype(np.float32)
    cube.data = da.where(data == fill, np.float32(np.nan), data)
    return cube


def _prisma(p: Path, tile: int) -> Cube:
    """A PRISMA L2 product (``io.prisma``): each spectrometer's stored (rows, bands, cols)
    cube presented bands first, scaled, joined and sorted by wavelength chunk by chunk."""
    import dask.array as da

    from napari_ssdgl.io._hdf5 import open_hdf5
    from napari_ssdgl.io.prisma import (
        DN_MAX,
        KIND,
        PRISMA_LAYOUT,
        joined_bands,
        joined_notes,
        prisma_layout,
    )

    with open_hdf5(p, KIND) as f:
        swath, parts, keep, geo = prisma_layout(p, f)
        keys = [ds.name for _, ds, *_ in parts]  # h5py forgets them once the file is closed
        for _, ds, *_ in parts:
            shape = tuple(int(n) for n in ds.shape)
            check_declared(p, shape, ds.dtype.itemsize,
                           chunks=_stored_chunks(shape, (1, 0, 2), tile))
    pieces = []
    for (_, _, _, _, _, lo, hi), idx, key in zip(parts, keep, keys, strict=True):
        src = LazySource("h5", p, key, axes=(1, 0, 2))
        dn = _chunked(src, tile)[idx].astype(np.float32)
        pieces.append(lo + dn * np.float32((hi - lo) / DN_MAX))
    wl, fw, bad = joined_bands(parts, keep)
    order = np.argsort(wl, kind="stable")
    data = da.concatenate(pieces, axis=0)[order].rechunk({0: -1})
    cube = Cube(data=data, wavelengths=wl[order], wavelength_units="nm", source=str(p),
                name=p.stem, geo=geo, band_axis=PRISMA_LAYOUT[0],
                band_axis_source=PRISMA_LAYOUT[1], stored_shape=parts[0][1].shape,
                fwhm=fw[order] if np.any(fw) else None, bad_bands=bad[order])
    return joined_notes(cube, swath, parts, keep, "both")


def _h5_wavelengths(f, bands: int | None) -> np.ndarray | None:
    from napari_ssdgl.io._common import is_wavelength_name

    for name, obj in f.items():
        if (is_wavelength_name(name) and getattr(obj, "shape", None) is not None
                and getattr(obj, "ndim", 0) in (1, 2) and obj.size < 100_000
                and obj.dtype.kind in "biuf"):
            return np.asarray(obj[()], dtype=float).ravel()
    return None


def sample_contrast_limits(data, *, blocks: int = 4, percentiles=(1.0, 99.0), size: int = 32,
                           bands: int = 16) -> tuple[float, float]:
    """Contrast limits for a lazy cube from a few small windows of it, not from the whole cube:
    a viewer asking for ``min``/``max`` would read every chunk. Reads at most ``blocks``
    windows (evenly spread over the scene, one inside each of that many chunks) of at most
    ``size`` x ``size`` pixels and ``bands`` evenly spaced bands, so what it reads is bounded
    whatever the scene's size (a sparse file has the size but not the data). Non-finite
    values are ignored."""
    import dask.array as da

    arr = data if isinstance(data, da.Array) else da.from_array(np.asarray(data))
    if arr.ndim != 3 or 0 in arr.shape:
        return 0.0, 1.0
    step = max(1, -(-arr.shape[0] // max(1, bands)))
    parts = [arr[::step, r, c] for r, c in spread_windows(arr.chunks, blocks, size)]
    values = np.concatenate([np.asarray(p).ravel() for p in da.compute(*parts)])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(values, percentiles))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def spread_windows(chunks: tuple, count: int, size: int) -> list[tuple[slice, slice]]:
    """(rows, cols) of up to ``count`` windows of at most ``size`` px, each at the start of a
    chunk of a (bands, rows, cols) dask array with these ``chunks``, the chunks spread evenly
    over the scene: what a bounded sample of a lazy cube reads (``count`` chunks at most)."""
    side = max(1, int(np.sqrt(count)))
    windows = []
    for axis in (1, 2):
        edges = chunks[axis]
        starts = np.concatenate([[0], np.cumsum(edges[:-1])]).astype(int)
        picks = sorted({int(round(x)) for x in np.linspace(0, len(edges) - 1,
                                                            min(side, len(edges)))})
        windows.append([slice(int(starts[i]), int(starts[i]) + min(size, int(edges[i])))
                        for i in picks])
    return [(r, c) for r in windows[0] for c in windows[1]]
