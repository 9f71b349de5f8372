"""``napari-ssdgl convert``: any readable cube to a chunked zarr cube that dask reads lazily."""

from __future__ import annotations

from pathlib import Path

from napari_ssdgl.io.base import HSIReadError
from napari_ssdgl.io.lazy import can_open_lazy, open_lazy
from napari_ssdgl.io.registry import read_cube
from napari_ssdgl.io.zarr_store import DEFAULT_TILE, write_zarr_cube


def convert(src: str | Path, dst: str | Path, *, tile: int = DEFAULT_TILE,
            overwrite: bool = False, scheduler=None, orthorectify: bool = False) -> Path:
    """Copy any readable cube to a zarr cube. Lazy formats stream chunk by chunk; the others
    (MATLAB v5, .npz) are read into memory first, as their formats allow nothing else.
    ``orthorectify``: an EMIT granule on its GLT map grid, streamed too."""
    if orthorectify:
        return write_zarr_cube(open_lazy(src, tile=tile, orthorectify=True), dst, tile=tile,
                               overwrite=overwrite, scheduler=scheduler)
    try:
        cube = open_lazy(src, tile=tile) if can_open_lazy(src) else read_cube(src)
    except HSIReadError as exc:
        if "v5 .mat" not in exc.reason and "no 3-D numeric dataset" not in exc.reason:
            raise
        cube = read_cube(src)
    return write_zarr_cube(cube, dst, tile=tile, overwrite=overwrite, scheduler=scheduler)
