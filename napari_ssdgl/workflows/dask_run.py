"""Running a dask prediction: schedulers, progress, and outputs that are complete or absent.

:func:`predict_to_file` is what the CLI calls: it opens the scheduler (threads, processes,
``local:N`` LocalCluster, or a ``tcp://`` address of a running ``dask scheduler``), measures the
scene statistics and writes the outputs tile by tile (zarr group or tiled GeoTIFF) under a
temporary name that is renamed only on success, so a crash or a dead worker never leaves a
result that looks complete. Any failure is one :class:`DaskPredictionError` naming the cause.
"""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np

from napari_ssdgl.io.atomic import atomic_output
from napari_ssdgl.io.base import pixels
from napari_ssdgl.io.jsonio import jsonable
from napari_ssdgl.prediction.dask_predict import (
    DEFAULT_OVERLAP,
    DaskPrediction,
    check_cube,
    predict_dask,
)
from napari_ssdgl.prediction.tiling import ceil_to


class DaskPredictionError(ValueError):
    """A dask prediction failed (unreadable chunk, dead worker, ...); no output was written.
    A ValueError so that the CLI reports it in one line like every other user-facing error."""


@contextmanager
def open_scheduler(spec="threads", *, timeout: float = 60, quiet: bool = False):
    """Yield a distributed Client, or None for the local schedulers, for ``spec``:
    ``threads`` | ``processes`` | ``sync`` | ``local:N`` (a LocalCluster of N single-threaded
    worker processes on 127.0.0.1) | ``tcp://HOST:PORT`` (a running ``dask scheduler``) | an
    existing ``distributed.Client`` (used as is, left open)."""
    import dask

    if not isinstance(spec, str):
        yield spec
        return
    if spec in ("threads", "processes", "sync"):
        with dask.config.set(scheduler=spec):
            yield None
        return
    from distributed import Client, LocalCluster

    if spec.startswith("local:"):
        n = int(spec.split(":", 1)[1])
        with LocalCluster(n_workers=n, threads_per_worker=1, host="127.0.0.1",
                          dashboard_address="127.0.0.1:0", silence_logs=40) as cluster, \
                Client(cluster, timeout=timeout) as client:
            _say_dashboard(client, quiet)
            yield client
        return
    if "://" not in spec:
        raise ValueError(f"unknown scheduler {spec!r}: use threads, processes, local:N or "
                         "tcp://HOST:PORT")
    with Client(spec, timeout=timeout) as client:
        _say_dashboard(client, quiet)
        yield client


def _say_dashboard(client, quiet: bool) -> None:
    if not quiet:
        print(f"dask dashboard: {client.dashboard_link}", file=sys.stderr)


def local_progress(enabled: bool = True):
    """The progress bar of dask computations on the local schedulers (on stderr, with results on
    stdout), as a context manager; a no-op one when not ``enabled``."""
    if not enabled:
        return nullcontext()
    from dask.diagnostics import ProgressBar

    return ProgressBar(out=sys.stderr)


def _store(sources: list, targets: list, client, progress: bool) -> None:
    """da.store with a progress bar: dask.diagnostics locally, distributed.progress on a client."""
    import dask.array as da

    if client is None:
        with local_progress(progress):
            da.store(sources, targets, lock=False)
        return
    futures = client.compute(da.store(sources, targets, lock=False, compute=False))
    if progress:
        from distributed import progress as dprogress

        dprogress(futures)
    client.gather(futures)


