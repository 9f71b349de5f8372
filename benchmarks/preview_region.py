"""What a preview costs while training a big lazy scene in windows: the whole scene vs the part
in view (the dock's preview of a windowed run, ``Trainer.request_preview(region)``).

    python benchmarks/preview_region.py [--size 2048] [--regions 256,384,512] [--work DIR]

``big_scene.py``'s Indian Pines mosaic as zarr (built under ``--work`` when missing), opened
lazily, 5 % of each class training, the default ``TrainConfig`` (window 160 px). After two
iterations, each preview is timed (one region at a time, centred in the scene, then the whole
scene) both ways: as the trainer makes it now, on the region's own grid in windows of up to
``PREVIEW_TILE`` px (``_tiled_map(box=...)``), and on the scene's grid of ``SCORE_TILE`` tiles
it did before (``_predict_map(needed)``, still the way scoring maps): seconds, the windows it
maps, and the process's peak RSS after it (monotonic: a step that raises it shows its cost).
The calibration of the layer statistics that each preview of a run starts with is timed once,
apart: a preview costs it plus the map.
Prints one JSON record. Run it alone: timings on a shared CPU mean little.
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

from napari_ssdgl.io.lazy import open_lazy
from napari_ssdgl.prediction import tiling
from napari_ssdgl.prediction.tiling import DEFAULT_OVERLAP
from napari_ssdgl.training import split_by_fraction
from napari_ssdgl.training.trainer import PREVIEW_TILE, SCORE_TILE, TrainConfig, Trainer


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
                 "preview_tile": PREVIEW_TILE, "tile_core": SCORE_TILE - 2 * DEFAULT_OVERLAP,
                 "threads": torch.get_num_threads(), "windowed": trainer.windowed,
                 "rss_before_previews_mb": round(peak_rss_mb())}
    windows: list = []
    stitch = tiling._stitch

    def counted(model, x, planned, *a, **k):
        windows.append(len(planned))
        return stitch(model, x, planned, *a, **k)

    tiling._stitch = counted  # counts the windows each way maps
    t = time.perf_counter()  # a preview in a run calibrates first (new weights): timed alone
    trainer.layer_statistics()
    out["calibration_s"] = round(time.perf_counter() - t, 1)
    sizes = [int(s) for s in args.regions.split(",") if s] + ([] if args.no_whole else [0])
    for side in sizes:
        c = (args.size - side) // 2
        region = (slice(c, c + side), slice(c, c + side)) if side else None
        needed = np.zeros(gt.shape, bool)
        needed[region if side else ...] = True
        for name in ("own_grid", "scene_grid") if side else ("scene_grid",):
            key = f"preview_{side or 'whole'}_{name}"
            t = time.perf_counter()
            if name == "own_grid":
                trainer._tiled_map(None, box=region)
            else:
                trainer._predict_map(needed)
            out[f"{key}_s"] = round(time.perf_counter() - t, 1)
            out[f"{key}_windows"] = windows.pop()
            out[f"{key}_peak_rss_mb"] = round(peak_rss_mb())
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
