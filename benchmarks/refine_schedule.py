"""How long and how fast a Refine round should be (issue 18); prints one JSON line per run.

    python benchmarks/refine_schedule.py [--seeds 10,11] [--schedules 15:0.003,15:0.001,30:0.001]

Indian Pines, headless, one torch thread: a first model trained 100 iterations (of the dock's
600-iteration schedule, kept as the dock keeps it) on 10 px per class (``split_per_class``,
seed S), then +5 px per class from the remaining ground truth (seed S + 100). Each schedule
``N:LR`` refines that model for N iterations starting at LR on all the labels; the same labels
trained from scratch for N iterations are the yardstick. OA on the ground truth minus every
painted pixel. Selection seeds, not the interactive benchmark's seed 0.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from napari_ssdgl.analysis.metrics import classification_metrics
from napari_ssdgl.datasets import load_scene
from napari_ssdgl.training import split_per_class
from napari_ssdgl.training.trainer import TrainConfig, Trainer

FIRST_ITERATIONS = 100


def _train(cube, labels, cfg: TrainConfig, stop_at: int | None = None, init_from=None):
    trainer = Trainer(cube, labels, cfg, init_from=init_from)
    start = time.perf_counter()
    for event in trainer.run():
        if stop_at is not None and event.iteration >= stop_at:
            trainer.stop()
    return trainer.result(), time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="10,11")
    ap.add_argument("--schedules", default="15:0.003,30:0.003,15:0.001,30:0.001,15:0.0003")
    args = ap.parse_args()
    torch.set_num_threads(1)
    scene = load_scene("indian_pines")
    cube = np.asarray(scene.cube.data)
    gt = np.asarray(scene.gt.data).astype(np.int64)
    schedules = [(int(n), float(lr)) for n, lr in (s.split(":") for s in args.schedules.split(","))]

    def oa(clf, painted) -> float:
        labels = np.asarray(clf.predict(cube).labels)
        return round(float(classification_metrics(labels, gt, exclude=painted > 0)["oa"]), 4)

    for seed in (int(s) for s in args.seeds.split(",")):
        first, rest = split_per_class(gt, 10, seed=seed)
        more, _ = split_per_class(rest, 5, seed=seed + 100)
        both = np.where(more > 0, more, first)
        base_cfg = TrainConfig(iterations=600, eval_every=0, seed=seed)
        model, _ = _train(cube, first, base_cfg, stop_at=FIRST_ITERATIONS)
        first_oa = oa(model, both)
        for n, lr in schedules:
            refined, seconds = _train(cube, both, TrainConfig(iterations=n, lr=lr, eval_every=0,
                                                              seed=seed), init_from=model)
            scratch, _ = _train(cube, both, base_cfg, stop_at=n)
            print(json.dumps({"seed": seed, "iterations": n, "lr": lr, "first_oa": first_oa,
                              "refine_oa": oa(refined, both), "scratch_oa": oa(scratch, both),
                              "refine_s": round(seconds, 1), "torch": torch.__version__}),
                  flush=True)


if __name__ == "__main__":
    main()