def write_prediction(
    pred: DaskPrediction,
    out: str | Path,
    *,
    outputs: tuple[str, ...] = ("labels",),
    attrs: dict | None = None,
    client=None,
    progress: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write the prediction block by block to a zarr group (``labels``, ``probabilities``,
    ``entropy``, ``margin`` as asked) under a temporary name, renamed on success."""
    import zarr

    unknown = set(outputs) - {"labels", "probabilities", "entropy", "margin"}
    if unknown or "labels" not in outputs:
        raise ValueError(f"outputs must include 'labels' and only name labels, probabilities, "
                         f"entropy, margin; got {outputs}")
    arrays = {name: getattr(pred, name) for name in outputs}
    with atomic_output(out, overwrite=overwrite) as tmp:
        group = zarr.open_group(str(tmp), mode="w")
        group.attrs.update(jsonable({**(attrs or {}), "complete": False,
                                     "class_values": pred.class_values}))
        targets = []
        for name, arr in arrays.items():
            chunks = tuple(c[0] for c in arr.chunks)
            targets.append(group.zeros(name=name, shape=arr.shape, chunks=chunks,
                                       dtype=arr.dtype))  # zarr 2 and 3 alike
        _store(list(arrays.values()), targets, client, progress)
        group.attrs["complete"] = True
    return Path(out)


def write_labels_tiff(pred: DaskPrediction, out: str | Path, *, geo: dict | None = None,
                      class_names: dict | None = None, colors: dict | None = None,
                      client=None) -> Path:
    """A tiled GeoTIFF class map, one row of blocks in memory at a time, atomically renamed."""
    import dask
    import tifffile

    from napari_ssdgl.io.writers import geo_extratags

    labels = pred.labels
    tile_r, tile_c = ceil_to(labels.chunks[0][0]), ceil_to(labels.chunks[1][0])  # TIFF: x16 tiles

    def tiles():
        col_starts = np.cumsum((0,) + labels.chunks[1][:-1])
        row = 0
        for height in labels.chunks[0]:
            strip = labels[row: row + height]
            row += height
            strip = client.compute(strip).result() if client else dask.compute(strip)[0]
            for c0 in col_starts:
                t = np.zeros((tile_r, tile_c), labels.dtype)
                part = strip[:, c0: c0 + labels.chunks[1][0]]
                t[: part.shape[0], : part.shape[1]] = part
                yield t

    meta = {"class_names": {str(k): v for k, v in (class_names or {}).items()},
            "colors": {str(k): v for k, v in (colors or {}).items()}}
    with atomic_output(out, overwrite=True) as tmp:  # predict_to_file has checked ``out``
        tifffile.imwrite(tmp, tiles(), shape=labels.shape, dtype=labels.dtype,
                         tile=(tile_r, tile_c), photometric="minisblack", compression="zlib",
                         metadata=meta, extratags=geo_extratags(geo))
    return Path(out)


def predict_to_file(
    clf,
    cube,
    out: str | Path,
    *,
    tile_size: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    scheduler: str = "threads",
    outputs: tuple[str, ...] = ("labels",),
    device: str = "auto",
    progress: bool = False,
    overwrite: bool = False,
    tta: bool = False,
) -> Path:
    """Predict a (lazy) cube (or a path for :func:`~napari_ssdgl.io.lazy.open_lazy`) with a
    Classifier (or a model directory) to ``out`` (``.zarr`` directory, or ``.tif`` for the class map
    only) on ``scheduler`` (see :func:`open_scheduler`). Any failure during the computation is
    a :class:`DaskPredictionError` naming the cause, and leaves no ``out`` behind. ``tta``: the
    mean over the 8 flips/transposes
    (:func:`~napari_ssdgl.prediction.dask_predict.predict_dask`)."""
    out = Path(out)
    if out.suffix.lower() not in (".zarr", ".tif", ".tiff"):
        raise ValueError(f"{out}: dask prediction writes .zarr (or .tif for the class map)")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: already exists")
    if isinstance(clf, str | Path):
        from napari_ssdgl.prediction.modelfile import load_classifier

        clf = load_classifier(clf)
    if isinstance(cube, str | Path):
        from napari_ssdgl.io.lazy import open_lazy

        cube = open_lazy(cube)
    plan = clf.plan_for(cube)  # the cube's bands to the model's (wavelengths, when known)
    if plan.warning:
        warnings.warn(plan.warning, stacklevel=2)
    data = check_cube(clf, pixels(cube), plan)  # bad input: its own error, now
    say = (lambda i, n: print(f"scene statistics: pass {i + 1}/{n}", file=sys.stderr)
           ) if progress else None
    with open_scheduler(scheduler, quiet=not progress) as client:
        threads = _torch_threads(scheduler)
        try:
            pred = predict_dask(clf, data, tile_size=tile_size, overlap=overlap, device=device,
                                client=client, torch_threads=threads, on_pass=say, tta=tta)
            attrs = {"class_names": clf.class_names, "colors": clf.colors,
                     "model": clf.model_name, "source": getattr(cube, "source", None),
                     "tile_size": tile_size, "overlap": overlap, "tta": tta}
            if out.suffix.lower() == ".zarr":
                return write_prediction(pred, out, outputs=outputs, attrs=attrs, client=client,
                                        progress=progress, overwrite=overwrite)
            return write_labels_tiff(pred, out, geo=getattr(cube, "geo", None),
                                     class_names=clf.class_names, colors=clf.colors,
                                     client=client)
        except Exception as exc:
            raise DaskPredictionError(_explain(exc, out)) from exc


def _torch_threads(scheduler) -> int | None:
    """Torch threads per process, so that dask's parallelism does not multiply with torch's: a
    process runs one window through the network at a time (``dask_predict._FORWARD``), so on
    threads torch keeps its own setting (all cores); one per process for ``processes``, cores / N
    for local:N, the workers' own setting on a remote cluster (start them with ``--nthreads 1``
    and OMP_NUM_THREADS, or leave torch its default)."""
    if scheduler == "processes":
        return 1
    if isinstance(scheduler, str) and scheduler.startswith("local:"):
        return max(1, (os.cpu_count() or 1) // max(1, int(scheduler.split(":", 1)[1])))
    return None


def _explain(exc: BaseException, out: Path) -> str:
    kind = type(exc).__name__
    if kind in ("KilledWorker", "FutureCancelledError", "CancelledError", "CommClosedError"):
        cause = (f"a dask worker died while predicting, or the cluster was lost (out of memory? "
                 f"crashed?): {kind}: {' '.join(str(exc).split())}")
    else:
        cause = f"{kind}: {' '.join(str(exc).split())}"
    return f"{out}: prediction failed, nothing was written ({cause})"
