"""Lazy cubes: dask arrays over files that may be larger than memory.

A flight line or a drill-core scan can exceed RAM, so these readers never load the whole array:
ENVI, .npy and contiguous TIFF are memory-mapped, zarr is read chunk by chunk, tiled or
compressed TIFF through tifffile's zarr store (tiles or strips on demand), HDF5 / MATLAB v7.3
one hyperslab at a time. Every cube is ``(bands, rows, cols)`` with all bands in one chunk and
spatial tiles as chunks: prediction needs every band of a pixel, and a tile is what one task
processes.

Backends are reached through :class:`LazySource`, a picklable object holding a *path*, not data
or an open handle, that opens its file once per process; so a graph sent to dask.distributed
workers carries a few hundred bytes per chunk and each worker reads the file itself (the file must
be visible to the workers at the same path, e.g. on a shared file system).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from napari_ssdgl.io.base import Cube, HSIReadError
from napari_ssdgl.io.zarr_store import DEFAULT_TILE, ChunkReadError, open_zarr_cube

LAZY_SUFFIXES = (".zarr", ".hdr", ".tif", ".tiff", ".mat", ".h5", ".hdf5", ".npy")

_OPEN: dict[tuple, object] = {}  # (kind, path, key) -> opened backend array, per process
_OPEN_LOCK = threading.Lock()


def _open_backend(kind: str, path: str, key: str):
    """The backend's array-like for (kind, path, key), opened once per process."""
    token = (kind, path, key)
    with _OPEN_LOCK:
        arr = _OPEN.get(token)
        if arr is None:
            arr = _OPEN[token] = _OPENERS[kind](path, key)
    return arr


def _open_envi(path: str, data_file: str):
    from spectral.io import envi

    return envi.open(path, data_file or None).open_memmap(interleave="bsq")


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


