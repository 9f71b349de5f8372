"""Reproduce SSDGL on Indian Pines with the paper's two protocols; print JSON.

    python benchmarks/indian_pines.py [--protocol 5pct|10-per-class|both] [--iterations 600]
                                      [--device auto|cpu|cuda|mps] [--seed 2333]

* ``5pct``: 5 % of each class (at least 5) for training (529 pixels), preset ``indian_pines``,
  lr 0.003, power 0.8; every training pixel each iteration (``--paper-draw``: 10 per class).
* ``10-per-class``: 10 pixels per class, preset ``few_samples``, lr 0.001, power 0.9, every
  training pixel every iteration.

Every other labelled pixel is the test set. The reported model is the LAST one (no checkpoint
is chosen by its test score). The scene comes from ``load_scene("indian_pines")`` (offline
from the ``tensorly`` wheel when installed), or from ``--cube``/``--labels`` files. Timings:
seconds per training iteration (including one evaluation at the end), and whole-scene
inference (one warm-up call, then one timed call).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import torch

from napari_ssdgl.analysis.metrics import classification_metrics
from napari_ssdgl.device import runtime_info
from napari_ssdgl.training import Trainer
from napari_ssdgl.workflows.protocols import PROTOCOLS as ALL_PROTOCOLS
from napari_ssdgl.workflows.reproduce import load_scene_data

PROTOCOLS = ALL_PROTOCOLS["indian_pines"]  # the one definition: napari_ssdgl/workflows/protocols.py


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB else


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_protocol(name: str, scene, iterations: int, device: str, seed: int,
                 paper_draw: bool = False) -> dict:
    spec = PROTOCOLS[name]
    gt = scene.gt.data
    train, test = spec.split_labels(gt, seed)
    config = spec.train_config(paper_draw, iterations=iterations, seed=seed, device=device,
                               eval_every=0, keep="last")
    trainer = Trainer(scene.cube.data, train, config, test_labels=test,
                      class_names=scene.gt.class_names, wavelengths=scene.cube.wavelengths)
    dev = trainer.device
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in trainer.run():
        pass
    _sync(dev)
    train_s = time.perf_counter() - start
    clf = trainer.result()
    clf.predict(scene.cube.data, device=dev)  # warm-up
    _sync(dev)
    start = time.perf_counter()
    pred = clf.predict(scene.cube.data, device=dev)
    _sync(dev)
    infer_s = time.perf_counter() - start
    m = classification_metrics(pred.labels, test, exclude=train > 0, class_values=clf.class_values)
    out = {
        "protocol": name,
        "train_pixels": int((train > 0).sum()),
        "test_pixels": int((test > 0).sum()),
        "iterations": trainer.iterations_done,
        "preset": config.preset,
        "lr": config.lr,
        "power": config.power,
        "per_class_draw": config.per_class,
        "seed": config.seed,
        "oa": m["oa"],
        "aa": m["aa"],
        "kappa": m["kappa"],
        "per_class": {str(k): v for k, v in m["per_class"].items()},
        "seconds_per_iteration": train_s / max(1, trainer.iterations_done),
        "train_seconds": train_s,
        "inference_seconds": infer_s,
    }
    if dev.type == "cuda":
        out["cuda_peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=(*PROTOCOLS, "both"), default="both")
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=2333)
    parser.add_argument("--paper-draw", action="store_true",
                        help="the paper's per-class draw (e.g. 10) instead of the default")
    parser.add_argument("--cube", help="read the cube from this file instead of load_scene")
    parser.add_argument("--labels", help="ground truth file to go with --cube")
    args = parser.parse_args(argv)
    if (args.cube is None) != (args.labels is None):
        parser.error("--cube and --labels go together")
    scene = load_scene_data(args.cube or "indian_pines", args.labels)
    names = list(PROTOCOLS) if args.protocol == "both" else [args.protocol]
    results = [run_protocol(n, scene, args.iterations, args.device, args.seed, args.paper_draw)
               for n in names]
    report = {
        "scene": "indian_pines",
        "shape": list(scene.cube.data.shape),
        **runtime_info(args.device),
        "results": results,
        "peak_rss_mb": peak_rss_mb(),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
