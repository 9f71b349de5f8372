"""Apply to cube on a lazy layer: tiled dask prediction off the main thread, the class map filled
in tile by tile as the tiles finish.

A layer whose data is a dask array (a ``.zarr`` or a big file opened lazily), or any array too big
to copy (more than the reader's lazy threshold), is never copied into memory. Its
:class:`LazyJob` carries the tile counts and the output layer. The worker,
:func:`predict_blocks`, runs :func:`~napari_ssdgl.prediction.dask_predict.predict_dask` (the
scene statistics, several passes over the cube, then the tiles) and
:func:`~napari_ssdgl.prediction.dask_predict.iter_label_blocks`, and yields
``("pass", i, n)`` before each statistics pass and ``("block", (rows, cols), (labels,
entropy))`` for each finished tile. Only the main thread touches layers: :func:`on_event`
writes each tile into the output Labels layer's array (made up front, all 0) and refreshes it;
the entropy goes into an uncertainty array, shown (and suggested from) once every tile is done.

Stop: the worker reads the cube through :class:`_Guarded`, whose reads raise
:class:`StopRequested` once the job is stopped, so the dask computations in flight end after the
tasks already running (one window each) instead of running to the end of the pass.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from napari.layers import Labels

from napari_ssdgl._napari._jobs import Job, Outcome
from napari_ssdgl._napari._layers import default_color, label_colormap, upsert_layer
from napari_ssdgl._napari._reader import lazy_bytes
from napari_ssdgl.io.lazy import DEFAULT_TILE
from napari_ssdgl.prediction.dask_predict import (
    DEFAULT_OVERLAP,
    default_tile_size,
    iter_label_blocks,
    predict_dask,
)
from napari_ssdgl.prediction.spectral import BandPlan
from napari_ssdgl.prediction.tiling import plan_windows

REFRESH_S = 0.2  # at most ~5 redraws of the class map per second while tiles arrive


class StopRequested(Exception):
    """Raised by a guarded read once the job was stopped or cancelled."""


def is_lazy(data) -> bool:
    """True for layer data that Apply must not copy: a dask array, another lazy array-like
    (zarr, HDF5), or a numpy array larger than the lazy threshold."""
    if isinstance(data, np.ndarray):
        return data.nbytes > lazy_bytes()
    return True


def too_big_to_load(data) -> bool:
    """True for lazy layer data (not numpy) larger than the lazy threshold once loaded: it is
    never read whole (a whole-scene training would copy it into memory)."""
    return (not isinstance(data, np.ndarray)
            and math.prod(data.shape) * np.dtype(data.dtype).itemsize > lazy_bytes())


@dataclass
class LazyJob(Job):
    """Apply to a lazy cube: ``cube`` is a dask array over the layer's data, read through
    :class:`_Guarded`; the counts and the output layer are for the main thread only."""

    stoppable: ClassVar[bool] = True
    stop_note: ClassVar[str] = "Stopping after the tiles in progress…"

    options: dict = field(default_factory=dict)  # for predict_dask: tile_size, overlap
    blocks: int = 0
    blocks_done: int = 0
    passes: int = 0
    passes_done: int = 0
    refreshed: float = 0.0  # time.monotonic() of the last redraw
    layer: object = None  # the output Labels layer
    output: np.ndarray | None = None  # its array: tiles are written into it
    uncertainty: np.ndarray | None = None  # the tiles' entropy, for the uncertainty layer
    restore: tuple | None = None  # its data and colormap before the run, if it existed
    headline: str = "Model applied"  # the status line's first words when it is done
    trained: Job | None = None  # the training job whose model this maps, if any


class _Guarded:
    """Array-like over the layer's data (dask or not) for ``dask.array.from_array``: each read
    first checks that the job still runs. A dask source is sliced before computing, so a read
    touches only the chunks under the window."""

    def __init__(self, data, job: Job) -> None:
        self.data, self.job = data, job
        self.shape = tuple(int(n) for n in data.shape)
        self.dtype = np.dtype(data.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, index) -> np.ndarray:
        if self.job.stopping or self.job.cancelled:
            raise StopRequested
        part = self.data[index]
        if hasattr(part, "compute"):
            part = part.compute(scheduler="sync")
        return np.asarray(part)


def guarded_cube(data, job: Job):
    """A dask array over ``data`` that stops reading when ``job`` stops: a dask source's chunks
    when none is wider than a tile, else all bands x spatial tiles (a source of big chunks is
    then read a tile at a time, never a whole chunk)."""
    import dask.array as da

    bands, rows, cols = data.shape
    chunks = (bands, min(DEFAULT_TILE, rows), min(DEFAULT_TILE, cols))
    if isinstance(data, da.Array) and max(max(data.chunks[1]), max(data.chunks[2])) <= DEFAULT_TILE:
        chunks = data.chunks
    return da.from_array(_Guarded(data, job), chunks=chunks, name=f"ssdgl-apply-{uuid.uuid4().hex}",
                         meta=np.empty((0, 0, 0), dtype=data.dtype))


def make_job(viewer, layer, clf, *, device: str, options: dict, gt=None,
             train_labels=None, tta: bool = False, gt_name: str | None = None,
             bands: BandPlan | None = None) -> LazyJob:
    """The job for ``layer`` and its output layer ``<cube> prediction`` (created or reused now,
    all 0, in the model's colours). ``options`` go to :func:`predict_dask` (tile_size, overlap);
    ``tta``: the mean over the 8 flips/transposes (8 times the statistics passes and tiles);
    ``gt_name``: the layer ``gt`` was copied from, named in the accuracy panel; ``bands``: how
    the cube's bands become the model's (``Classifier.plan``), handed to :func:`predict_dask`,
    which applies it lazily (selected or resampled chunk by chunk)."""
    job = LazyJob(layer.name, None, tuple(layer.scale[-2:]), tuple(layer.translate[-2:]),
                  train_labels=train_labels, gt=gt, classifier=clf, source_layers=(layer.name,),
                  device=device, tta=tta, gt_name=gt_name if gt is not None else None,
                  bands=bands)
    job.cube = guarded_cube(layer.data, job)
    job.options = dict(options)
    rows, cols = job.cube.shape[1:]
    overlap = job.options.get("overlap", DEFAULT_OVERLAP)
    tile = job.options.get("tile_size") or default_tile_size(job.cube, overlap)
    job.blocks = len(plan_windows(rows, cols, tile, overlap))  # one label block per window
    job.uncertainty = np.zeros((rows, cols), np.float32)
    _output_layer(viewer, job, clf, (rows, cols))
    return job


def _output_layer(viewer, job: LazyJob, clf, shape: tuple[int, int]) -> None:
    name = f"{job.cube_name} prediction"
    old = viewer.layers[name] if name in viewer.layers else None
    if isinstance(old, Labels) and old.ndim == 2:  # upsert_layer updates it in place
        job.restore = (old.data, old.colormap)
    dtype = np.min_scalar_type(int(clf.class_values.max()))
    colors = {int(v): clf.colors.get(int(v), default_color(v)) for v in clf.class_values}
    job.layer = upsert_layer(viewer, name, np.zeros(shape, dtype), "labels", "prediction",
                             colormap=label_colormap(colors), scale=job.scale,
                             translate=job.translate, on_create={"opacity": 0.7})
    job.output = job.layer.data  # the array on screen: tiles are written into it


def predict_blocks(job: LazyJob):
    """Worker: ``("pass", i, n)`` events (emitted while the statistics are measured) and
    ``("block", where, (labels, entropy))`` per tile; returns an :class:`Outcome`."""

    def on_pass(i: int, n: int) -> None:
        if job.stopping or job.cancelled:
            raise StopRequested
        job.worker.yielded.emit(("pass", i, n))  # from the worker thread, as `yield` does

    blocks = None
    try:
        pred = predict_dask(job.classifier, job.cube, device=job.device, on_pass=on_pass,
                            tta=job.tta, bands=job.bands, **job.options)
        blocks = iter_label_blocks(pred, entropy=True)
        for where, block in blocks:
            yield ("block", where, block)
            if job.stopping or job.cancelled:
                break
        return Outcome(job.classifier)
    except StopRequested:
        return Outcome(job.classifier)
    except Exception as exc:  # shown to the user as a notification
        return Outcome(error=exc)
    finally:
        if blocks is not None:
            try:
                blocks.close()  # waits for the tiles in flight (their reads now stop at once)
            except StopRequested:
                pass


def on_event(job: LazyJob, event) -> str:
    """Main thread: apply one worker event; returns the status line. The progress bar moves
    apart, in :func:`show_progress`."""
    kind = event[0]
    if kind == "pass":
        i, n = event[1:]
        job.passes = n - 1  # the last "pass" is the tiles themselves
        job.passes_done = min(i, job.passes)
        if i < job.passes:
            return f"Scene statistics: pass {i + 1} of {job.passes} over '{job.cube_name}'…"
        return f"Predicting the tiles of '{job.cube_name}': 0 of {job.blocks}…"
    (rows, cols), (block, entropy) = event[1:]
    job.output[rows, cols] = block
    job.uncertainty[rows, cols] = entropy
    job.blocks_done += 1
    now = time.monotonic()
    if now - job.refreshed >= REFRESH_S or job.blocks_done == job.blocks:
        refresh(job)
    return f"Predicting the tiles of '{job.cube_name}': {job.blocks_done} of {job.blocks}…"


def show_progress(job: LazyJob) -> None:
    """Main thread: move the progress bar to the passes and tiles done. Call it last in a slot:
    napari's progress bar processes pending Qt events when it moves, so the worker's result may
    be handled inside this call."""
    total = job.passes + job.blocks
    if job.pbar.total != total:
        job.pbar.total = total
    job.pbar.update(job.passes_done + job.blocks_done - job.pbar.n)


def refresh(job: LazyJob) -> None:
    job.refreshed = time.monotonic()
    layer = job.layer
    if layer is not None and layer.data is job.output:
        layer.refresh()


def finish(viewer, job: LazyJob, outcome: Outcome) -> str | None:
    """Main thread, the worker has returned: leave the map (complete or, after Stop, partial)
    or, on an error, put the layers back as they were. Returns the error text, if any."""
    if outcome.error is not None or (job.stopping and job.blocks_done == 0):
        _undo_output(viewer, job)  # no tile to show: the layers as they were
        return None if outcome.error is None else str(outcome.error)
    layer = job.layer
    if layer not in viewer.layers:  # removed by the user meanwhile: bring the map back
        job.layer = upsert_layer(viewer, layer.name, job.output, "labels", "prediction",
                                 colormap=layer.colormap, scale=job.scale,
                                 translate=job.translate, on_create={"opacity": 0.7})
        job.output = job.layer.data
    refresh(job)
    return None


def _undo_output(viewer, job: LazyJob) -> None:
    layer = job.layer
    if layer is None or layer not in viewer.layers:
        return
    if job.restore is None:
        viewer.layers.remove(layer)
    else:
        layer.data, layer.colormap = job.restore
