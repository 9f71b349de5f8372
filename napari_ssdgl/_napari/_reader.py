"""npe2 reader: hyperspectral cubes become Image layers, label rasters become Labels layers.

``get_reader`` never raises: a path it does not recognise (extension, file signature) or cannot
parse gets None so napari can offer another reader. For formats only this plugin opens (.mat,
ENVI, .npz) a parse failure is also reported as a warning, which napari shows as a notification,
so a truncated or corrupt file is explained; a plain 2-D .tif/.png/.npy and a zarr directory that
is not a cube are left to napari quietly (but a zarr left by an unfinished run is explained).

A cube layer's metadata says which axis of the stored array was taken as the bands and why
(``band_axis``, ``band_axis_source``: the file's layout, or the rule "two equal axes are rows and
cols, otherwise the smallest axis holds the bands"; ``stored_shape``); ``read_path(...,
band_axis=)`` / ``open_lazy(..., band_axis=)`` choose another from Python, and the dock's
"Band axis…" reopens a layer's file with another (:func:`reopen_cube`).

An EMIT L2A file opens as the swath, as acquired (no map grid), like every product: what the
file holds, nothing resampled. The dock's "Orthorectified (EMIT map grid)" box, shown for an
EMIT cube, reopens it on its GLT grid (georeferenced outputs, areas in ha). A second reader
contribution would not do: napari offers a choice of plugins, not of one plugin's readers.

With ``NAPARI_SSDGL_AUTO_RGB=1`` in the environment, each cube also opens with its RGB composite
(bands nearest 640/545/460 nm, see ``_rgb.py``), the view most users make first.

Big scenes open lazily (:func:`napari_ssdgl.io.lazy.open_lazy`): a ``.zarr`` directory always, and a
cube file of more than :data:`LAZY_BYTES` (1 GiB; ``NAPARI_SSDGL_LAZY_BYTES`` in the environment
overrides it). The layer's data is then a dask array that napari reads chunk by chunk as it
displays it, its contrast limits come from a few small sampled windows (a bounded read, however
large the scene), its metadata has ``lazy: True``,
and no RGB composite is added (it would read three whole bands). A file that cannot be opened
lazily (MATLAB v5, a label raster) is read into memory as before. A prediction written by
``napari-ssdgl predict ... --out X.zarr`` opens as a lazy Labels layer of its class map.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from napari_ssdgl.io import Cube, HSIReadError, LabelMap, can_read, read_path
from napari_ssdgl.io.emit import read_emit
from napari_ssdgl.io.lazy import can_open_lazy, is_zarr_dir, open_lazy, sample_contrast_limits
from napari_ssdgl.io.zarr_store import IncompleteOutputError

_EXPLAIN = {".mat", ".hdr", ".npz", ".nc", ".he5"}  # suffixes napari has no other reader for
AUTO_RGB_ENV = "NAPARI_SSDGL_AUTO_RGB"
LAZY_BYTES = 1 << 30  # cube files larger than this open as dask arrays
LAZY_BYTES_ENV = "NAPARI_SSDGL_LAZY_BYTES"


def lazy_bytes() -> int:
    """Size above which a cube opens lazily: ``NAPARI_SSDGL_LAZY_BYTES`` if set, else 1 GiB."""
    try:
        return int(os.environ.get(LAZY_BYTES_ENV, LAZY_BYTES))
    except ValueError:
        return LAZY_BYTES


def get_reader(path):
    """Return a reader function for ``path`` (a path or list of paths), or None."""
    paths = [path] if isinstance(path, (str, Path)) else path
    if not isinstance(paths, (list, tuple)) or not paths:
        return None
    try:
        if not all(isinstance(p, (str, Path)) and (is_zarr_dir(p) or can_read(p)) for p in paths):
            return None
        layers = []
        for p in paths:
            lazy = _lazy_layers(Path(p))
            if lazy is not None:
                layers.extend(lazy)
                continue
            for item in read_path(p):
                layers.append(layer_data(item))
                if isinstance(item, Cube) and os.environ.get(AUTO_RGB_ENV) == "1":
                    from napari_ssdgl._napari._rgb import composite_layer_data

                    layers.extend(composite_layer_data(item.data, item.metadata(), item.name))
    except Exception as exc:  # HSIReadError or anything unexpected: never raise into napari
        ours = isinstance(exc, IncompleteOutputError)  # a partial output of this plugin
        if ours or any(Path(p).suffix.lower() in _EXPLAIN for p in paths):
            named = isinstance(exc, (HSIReadError, IncompleteOutputError))  # name the file
            msg = str(exc) if named else f"{path}: {exc}"
            warnings.warn(f"napari-ssdgl could not read {msg}", UserWarning, stacklevel=2)
        return None

    def reader(_path) -> list[tuple]:
        return layers

    return reader


def layer_data(item: Cube | LabelMap) -> tuple:
    """The napari LayerData tuple for a cube (image, bands first) or a label map (labels)."""
    if isinstance(item, Cube):
        kwargs: dict = {
            "name": item.name,
            "metadata": item.metadata(),
            "rgb": False,
            "axis_labels": ("band", "y", "x"),
        }
        limits = robust_limits(item.data)
        if limits is not None:
            kwargs["contrast_limits"] = limits
        return item.data, kwargs, "image"
    kwargs = {"name": item.name, "metadata": item.metadata(), "axis_labels": ("y", "x")}
    present = {int(v) for v in np.unique(item.data)} - {0}
    if item.colors and present <= set(item.colors):
        kwargs["colormap"] = {**dict(item.colors), 0: "transparent", None: "transparent"}
    return item.data, kwargs, "labels"


def reopen_cube(source: str | Path, band_axis: int | None, *, lazy: bool,
                orthorectify: bool = False) -> tuple:
    """The LayerData tuple of the cube in ``source`` with its bands on the stored array's axis
    ``band_axis`` (None: the file's layout), opened as it was (lazily or into memory); an EMIT
    L2A file with ``orthorectify`` on its GLT map grid. Raises HSIReadError."""
    p = Path(source)
    if lazy:
        return lazy_layer_data(open_lazy(p, band_axis=band_axis, orthorectify=orthorectify))
    if orthorectify:
        return layer_data(read_emit(p, band_axis=band_axis, orthorectify=True)[0])
    cubes = [item for item in read_path(p, band_axis=band_axis) if isinstance(item, Cube)]
    if not cubes:
        raise HSIReadError(p, "holds no cube")
    return layer_data(cubes[0])


def _lazy_layers(p: Path) -> list[tuple] | None:
    """Layers for a zarr directory or a cube file over :func:`lazy_bytes`, else None (read the
    file into memory). Raises for a zarr directory that is neither a cube nor a prediction."""
    if is_zarr_dir(p):
        labels = _zarr_prediction(p)
        return [labels] if labels is not None else [lazy_layer_data(open_lazy(p))]
    if not opens_lazily(p):
        return None
    try:
        cube = open_lazy(p)
    except (HSIReadError, ImportError):  # MATLAB v5, a 2-D raster, no dask: read into memory
        return None
    if cube.bands < 2:  # a one-band ENVI classification is a label map
        return None
    return [lazy_layer_data(cube)]


def opens_lazily(p: Path) -> bool:
    """Whether this reader opens the cube file ``p`` as a dask array (over
    :func:`lazy_bytes`)."""
    return can_open_lazy(p) and _data_bytes(p) > lazy_bytes()


def _data_bytes(p: Path) -> int:
    """Size of the pixel data: the data file's for an ENVI header (from the checked header,
    see ``io.envi.envi_layout``), else the file's."""
    if p.suffix.lower() == ".hdr":
        from napari_ssdgl.io.envi import envi_layout

        try:
            return envi_layout(p).nbytes
        except HSIReadError:  # a broken header: the in-memory reader explains it
            return 0
    return p.stat().st_size


