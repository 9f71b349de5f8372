"""Prediction over a dask cube: scenes larger than memory, on threads, processes or a cluster.

Why not one ``map_overlap`` pass: SSDGL's GroupNorms and channel attentions pool over the whole
scene, and per-tile statistics give badly wrong maps (see :mod:`.tiling`). So this
reuses tiling's scene-statistics machinery, distributed:

1. the layers' execution order is read off one tiny forward pass on the client;
2. for each pooled layer in that order, every window computes its partial sums (up to that layer,
   the layers before it frozen) as a dask task; the client adds them up and freezes the layer;
3. a final pass predicts every window with all statistics frozen and keeps its core.

The windows are tiling's own (:func:`~.tiling.plan_windows`: cores on the scene
zero-padded to a multiple of 16, ``overlap`` of context, clipped at the scene), read from the dask
cube by slicing rather than ``map_overlap``: dask's ``map_overlap`` rechunks any edge chunk smaller
than the halo, which would move tiles off the 16-pixel grid. Each window task depends only on the
few chunks it overlaps, so memory per task is one window, whatever the scene size. The result is
the tiled result of :func:`.inference.predict_probabilities` (same windows, same
statistics), i.e. equal to whole-scene prediction up to the receptive field the overlap absorbs.
A window task gets its *raw* pixels (dask fuses the slice into the reads: it reads its window,
not whole chunks) and builds its input as the tiled path does (:func:`~.tiling.window_input`
with :func:`~.tiling.tile_preparer`).

Weights reach workers once: a distributed client scatters them (broadcast); each worker thread
builds its own copy of the model (hooks hold per-call state) on its own device. Running it
(schedulers, progress, outputs that are complete or absent): :mod:`napari_ssdgl.workflows.dask_run`.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import nn

from napari_ssdgl.io.zarr_store import DEFAULT_TILE
from napari_ssdgl.prediction.inference import pixel_entropy, pixel_margin
from napari_ssdgl.prediction.tiling import (
    DEFAULT_OVERLAP,
    MULTIPLE,
    Partial,
    SceneStatistics,
    Window,
    ceil_to,
    plan_windows,
    return_freed_memory,
    tile_preparer,
    window_input,
)
from napari_ssdgl.transforms.dihedral import dihedral_view, undo_dihedral_view


# -- the model on workers --------------------------------------------------------------------
def model_payload(clf) -> dict:
    """What a worker needs to rebuild the network: name, config, weights (numpy), a token."""
    state = {k: v.detach().cpu().numpy() for k, v in clf.model.state_dict().items()}
    return {"name": clf.model_name, "config": dict(clf.model_config), "state": state,
            "token": uuid.uuid4().hex}


_LOCAL = threading.local()
_FORWARD = threading.Lock()
"""One window through the network at a time per process; torch's own threads parallelise it.
Two at once on 2 threads made the 2048 px one-pass prediction peak at 2.1-2.8 GB (each 384 px
window of the paper's Indian Pines widths adds about 0.7 GB of activations), and N threads
would hold N windows' activations; reading and normalising the next window still overlaps."""


def _worker_device(device: str) -> torch.device:
    """"auto" on a multi-GPU machine: one GPU per dask worker (by worker name), else the usual."""
    from napari_ssdgl.device import resolve_device

    if device == "auto" and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        try:
            from distributed import get_worker

            name = str(get_worker().name)
            index = int(name) if name.isdigit() else sum(map(ord, name))
            return torch.device(f"cuda:{index % torch.cuda.device_count()}")
        except (ImportError, ValueError):
            pass
    return resolve_device(device)


def _model(payload: dict, device: str, torch_threads: int | None) -> tuple[nn.Module, torch.device]:
    """This thread's copy of the model (built once per thread and payload)."""
    from napari_ssdgl.models import build_model

    if torch_threads:
        torch.set_num_threads(torch_threads)
    cache = getattr(_LOCAL, "models", None)
    if cache is None or cache[0] != payload["token"]:
        dev = _worker_device(device)
        model = build_model(payload["name"], **payload["config"])
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                               payload["state"].items()})
        _LOCAL.models = cache = (payload["token"], model.to(dev).eval(), dev)
    return cache[1], cache[2]


# -- statistics, through tiling's SceneStatistics ---------------------------------------------
def _window_input(raw: np.ndarray, window: Window, norm) -> torch.Tensor:
    """One window's model input from its raw pixels, built as the tiled path builds it."""
    return window_input(raw, window, tile_preparer(*norm))


def _partial(payload, frozen, layer, window, raw, norm, device, torch_threads) -> Partial:
    """One window's partial statistics of ``layer`` (a module name), the layers before it
    frozen to ``frozen``."""
    model, dev = _model(payload, device, torch_threads)
    x = _window_input(raw, window, norm).to(dev)
    with _FORWARD, SceneStatistics(model) as stats:
        stats.impose(frozen, dev)
        with torch.inference_mode():
            stats.accumulate(model.get_submodule(layer), window, lambda: model(x))
        return stats.take_partial()