class LazySource:
    """Array-like (shape, dtype, ``__getitem__``) for ``dask.array.from_array``, picklable."""

    def __init__(self, kind: str, path: str | Path, key: str = "") -> None:
        self.kind, self.path, self.key = kind, str(path), key
        arr = _open_backend(kind, self.path, key)
        self.shape = tuple(int(n) for n in arr.shape)
        self.dtype = np.dtype(arr.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, index) -> np.ndarray:
        try:
            block = np.asarray(_open_backend(self.kind, self.path, self.key)[index])
        except Exception as exc:  # truncated file, bad tile/chunk, vanished network share
            raise ChunkReadError(f"{self.path}: cannot read {index} ({type(exc).__name__}: "
                                 f"{exc})") from exc
        if not block.dtype.isnative:
            block = block.astype(block.dtype.newbyteorder("="))
        return block

    def __dask_tokenize__(self) -> tuple:
        """Same file, same modification time -> same dask keys (cached results stay valid)."""
        return (self.kind, self.path, self.key, Path(self.path).stat().st_mtime_ns)

    def __getstate__(self) -> dict:
        return {k: getattr(self, k) for k in ("kind", "path", "key", "shape", "dtype", "ndim")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


def _chunks(shape: tuple[int, ...], band_axis: int, tile: int) -> tuple[int, ...]:
    return tuple(n if i == band_axis else min(n, tile) for i, n in enumerate(shape))


def open_lazy(path: str | Path, *, tile: int = DEFAULT_TILE) -> Cube:
    """A :class:`Cube` whose ``data`` is a dask array ``(bands, rows, cols)``; nothing is read
    but headers and metadata. ``tile`` is the spatial chunk edge (zarr keeps its own chunks)."""
    p = Path(path)
    if not p.exists():
        raise HSIReadError(p, "file not found")
    ext = p.suffix.lower()
    if p.is_dir() or ext == ".zarr":
        return open_zarr_cube(p)
    try:
        if ext in (".hdr",) or (ext not in LAZY_SUFFIXES and _envi_header(p) is not None):
            return _envi(p, tile)
        if ext in (".tif", ".tiff"):
            return _tiff(p, tile)
        if ext in (".mat", ".h5", ".hdf5"):
            return _hdf5(p, tile)
        if ext == ".npy":
            return _npy(p, tile)
    except HSIReadError:
        raise
    except Exception as exc:  # backends raise OSError, ValueError, KeyError, their own types
        raise HSIReadError(p, f"cannot open lazily ({type(exc).__name__}: {exc})") from exc
    raise HSIReadError(p, f"no lazy reader for '{ext}' (lazy formats: {', '.join(LAZY_SUFFIXES)})")


def can_open_lazy(path: str | Path) -> bool:
    """True when :func:`open_lazy` has a reader for the path (by extension only)."""
    p = Path(path)
    return p.suffix.lower() in LAZY_SUFFIXES or is_zarr_dir(p)


def is_zarr_dir(path: str | Path) -> bool:
    """A directory that holds a zarr array or group (format 3 or 2), whatever its name."""
    p = Path(path)
    return p.is_dir() and any((p / m).is_file() for m in ("zarr.json", ".zarray", ".zgroup"))


def _cube(data, path: Path, **kw) -> Cube:
    if data.ndim != 3:
        raise HSIReadError(path, f"expected a 3-D cube (bands, rows, cols), got shape {data.shape}")
    wl = kw.pop("wavelengths", None)
    if wl is not None:
        wl = np.asarray(wl, dtype=float).ravel()
        wl = wl if wl.size == data.shape[0] else None
    return Cube(data=data, wavelengths=wl, source=str(path), name=kw.pop("name", path.stem), **kw)


def _envi_header(p: Path) -> Path | None:
    from napari_ssdgl.io.envi import header_for

    return header_for(p)


def _envi(p: Path, tile: int) -> Cube:
    import dask.array as da
    from spectral.io import envi

    hdr = _envi_header(p)
    if hdr is None:
        raise HSIReadError(p, "no ENVI header (.hdr) found next to the data file")
    data_file = "" if p == hdr else str(p)
    src = LazySource("envi", hdr, data_file)
    meta = envi.read_envi_header(str(hdr))
    wl = meta.get("wavelength")
    units = meta.get("wavelength units")
    arr = da.from_array(src, chunks=_chunks(src.shape, 0, tile))
    return _cube(arr, hdr, wavelengths=wl, wavelength_units=units, name=hdr.stem)


def _npy(p: Path, tile: int) -> Cube:
    import dask.array as da

    from napari_ssdgl.io._common import band_axis_by_size, to_bands_first

    src = LazySource("npy", p)
    ax = band_axis_by_size(src.shape)
    arr = da.from_array(src, chunks=_chunks(src.shape, 0 if ax is None else ax, tile))
    return _cube(to_bands_first(arr), p)


def _tiff(p: Path, tile: int) -> Cube:
    import dask.array as da
    import tifffile

    from napari_ssdgl.io.tiff import read_geo_tags, tiff_bands_first

    with tifffile.TiffFile(p) as tf:
        axes = tf.series[0].axes
        geo = read_geo_tags(tf.pages[0])
    src = LazySource("tiff", p)
    keep = [i for i, n in enumerate(src.shape) if n != 1]
    if len(keep) != 3:
        raise HSIReadError(p, f"expected a 3-D cube, got shape {src.shape} with axes {axes!r}")
    axes3 = "".join(axes[i] for i in keep)
    band_ax = axes3.index("S") if axes3.count("S") == 1 else 0
    arr = da.from_array(src, chunks=_chunks(src.shape, keep[band_ax], tile))
    arr = arr.reshape([src.shape[i] for i in keep])
    return _cube(tiff_bands_first(arr, axes3), p, geo=geo)


def _hdf5(p: Path, tile: int) -> Cube:
    """The largest 3-D numeric dataset. MATLAB v7.3 stores (rows, cols, bands) column-major, so
    h5py sees (bands, cols, rows): swapping the last two axes gives the cube without a copy."""
    import dask.array as da
    import h5py

    if not h5py.is_hdf5(p):
        raise HSIReadError(p, "not an HDF5 / MATLAB v7.3 file (v5 .mat files cannot be read "
                              "lazily; convert them with 'napari-ssdgl convert')")
    found: list[tuple[int, str]] = []
    with h5py.File(p, "r") as f:
        matlab = any("MATLAB_class" in f[k].attrs for k in f if isinstance(f[k], h5py.Dataset))

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.ndim == 3 and obj.dtype.kind in "biuf":
                found.append((int(np.prod(obj.shape)), name))

        f.visititems(visit)
        if not found:
            raise HSIReadError(p, "no 3-D numeric dataset in the HDF5 file")
        key = max(found)[1]
        wl = _h5_wavelengths(f, f[key].shape[0] if matlab else None)
    src = LazySource("h5", p, key)
    if matlab:
        arr = da.from_array(src, chunks=_chunks(src.shape, 0, tile)).transpose(0, 2, 1)
    else:
        from napari_ssdgl.io._common import band_axis_by_size, to_bands_first

        ax = band_axis_by_size(src.shape)
        arr = to_bands_first(da.from_array(src, chunks=_chunks(src.shape, ax or 0, tile)))
    return _cube(arr, p, wavelengths=wl if wl is not None and wl.size == arr.shape[0] else None)


def _h5_wavelengths(f, bands: int | None) -> np.ndarray | None:
    from napari_ssdgl.io._common import is_wavelength_name

    for name, obj in f.items():
        if is_wavelength_name(name) and getattr(obj, "ndim", 0) in (1, 2) and obj.size < 100_000:
            return np.asarray(obj[()], dtype=float).ravel()
    return None


def sample_contrast_limits(data, *, blocks: int = 4,
                           percentiles=(1.0, 99.0)) -> tuple[float, float]:
    """Contrast limits for a lazy cube from a few of its chunks (evenly spread over the scene),
    not from the whole cube: a viewer asking for ``min``/``max`` would read every chunk.
    Reads at most ``blocks`` chunks; non-finite values are ignored."""
    import dask.array as da

    arr = data if isinstance(data, da.Array) else da.from_array(np.asarray(data))
    n_r, n_c = arr.numblocks[1], arr.numblocks[2]
    side = max(1, int(np.sqrt(blocks)))
    rows = sorted({int(round(x)) for x in np.linspace(0, n_r - 1, min(side, n_r))})
    cols = sorted({int(round(x)) for x in np.linspace(0, n_c - 1, min(side, n_c))})
    parts = [arr.blocks[:, i, j] for i in rows for j in cols]
    values = np.concatenate([np.asarray(p).ravel() for p in da.compute(*parts)])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(values, percentiles))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)
