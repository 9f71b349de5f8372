"""What a preview costs while training a big lazy scene in windows: the whole scene vs the part
in view (the dock's preview of a windowed run, ``Trainer.request_preview(region)``).

    python benchmarks/preview_region.py [--size 2048] [--regions 256,384,512] [--work DIR]

``big_scene.py``'s Indian Pines mosaic as zarr (built under ``--work`` when missing), opened
lazily, 5 % of each class training, the default ``TrainConfig`` (window 160 px). After two
iterations, each preview is timed as the trainer makes it at an event (one region at a time,
centred in the scene, then the whole scene): seconds, and the tiles it maps. Prints one JSON
record. Run it alone: timings on a shared CPU mean little.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from big_scene import build

from napari_ssdgl.io.lazy import open_lazy
from napari_ssdgl.prediction.tiling import DEFAULT_OVERLAP, plan_windows
from napari_ssdgl.training import split_by_fraction
from napari_ssdgl.training.trainer import SCORE_TILE, TrainConfig, Trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--regions", default="256,384,512")
    p.add_argument("--work", help="folder holding or receiving the mosaic")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-whole", action="store_true", help="skip the whole-scene preview")
    args = p.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="preview_region_"))
    cube_path, gt_path = build(args.size, work, args.seed)
    gt = np.load(gt_path)
    train, _ = split_by_fraction(gt, 0.05, 5, seed=0)
    trainer = Trainer(open_lazy(cube_path).data, train, TrainConfig(iterations=2, seed=0))
    for _ in trainer.run():
        pass
    out: dict = {"size": args.size, "window": trainer.config.window, "tile": SCORE_TILE,
                 "threads": torch.get_num_threads(), "windowed": trainer.windowed}
    sizes = [int(s) for s in args.regions.split(",") if s] + ([] if args.no_whole else [0])
    for side in sizes:
        needed = np.zeros(gt.shape, bool)
        if side:
            c = (args.size - side) // 2
            needed[c:c + side, c:c + side] = True
        else:
            needed[:] = True
        core = SCORE_TILE - 2 * DEFAULT_OVERLAP
        tiles = sum(needed[w.core_rows[0]:w.core_rows[1], w.core_cols[0]:w.core_cols[1]].any()
                    for w in plan_windows(args.size, args.size, SCORE_TILE, DEFAULT_OVERLAP))
        t = time.perf_counter()
        trainer._predict_map(needed)
        out[f"preview_{side or 'whole'}_s"] = round(time.perf_counter() - t, 1)
        out[f"preview_{side or 'whole'}_tiles"] = int(tiles)
        out["tile_core"] = core
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