def _predict_window(payload, frozen, window, raw, norm, device, torch_threads) -> np.ndarray:
    """Probabilities (K, core rows, core cols) of one window with every statistic frozen."""
    model, dev = _model(payload, device, torch_threads)
    x = _window_input(raw, window, norm).to(dev)
    with _FORWARD, SceneStatistics(model) as stats:
        stats.impose(frozen, dev)
        with torch.inference_mode():
            probs = torch.softmax(model(x).float(), dim=1)[0].cpu().numpy()
    rs, cs = window.core_in_window()
    return np.ascontiguousarray(probs[:, rs, cs])


# -- the graph -------------------------------------------------------------------------------
def check_cube(clf, data, plan=None):
    """``data`` as a dask array (bands, rows, cols) with all bands in one chunk, in the model's
    bands by ``plan`` (a :class:`~.spectral.BandPlan`; default: from the band count, see
    ``Classifier.check``), lazily."""
    import dask.array as da

    return clf.check(data if isinstance(data, da.Array) else da.from_array(np.asarray(data)),
                     plan)


def default_tile_size(data, overlap: int = DEFAULT_OVERLAP) -> int:
    """Window edge whose core matches the cube's spatial chunks, so a window reads ~9 chunks."""
    chunk = (max(data.chunksize[1], data.chunksize[2]) if hasattr(data, "chunksize")
             else DEFAULT_TILE)
    return ceil_to(max(chunk, MULTIPLE)) + 2 * ceil_to(overlap)


@dataclass
class DaskPrediction:
    """Lazy outputs (dask arrays) of :func:`predict_dask`; nothing is computed until stored."""

    probabilities: object  # (K, rows, cols) float32
    class_values: np.ndarray

    @property
    def labels(self):
        """(rows, cols) label values, in the smallest unsigned type that holds them."""
        dtype = np.min_scalar_type(int(self.class_values.max()))
        lut = self.class_values.astype(dtype)
        return self.probabilities.map_blocks(lambda p: lut[np.argmax(p, axis=0)], drop_axis=0,
                                             dtype=dtype)

    @property
    def entropy(self):
        """(rows, cols) float32 entropy, as :class:`~.inference.Prediction` has it."""
        return self.probabilities.map_blocks(pixel_entropy, drop_axis=0, dtype=np.float32)

    @property
    def margin(self):
        """(rows, cols) float32 top-1 minus top-2 probability, as in ``Prediction``."""
        return self.probabilities.map_blocks(pixel_margin, drop_axis=0, dtype=np.float32)


def predict_dask(
    clf,
    data,
    *,
    tile_size: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    device: str = "auto",
    client=None,
    torch_threads: int | None = None,
    on_pass: Callable[[int, int], None] | None = None,
    tta: bool = False,
    bands=None,
) -> DaskPrediction:
    """Measure the scene statistics now (a few dask computations over the cube, on the current
    scheduler or ``client``), and return the prediction as lazy dask arrays.

    ``tile_size`` is the model's input window (as in :mod:`.tiling`; default: the cube's chunk
    plus ``2 * overlap``); ``on_pass(i, n)`` reports the statistics passes. ``tta``: the mean
    of the probabilities over the 8 flips/transposes of the scene, as in
    :func:`.inference.predict_probabilities` (each view is a lazy flipped view of the
    cube with its own statistics passes, so 8 times the passes and the work). ``bands``: how
    the cube's bands become the model's (``Classifier.plan_for``; default: by the band count,
    as is or through the model's band selection). ``torch_threads``: torch's intra-op
    threads in each process (None: torch's own setting); a process runs one window through
    the network at a time, so on threads that is all its cores.
    """
    import dask

    data = check_cube(clf, data, bands)
    tile_size = tile_size or default_tile_size(data, overlap)
    if client is None:  # this process does the work (threads); a cluster's nanny sets its own
        return_freed_memory()
    payload = model_payload(clf)  # one for all views: workers build the model once per thread
    if client is not None:  # sent to every worker once, referenced by every task
        payload = client.scatter(payload, broadcast=True, hash=False)
    else:  # one graph key, not a copy of the weights inside every task
        payload = dask.delayed(payload, traverse=False, name=f"ssdgl-model-{payload['token']}")
    kw = {"payload": payload, "tile_size": tile_size, "overlap": overlap, "device": device,
          "client": client, "torch_threads": torch_threads}
    if not tta:
        return DaskPrediction(_probabilities(clf, data, on_pass=on_pass, **kw),
                              np.asarray(clf.class_values))
    def say(k: int, i: int, n: int) -> None:
        """One count over the 8 views: each view's statistics passes (the n - 1 before its
        tiles), then one step for the tiles, as without ``tta``."""
        if i < n - 1 or k == 7:
            on_pass(k * (n - 1) + i, 8 * (n - 1) + 1)

    views = []
    for k in range(8):  # k = 0: the scene as it is
        views.append(undo_dihedral_view(
            _probabilities(clf, dihedral_view(data, k),
                           on_pass=None if on_pass is None else partial(say, k), **kw), k))
    total = sum(views[1:], views[0])
    # back to one block per window core of the scene as it is (the sum has the flipped views'
    # reversed chunking mixed in): what iter_label_blocks and the viewer count
    return DaskPrediction((total / 8).rechunk(views[0].chunks), np.asarray(clf.class_values))


