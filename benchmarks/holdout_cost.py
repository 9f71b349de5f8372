"""What holding painted pixels out to choose the kept model costs at few labels (issue 18).

    python benchmarks/holdout_cost.py [--seeds 10,11] [--iterations 200] [--minimums 10,50]

Indian Pines, headless, one torch thread, the dock's defaults (``TrainConfig()``, 600-iteration
schedule, validated every 25 iterations) on 10 px per class (``split_per_class``, seed S). For
each ``validation_min`` M the Trainer holds 20 % of each class out to choose the kept model
when that makes at least M pixels (10 px/class: 32 held out, 8 px/class train), else every
painted pixel trains and the last model is kept. Prints one JSON line per (seed, M): the kept
model's OA on the ground truth minus the painted pixels at each validation step. This is how
``VALIDATION_MIN`` was chosen: on selection seeds, not the interactive benchmark's seed 0.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from napari_ssdgl.datasets import load_scene
from napari_ssdgl.training import split_per_class
from napari_ssdgl.training.trainer import TrainConfig, Trainer


def kept_oa_by_iteration(cube, train, test, cfg: TrainConfig,
                         stop_at: int) -> tuple[int, dict[int, float]]:
    """(held-out pixels, OA on ``test`` of the model the trainer would return at each
    validation step)."""
    trainer = Trainer(cube, train, cfg, test_labels=test)
    out: dict[int, float] = {}
    for event in trainer.run():
        if event.test is not None:
            kept = (trainer.best_metrics if trainer.validation_pixels else event.test)["oa"]
            out[event.iteration] = round(float(kept), 4)
        if event.iteration >= stop_at:
            trainer.stop()
    return trainer.validation_pixels, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="10,11")
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--minimums", default="10,50")
    args = ap.parse_args()
    torch.set_num_threads(1)
    scene = load_scene("indian_pines")
    cube = np.asarray(scene.cube.data)
    gt = np.asarray(scene.gt.data).astype(np.int64)
    for seed in (int(s) for s in args.seeds.split(",")):
        train, test = split_per_class(gt, 10, seed=seed)
        for minimum in (int(m) for m in args.minimums.split(",")):
            cfg = TrainConfig(seed=seed, validation_min=minimum)
            held, oa = kept_oa_by_iteration(cube, train, test, cfg, args.iterations)
            print(json.dumps({"seed": seed, "validation_min": minimum, "held_out_px": held,
                              "kept_oa_by_iteration": oa, "torch": torch.__version__}),
                  flush=True)


if __name__ == "__main__":
    main()
