"""Windowed training with sparse labels on a big scene: window size and windows per iteration.

    python benchmarks/sparse_windows.py WINDOW PER_BATCH ITERATIONS PX_PER_CLASS SEED
                                        [--work DIR] [--size 1024] [--fraction F]
                                        [--strokes]

With few labels spread over a big scene (an analyst's first strokes), one window per
iteration holds few labelled pixels and few classes (on the 1024 px mosaic with 10 px per
class, a 160 px window draws about 5 px of 4 classes), so a fixed budget of iterations sees
little signal. This trains one setting on the Indian Pines mosaic of ``big_scene.py`` (built
under ``--work`` if absent; zarr, opened lazily as the CLI does) with ``PX_PER_CLASS`` training
pixels per class (every other labelled pixel tests), one thread, no evaluation during training,
the last model, and prints one JSON line: OA/AA on the test pixels, seconds per iteration, peak
RSS. ``--fraction F`` trains on that share of each class instead (PX_PER_CLASS is then
ignored): the dense end, e.g. the 5 % protocol. ``--strokes`` takes each class's pixels as one
painted stroke instead of scattered: a random pixel of the class and its ``PX_PER_CLASS - 1``
nearest pixels of the same class, so a window anchored on one holds few other classes. Compare
settings at equal cost: seconds per iteration x iterations (timings only from runs alone on the
machine; OA from runs side by side is fine).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def stroke_split(gt: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test): per class, one compact blob of ``n`` pixels (a random pixel of the class
    and the class's pixels nearest to it) as a user's stroke; every other labelled pixel
    tests."""
    rng = np.random.default_rng(seed)
    train = np.zeros_like(gt)
    for value in np.unique(gt[gt > 0]):
        rows, cols = np.nonzero(gt == value)
        centre = rng.integers(rows.size)
        d = (rows - rows[centre]) ** 2 + (cols - cols[centre]) ** 2
        near = np.argsort(d, kind="stable")[: min(n, rows.size - 1)]
        train[rows[near], cols[near]] = value
    return train, np.where(train > 0, 0, gt)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("window", "per_batch", "iterations", "px_per_class", "seed"):
        p.add_argument(name, type=int)
    p.add_argument("--work", default="bigscene", help="folder of the mosaics (kept)")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--fraction", type=float, default=None,
                   help="train on this share of each class (PX_PER_CLASS ignored)")
    p.add_argument("--strokes", action="store_true",
                   help="each class's training pixels as one compact stroke, not scattered")
    args = p.parse_args()

    import torch
    from big_scene import build, peak_rss_mb

    from napari_ssdgl.io.lazy import open_lazy
    from napari_ssdgl.training import TrainConfig, Trainer, split_by_fraction, split_per_class

    torch.set_num_threads(1)
    folder = Path(args.work)
    folder.mkdir(parents=True, exist_ok=True)
    cube_path, gt_path = build(args.size, folder, 0)
    gt = np.load(gt_path)
    if args.strokes:
        train, test = stroke_split(gt, args.px_per_class, args.seed)
    elif args.fraction is None:
        train, test = split_per_class(gt, args.px_per_class, seed=args.seed)
    else:
        train, test = split_by_fraction(gt, args.fraction, seed=args.seed)
    config = TrainConfig(iterations=args.iterations, eval_every=0, keep="last", seed=args.seed,
                         device="cpu", window=args.window, windows_per_batch=args.per_batch)
    trainer = Trainer(open_lazy(cube_path).data, train, config, test_labels=test)
    start = time.perf_counter()
    events = list(trainer.run())
    last = events[-1]
    print(json.dumps({
        "size": args.size, "window": args.window, "windows_per_batch": args.per_batch,
        "iterations": args.iterations, "px_per_class": None if args.fraction else args.px_per_class,
        "fraction": args.fraction, "strokes": args.strokes, "train_px": int((train > 0).sum()),
        "seed": args.seed,
        "oa": last.test["oa"], "aa": last.test["aa"],
        "s_per_iteration": (last.elapsed_s - events[0].elapsed_s) / max(1, len(events) - 1),
        "total_s": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb(),
        "torch": torch.__version__}))


if __name__ == "__main__":
    main()
