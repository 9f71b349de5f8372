"""Zarr cubes: the on-disk layout for scenes larger than memory.

A cube is stored as a ``(bands, rows, cols)`` array with chunks of *all bands* x a spatial tile:
prediction needs every band of a pixel and works tile by tile, so one chunk is exactly what one
task reads. Wavelengths, units, name and GeoTIFF tags go in the array's attributes. The array may
sit at the root of the ``.zarr`` directory (what :func:`write_zarr_cube` writes) or in a group
under the name ``cube`` (or as the group's only 3-D array).

Outputs are written through :func:`~napari_ssdgl.io.atomic.atomic_output` (a temporary name,
renamed on success), with ``complete: true`` set last: a crash or a dead worker leaves
``NAME.partial-*``, never a ``NAME.zarr`` that looks finished.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_ssdgl.io._common import check_declared, choose_band_axis, file_identity, per_band
from napari_ssdgl.io.atomic import atomic_output
from napari_ssdgl.io.base import Cube, HSIReadError
from napari_ssdgl.io.jsonio import jsonable

CUBE_NAME = "cube"
DEFAULT_TILE = 256  # spatial chunk edge; 256 x 256 x 200 bands x float32 = 52 MB per chunk


class IncompleteOutputError(HSIReadError):
    """A zarr output lacks ``complete: true``: it was left by a run that did not finish."""


def write_zarr_cube(
    cube: Cube,
    path: str | Path,
    *,
    tile: int = DEFAULT_TILE,
    overwrite: bool = False,
    scheduler=None,
) -> Path:
    """Write ``cube`` (its data a numpy or dask array) to a ``.zarr`` directory, chunk by chunk.

    Chunks are (bands, tile, tile); the data are rechunked to exactly these, so parallel writers
    never share a zarr chunk. Returns the path.
    """
    import dask.array as da
    import zarr

    data = cube.data if isinstance(cube.data, da.Array) else da.from_array(cube.data)
    bands, rows, cols = data.shape
    chunks = (bands, min(tile, rows), min(tile, cols))
    data = data.rechunk(chunks)
    attrs = {
        "wavelengths": None if cube.wavelengths is None else list(map(float, cube.wavelengths)),
        "wavelength_units": cube.wavelength_units,
        "fwhm": None if cube.fwhm is None else [float(v) for v in cube.fwhm],
        "bad_bands": None if cube.bad_bands is None else [bool(v) for v in cube.bad_bands],
        "name": cube.name,
        "source": cube.source,
        "geo": jsonable(cube.geo) if cube.geo else None,
    }
    with atomic_output(path, overwrite=overwrite) as tmp:
        z = zarr.open_array(str(tmp), mode="w", shape=data.shape, chunks=chunks,
                            dtype=data.dtype, fill_value=0)  # zarr 2 and 3 alike
        z.attrs.update(attrs)
        da.store(data, z, lock=False, scheduler=scheduler)
        z.attrs["complete"] = True
    return Path(path)


def _find_cube_array(p: Path):
    import zarr

    node = zarr.open(str(p), mode="r")
    if isinstance(node, zarr.Array):
        return node
    if CUBE_NAME in node and isinstance(node[CUBE_NAME], zarr.Array):
        return node[CUBE_NAME]
    arrays = [a for _, a in node.arrays() if a.ndim == 3]
    if len(arrays) != 1:
        raise HSIReadError(p, f"expected one 3-D array (or one named '{CUBE_NAME}') in the zarr "
                              f"group, found {len(arrays)}")
    return arrays[0]


class ChunkReadError(OSError):
    """Part of a cube could not be read (corrupt chunk, truncated file); the message names the
    file and the region. Unlike HSIReadError it survives pickling, so a dask.distributed worker
    can send it back to the client intact."""


class _Checked:
    """A zarr array whose read errors name the file and the region (a corrupt chunk otherwise
    surfaces as a bare codec error such as 'Zstd decompression error')."""

    def __init__(self, array, path: Path) -> None:
        self.array, self.path = array, str(path)
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, index):
        try:
            return self.array[index]
        except Exception as exc:
            where = ", ".join(f"{s.start}:{s.stop}" if isinstance(s, slice) else str(s)
                              for s in (index if isinstance(index, tuple) else (index,)))
            raise ChunkReadError(f"{self.path}: corrupt or unreadable chunk in [{where}] "
                                 f"({type(exc).__name__}: {exc})") from exc


ZARR_LAYOUT = (0, "metadata: zarr cube (bands, rows, cols)")


def open_zarr_cube(path: str | Path, *, band_axis: int | None = None) -> Cube:
    """A :class:`Cube` whose data is a dask array over the zarr array (nothing is read).

    The declared shape and chunks are checked (``_common.check_declared``: element, chunk
    count and chunk size caps; missing chunks are fill values, so there is no size check).
    ``band_axis`` names another axis than 0 as the bands."""
    import dask.array as da

    p = Path(path)
    try:
        z = _find_cube_array(p)
        if z.ndim != 3:
            raise HSIReadError(p, f"expected a 3-D (bands, rows, cols) array, got shape "
                                  f"{z.shape}")
        check_declared(p, z.shape, z.dtype.itemsize, chunks=z.chunks, what="the zarr metadata")
        attrs = dict(z.attrs)
        if attrs.get("complete") is False:
            raise IncompleteOutputError(p, "incomplete (written by a run that did not finish)")
        axis = choose_band_axis(p, z.shape, band_axis, stored=ZARR_LAYOUT)
        data = da.from_array(_Checked(z, p), chunks=z.chunks, name=f"zarr-cube-{_token(p)}")
        if axis[0]:
            data = da.moveaxis(data, axis[0], 0)
        wl = _wavelengths(attrs.get("wavelengths"), data.shape[0])
        notes: list[str] = []
        geo = attrs.get("geo") or None
        geo = {int(k): v for k, v in geo.items()} if isinstance(geo, dict) else None
        units, name = attrs.get("wavelength_units"), attrs.get("name")
        return Cube(
            data=data,
            wavelengths=wl,
            wavelength_units=units if isinstance(units, str) else None,
            source=str(p),
            name=name if isinstance(name, str) and name else p.stem,
            geo=geo,
            band_axis=axis[0],
            band_axis_source=axis[1],
            stored_shape=tuple(int(n) for n in z.shape),
            fwhm=per_band(attrs.get("fwhm"), data.shape[0], float, "FWHM values", notes),
            bad_bands=per_band(attrs.get("bad_bands"), data.shape[0], bool, "bad-band flags",
                               notes),
            warnings=notes,
        )
    except HSIReadError:  # IncompleteOutputError too
        raise
    except Exception as exc:  # zarr raises FileNotFoundError, KeyError, its own errors
        raise HSIReadError(p, f"not a readable zarr cube ({type(exc).__name__}: {exc})") from exc


def _wavelengths(values, bands: int) -> np.ndarray | None:
    try:
        wl = np.asarray(values, dtype=float).ravel() if isinstance(values, list) else None
    except (TypeError, ValueError):
        return None
    return wl if wl is not None and wl.size == bands else None


_ZARR_METADATA = ("zarr.json", ".zarray", ".zgroup", ".zattrs", f"{CUBE_NAME}/zarr.json",
                  f"{CUBE_NAME}/.zarray", f"{CUBE_NAME}/.zattrs")


def _token(p: Path) -> str:
    """Dask key prefix: the directory's and its metadata files' identity (resolved path, size,
    modification time): a rewritten or replaced cube gets new keys."""
    from dask.base import tokenize

    files = [p] + [p / m for m in _ZARR_METADATA if (p / m).is_file()]
    return tokenize(file_identity(*files), p.stat().st_ino)