def lazy_layer_data(cube: Cube) -> tuple:
    """The LayerData tuple for a cube whose data is a dask array: nothing is computed but a few
    small sampled windows for the contrast limits."""
    data = cube.data
    metadata = {**cube.metadata(), "lazy": True,
                "chunks": [int(c) for c in data.chunksize]}
    kwargs = {"name": cube.name, "metadata": metadata, "rgb": False,
              "axis_labels": ("band", "y", "x"),
              "contrast_limits": list(sample_contrast_limits(data))}
    return data, kwargs, "image"


def _zarr_prediction(p: Path) -> tuple | None:
    """A Labels tuple for the class map of a zarr prediction output (a group with a 2-D
    integer ``labels`` array, as ``napari-ssdgl predict --out X.zarr`` writes), else None."""
    import dask.array as da
    import zarr

    node = zarr.open(str(p), mode="r")
    if not isinstance(node, zarr.Group) or "labels" not in node:
        return None
    arr = node["labels"]
    if not isinstance(arr, zarr.Array) or arr.ndim != 2 or arr.dtype.kind not in "iu":
        return None
    attrs = dict(node.attrs)
    if attrs.get("complete") is not True:
        raise IncompleteOutputError(p, "incomplete (written by a run that did not finish)")
    names = {int(k): str(v) for k, v in (attrs.get("class_names") or {}).items()}
    colors = {int(k): str(v) for k, v in (attrs.get("colors") or {}).items()}
    kwargs: dict = {"name": f"{p.stem} prediction", "axis_labels": ("y", "x"),
                    "metadata": {"source": str(p), "lazy": True, "class_names": names,
                                 "class_colors": colors}}
    if colors:
        kwargs["colormap"] = {**colors, 0: "transparent", None: "transparent"}
    return da.from_array(arr, chunks=arr.chunks), kwargs, "labels"


def robust_limits(data: np.ndarray, max_samples: int = 1_000_000) -> list[float] | None:
    """1st and 99th percentile of the finite values (on a strided sample of big cubes)."""
    flat = data.reshape(-1)
    sample = flat[:: max(1, flat.size // max_samples)]
    if sample.dtype.kind == "f":
        sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return None
    lo, hi = (float(v) for v in np.percentile(sample, [1, 99]))
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
    if hi <= lo:
        hi = lo + 1.0
    return [lo, hi]