def _probabilities(clf, data, *, payload, tile_size: int, overlap: int, device: str, client,
                   torch_threads: int | None, on_pass) -> object:
    """Lazy (K, rows, cols) probabilities of ``data`` (checked) in one orientation."""
    import dask
    import dask.array as da

    rows, cols = data.shape[1:]
    norm = (clf.mean, clf.std)
    windows = plan_windows(rows, cols, tile_size, overlap)
    # raw slices: dask fuses a slice into the reads, so a task reads its window and no more
    blocks = {w: data[:, w.rows[0]: min(w.rows[1], rows), w.cols[0]: min(w.cols[1], cols)]
              for w in windows}
    frozen = clf.layer_statistics  # a window-trained model's own: no statistics passes
    if frozen is None:
        frozen = _measure(clf, payload, windows, blocks, norm, device, torch_threads, on_pass,
                          client=client)
    elif on_pass is not None:
        on_pass(0, 1)

    grid: dict[int, list] = {}
    k = clf.num_classes
    for w in windows:
        shape = (k, w.core_rows[1] - w.core_rows[0], w.core_cols[1] - w.core_cols[0])
        task = dask.delayed(_predict_window, pure=True)(payload, frozen, w, blocks[w], norm,
                                                         device, torch_threads)
        grid.setdefault(w.core_rows[0], []).append(da.from_delayed(task, shape, np.float32))
    return da.block([grid[r] for r in sorted(grid)])[:, :rows, :cols]


def _measure(clf, payload, windows: list[Window], blocks, norm, device, torch_threads,
             on_pass, client=None) -> dict:
    """Scene statistics of every pooled layer, one layer per dask computation."""
    import dask

    model = clf.model.cpu().eval()
    names = {m: n for n, m in model.named_modules()}
    with SceneStatistics(model) as stats, torch.inference_mode():
        order = stats.execution_order(
            lambda: model(torch.zeros(1, clf.bands, MULTIPLE, MULTIPLE)))
        frozen: dict = {}
        for i, layer in enumerate(order):
            if on_pass is not None:
                on_pass(i, len(order) + 1)
            tasks = [dask.delayed(_partial, pure=True)(payload, frozen, names[layer], w,
                                                       blocks[w], norm, device, torch_threads)
                     for w in windows]
            parts = client.gather(client.compute(tasks)) if client else dask.compute(*tasks)
            for part in parts:  # in window order, as the tiled path adds them
                stats.add(layer, part)
            stats.freeze(layer)
            frozen = stats.export_frozen()
    if on_pass is not None:
        on_pass(len(order), len(order) + 1)
    return frozen


def iter_label_blocks(pred: DaskPrediction, *, client=None, workers: int | None = None,
                      entropy: bool = False):
    """Yield ``((row slice, col slice), labels block)`` as each block finishes, in any order:
    what a viewer needs to show a class map filling in tile by tile; with ``entropy``, ``(where,
    (labels, entropy))`` from the same probabilities (the uncertainty that suggestions rank).
    Blocks are computed on ``client``, else on a pool of ``workers`` threads (default: CPU
    count). Closing the generator early cancels the blocks not started (those running finish
    first)."""
    import itertools
    from concurrent.futures import ThreadPoolExecutor, as_completed

    labels = pred.labels
    if entropy:  # the probabilities block, and both from it here
        lut = pred.class_values.astype(labels.dtype)

        def block_at(i, j):
            return pred.probabilities.blocks[0, i, j]

        def done(p):
            return lut[np.argmax(p, axis=0)], pixel_entropy(p)
    else:
        def block_at(i, j):
            return labels.blocks[i, j]

        def done(labels_block):
            return labels_block
    starts = [np.cumsum((0,) + c[:-1]) for c in labels.chunks]
    places = [((slice(int(r0), int(r0) + labels.chunks[0][i]),
                slice(int(c0), int(c0) + labels.chunks[1][j])), block_at(i, j))
              for (i, r0), (j, c0) in itertools.product(enumerate(starts[0]),
                                                        enumerate(starts[1]))]
    if client is not None:
        from distributed import as_completed as dist_completed

        futures = {client.compute(block): n for n, (_, block) in enumerate(places)}
        try:
            for future in dist_completed(futures):
                yield places[futures[future]][0], done(future.result())
        finally:
            client.cancel(list(futures))
        return
    pool = ThreadPoolExecutor(workers or os.cpu_count() or 1)
    try:
        futures = {pool.submit(lambda b: done(b.compute(scheduler="sync")), block): n
                   for n, (_, block) in enumerate(places)}
        for future in as_completed(futures):
            yield places[futures[future]][0], future.result()
    finally:  # closing the generator early drops the blocks not started yet
        pool.shutdown(wait=True, cancel_futures=True)
