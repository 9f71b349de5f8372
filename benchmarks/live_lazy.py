"""The live map on a lazy scene too big to hold (the dock's Live mode on a dask layer).

    python benchmarks/live_lazy.py [--size 2048] [--per-class 10] [--view 512] [--work DIR]

The scene is ``big_scene.py``'s Indian Pines mosaic as zarr (built under ``--work`` when it is
not there; chunks 200 x 256 x 256). What the dock's live worker does, headless, in one
process, as a user would meet it: open the cube lazily (``open_lazy``), get the live scene
ready (band statistics from a bounded sample of chunks: ``LazyLiveScene``), then paint
``--per-class`` pixels of each class present in a ``--view`` px view at the scene's centre
(drawn from the ground truth, seed 0) and fit + map the view; one more stroke (5 px of the
commonest class) in the same view; then a pan to the view beside it (labels unchanged: the
last fit is reused). Each step maps the view, then fits, as the dock does. Prints one JSON
record: seconds of each step and the chunks it read first, the live map's OA in each view
(labelled pixels not painted), the chunks read (of all) and the process's peak RSS. Run it
alone: timings on a shared CPU mean little.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from big_scene import build, peak_rss_mb


def _oa(labels: np.ndarray, truth: np.ndarray, painted: np.ndarray) -> float:
    scored = (truth > 0) & ~painted
    return round(float((labels[scored] == truth[scored]).mean()), 4)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--per-class", type=int, default=10)
    p.add_argument("--view", type=int, default=512)
    p.add_argument("--work", help="folder holding or receiving the mosaic")
    p.add_argument("--seed", type=int, default=0, help="the mosaic's seed (big_scene.py)")
    args = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    work = Path(args.work or tempfile.mkdtemp(prefix="live_lazy_"))
    cube_path, gt_path = build(args.size, work, args.seed)

    from napari_ssdgl.io.lazy import open_lazy
    from napari_ssdgl.training.live import LazyLiveScene

    cube = open_lazy(cube_path)
    reads = set()

    def counted(block, block_info=None):
        if block_info:
            reads.add(tuple(block_info[0]["chunk-location"]))
        return block

    data = cube.data.map_blocks(counted, dtype=cube.data.dtype)
    gt = np.load(gt_path)
    rng = np.random.default_rng(0)
    out: dict = {"size": args.size, "view": args.view, "per_class": args.per_class,
                 "chunks": int(np.prod(data.numblocks)), "threads": torch.get_num_threads()}

    t = time.perf_counter()
    scene = LazyLiveScene(data)
    out["scene_ready_s"] = round(time.perf_counter() - t, 2)
    out["chunks_read_for_statistics"] = len(reads)

    c0 = (args.size - args.view) // 2
    view = (slice(c0, c0 + args.view), slice(c0, c0 + args.view), 1)
    labels = np.zeros_like(gt)
    inside = gt[view[0], view[1]]
    for value in np.unique(inside[inside > 0]):
        rows, cols = np.nonzero(inside == value)
        take = rng.permutation(rows.size)[: args.per_class]
        labels[rows[take] + c0, cols[take] + c0] = value

    def stroke(name: str, view) -> None:
        t, before = time.perf_counter(), len(reads)
        region = scene.region(*view)  # as the dock's worker: the view, then the fit
        clf = scene.fit(labels)
        pred = clf.predict(region)
        out[f"{name}_s"] = round(time.perf_counter() - t, 2)
        out[f"{name}_new_chunks"] = len(reads) - before
        r, c, _ = view
        out[f"{name}_oa"] = _oa(pred.labels, gt[r, c], labels[r, c] > 0)

    stroke("first_map", view)
    counts = np.bincount(inside[inside > 0])
    rows, cols = np.nonzero((gt == counts.argmax()) & (labels == 0))
    near = np.flatnonzero((rows >= c0) & (rows < c0 + args.view) & (cols >= c0)
                          & (cols < c0 + args.view))[:5]
    labels[rows[near], cols[near]] = counts.argmax()
    stroke("next_stroke", view)
    beside = (view[0], slice(c0 + args.view, c0 + 2 * args.view), 1)
    stroke("pan", beside)
    out["chunks_read"] = len(reads)
    out["peak_rss_gb"] = round(peak_rss_mb() / 1024, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
