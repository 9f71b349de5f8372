"""Training variants on Indian Pines over several seeds; one JSON line per run.

    python benchmarks/variants.py --protocol 5pct --seeds 0-4 [--per-class N | --paper-draw]
        [--augment] [--tta] [--lr LR] [--iterations N] [--groups G] [--kernel K] [--members N]
        [--window PX [--windows-per-batch N]] [--parallel J] [--device auto|cpu|cuda]
        [--cube FILE --labels FILE] [--name NAME]

Each run splits with its seed, trains with the protocol's settings plus the given changes,
scores the test pixels every 25 iterations (the curve; the model is always the LAST one) and
prints ``{"name", "seed", "oa", "aa", "kappa", "hist": [[iteration, seconds, OA %], ...]}``.
``--tta`` also scores the last model over the 8 flips/transposes (``oa_tta``, ``aa_tta``,
``kappa_tta``). ``--parallel J`` runs J seeds at once in child processes (one torch thread
each): how the draw/augmentation comparison in README.md was run on one GPU. ``--window PX``
trains in windows of that size, as the engine's default does on scenes wider than its window
(the protocols train on the whole scene); a windowed run scores its test pixels at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def _seeds(text: str) -> list[int]:
    if "-" in text and "," not in text:
        a, b = (int(v) for v in text.split("-"))
        return list(range(a, b + 1))
    return [int(v) for v in text.split(",")]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--protocol", default="5pct", choices=("5pct", "10-per-class"))
    p.add_argument("--seeds", type=_seeds, default=[0, 1, 2, 3, 4])
    p.add_argument("--iterations", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    draw = p.add_mutually_exclusive_group()
    draw.add_argument("--per-class", type=int, default=None, help="per-class draw; 0 = all")
    draw.add_argument("--paper-draw", action="store_true", help="the paper's per-class draw")
    p.add_argument("--augment", action="store_true", help="random flips/transposes")
    p.add_argument("--tta", action="store_true",
                   help="also score the last model over the 8 flips/transposes")
    p.add_argument("--groups", type=int, default=None, help="GroupNorm groups")
    p.add_argument("--kernel", type=int, default=None, help="ConvLSTM kernel")
    p.add_argument("--members", type=int, default=None, help="ensemble members")
    p.add_argument("--window", type=int, default=None,
                   help="train in windows of this many px (default: the whole scene)")
    p.add_argument("--windows-per-batch", type=int, default=None,
                   help="windows per iteration (with --window)")
    p.add_argument("--device", default="auto")
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--cube", help="cube file (default: load_scene('indian_pines'))")
    p.add_argument("--labels", help="ground truth file to go with --cube")
    p.add_argument("--name", default="")
    return p.parse_args(argv)


def run_one(args: argparse.Namespace, seed: int) -> dict:
    import torch

    from napari_ssdgl.training import Trainer
    from napari_ssdgl.workflows.protocols import PROTOCOLS

    if args.cube:
        from napari_ssdgl.io import read_cube, read_labels

        cube, gt = read_cube(args.cube).data, read_labels(args.labels).data
    else:
        from napari_ssdgl.datasets import load_scene

        scene = load_scene("indian_pines")
        cube, gt = scene.cube.data, scene.gt.data
    spec = PROTOCOLS["indian_pines"][args.protocol]
    train, test = spec.split_labels(gt, seed)
    over: dict = {"seed": seed, "device": args.device, "eval_every": 25, "keep": "last",
                  "augment": args.augment}
    if args.iterations:
        over["iterations"] = args.iterations
    if args.lr:
        over["lr"] = args.lr
    if args.window:
        over["window"] = args.window
    if args.windows_per_batch:
        over["windows_per_batch"] = args.windows_per_batch
    if args.per_class is not None:
        over["per_class"] = args.per_class or None
    config = spec.train_config(args.paper_draw, **over)
    for key, value in (("groups", args.groups), ("gcl_kernel", args.kernel),
                       ("members", args.members)):
        if value:
            config.model_kwargs[key] = value
    trainer = Trainer(cube, train, config, test_labels=test)
    hist, last = [], None
    start = time.perf_counter()
    for event in trainer.run():
        if event.test:
            last = event.test
            hist.append([event.iteration, round(event.elapsed_s, 2), round(100 * last["oa"], 3)])
    out = {"name": args.name, "protocol": args.protocol, "seed": seed, "lr": config.lr,
           "iterations": config.iterations, "per_class_draw": config.per_class,
           "augment": config.augment, "model_kwargs": config.model_kwargs,
           "window": config.window, "windowed": trainer.windowed,
           "windows_per_batch": config.windows_per_batch,
           "oa": last["oa"], "aa": last["aa"], "kappa": last["kappa"], "hist": hist,
           "wall_s": time.perf_counter() - start, "device": str(trainer.device),
           "torch": torch.__version__}
    if args.tta:
        from napari_ssdgl.analysis.metrics import classification_metrics

        clf = trainer.result()
        pred = clf.predict(cube, device=trainer.device, tta=True).labels.astype(gt.dtype)
        m = classification_metrics(pred, test, exclude=train > 0, class_values=clf.class_values)
        out.update({"oa_tta": m["oa"], "aa_tta": m["aa"], "kappa_tta": m["kappa"]})
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if (args.cube is None) != (args.labels is None):
        raise SystemExit("--cube and --labels go together")
    if args.parallel <= 1 or len(args.seeds) == 1:
        for seed in args.seeds:
            print(json.dumps(run_one(args, seed)), flush=True)
        return 0
    argv = list(argv if argv is not None else sys.argv[1:])
    base = []  # the same options, minus --seeds/--parallel, for one child per seed
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--seeds", "--parallel"):
            skip = True
            continue
        if a.startswith(("--seeds=", "--parallel=")):
            continue
        base.append(a)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    pending, running, failed = list(args.seeds), [], 0
    while pending or running:
        while pending and len(running) < args.parallel:
            seed = pending.pop(0)
            cmd = [sys.executable, __file__, *base, "--seeds", str(seed)]
            running.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env))
        time.sleep(1)
        for proc in [p for p in running if p.poll() is not None]:
            running.remove(proc)
            out = proc.stdout.read().strip()
            failed += proc.returncode != 0
            if out:
                print(out, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
