"""Time-to-accuracy of the dense reference path vs the fast path on Indian Pines; print JSON.

    python benchmarks/speed.py [--protocol 5pct|10-per-class] [--iterations 600]
                               [--device auto|cpu|cuda] [--seed 2333]
                               [--paths reference,fast[,fast-eager,compiled]]
                               [--eval-every 25] [--preset NAME|none]
                               [--cpu-bf16 auto|on|off] [--threads N] [--out FILE]
                               [--cube FILE --labels FILE]

Both paths run in this one process, one after the other, on the same split and seed
(``TrainConfig(reference=True)`` is the plain dense float32 path, the yardstick). For each:
median seconds per training iteration; training wall time until the test OA first reaches 97 %
and 97.5 % (evaluated every ``--eval-every`` iterations; evaluation time is excluded from the
clock); final OA of the last model; whole-scene inference time (median of 3 after a warm-up;
the reference times the plain dense forward, the fast path ``Classifier.predict``); peak RSS
of that path (Linux: VmHWM reset before each path). Then the ratio path / reference of each.
``compiled`` is the fast path with ``torch.compile`` (Inductor) of the training step; its first
iteration includes the compilation, which counts in its training time (not in the median).
On CUDA ``fast`` replays each iteration as a CUDA graph (the default); ``fast-eager`` is the
same path launched op by op (``cuda_graph=False``); on the CPU the two are the same.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from napari_ssdgl.analysis.metrics import classification_metrics
from napari_ssdgl.device import runtime_info
from napari_ssdgl.prediction.inference import Prediction
from napari_ssdgl.training import Trainer
from napari_ssdgl.workflows.protocols import PROTOCOLS as ALL_PROTOCOLS
from napari_ssdgl.workflows.reproduce import load_scene_data

PROTOCOLS = ALL_PROTOCOLS["indian_pines"]

TARGETS = (0.97, 0.975)


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so each path gets its own peak (Linux)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device: torch.device, repeats: int = 3) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_path(path: str, scene, train, test, args) -> dict:
    extra = {} if args.preset is None else {
        "preset": None if args.preset == "none" else args.preset}
    config = PROTOCOLS[args.protocol].train_config(
        args.paper_draw, iterations=args.iterations, seed=args.seed, device=args.device,
        eval_every=0, keep="last", reference=path == "reference",
        compile="inductor" if path == "compiled" else None, cuda_graph=path != "fast-eager",
        cpu_bf16={"auto": None, "on": True, "off": False}[args.cpu_bf16], **extra)
    exact = _reset_peak_rss()
    # no test labels inside the trainer: we evaluate ourselves, off the clock
    trainer = Trainer(scene.cube.data, train, config)
    dev = trainer.device
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    steps, curve = [], []
    reached: dict[str, float | None] = {f"{t:g}": None for t in TARGETS}
    train_s = 0.0
    _sync(dev)
    mark = time.perf_counter()
    for event in trainer.run():
        _sync(dev)
        dt = time.perf_counter() - mark
        steps.append(dt)
        train_s += dt
        done = event.iteration
        if done % args.eval_every == 0 or done == config.iterations:
            pred = trainer._predict_map(trainer._xt)
            oa = classification_metrics(pred, test, exclude=train > 0,
                                        class_values=trainer.encoder.values)["oa"]
            curve.append([done, round(train_s, 3), round(oa, 5)])
            print(f"{path}: it {done} train {train_s:.1f} s OA {oa:.4f}", file=sys.stderr,
                  flush=True)
            for t in TARGETS:
                if reached[f"{t:g}"] is None and oa >= t:
                    reached[f"{t:g}"] = round(train_s, 3)
        _sync(dev)
        mark = time.perf_counter()
    clf = trainer.result()
    if path == "reference":
        def infer():
            x = torch.from_numpy(clf.prepare(scene.cube.data))[None].to(dev)
            model = clf.model.to(dev).eval()
            with torch.inference_mode():
                probs = torch.softmax(model(x).float(), 1)[0].cpu().numpy()
            return Prediction.from_probabilities(probs, clf.class_values)
    else:
        def infer():
            return clf.predict(scene.cube.data, device=dev)
    infer_s = _time(infer, dev)
    labels = infer().labels
    final = classification_metrics(labels, test, exclude=train > 0,
                                   class_values=clf.class_values)
    out = {
        "path": path,
        "per_class_draw": config.per_class,
        "seconds_per_iteration_median": statistics.median(steps),
        "first_iteration_seconds": steps[0] if steps else None,
        "train_seconds": train_s,
        "seconds_to_oa": reached,
        "final_oa": final["oa"],
        "final_aa": final["aa"],
        "final_kappa": final["kappa"],
        "inference_seconds": infer_s,
        "peak_rss_mb": _peak_rss_mb(),
        "peak_rss_is_per_path": exact,
        "curve": curve,  # [iteration, training seconds, OA]
    }
    if dev.type == "cuda":
        out["cuda_peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=tuple(PROTOCOLS), default="5pct")
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=2333)
    parser.add_argument("--paths", default="reference,fast",
                        help="comma-separated, from: reference, fast, fast-eager, compiled")
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--paper-draw", action="store_true",
                        help="the paper's per-class draw (e.g. 10) instead of the default")
    parser.add_argument("--preset", default=None,
                        help="model preset (default: the protocol's); 'none' = the CLI default")
    parser.add_argument("--cpu-bf16", choices=("auto", "on", "off"), default="auto",
                        help="bfloat16 autocast on the CPU for the fast path (auto: where native)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's); on a loaded 2-core box 1 "
                             "thread avoids OpenMP spin-waiting (2 threads measured >10x slower)")
    parser.add_argument("--cube", help="read Indian Pines from this file (e.g. the tensorly "
                                       "wheel's .npy) instead of the sample-data registry")
    parser.add_argument("--labels", help="ground truth file to go with --cube")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    if (args.cube is None) != (args.labels is None):
        parser.error("--cube and --labels go together")
    if args.threads:
        torch.set_num_threads(args.threads)
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if not paths or set(paths) - {"reference", "fast", "fast-eager", "compiled"}:
        parser.error("--paths takes reference, fast, fast-eager and/or compiled")
    scene = load_scene_data(args.cube or "indian_pines", args.labels)
    train, test = PROTOCOLS[args.protocol].split_labels(scene.gt.data, args.seed)
    results = {p: run_path(p, scene, train, test, args) for p in paths}
    report = {
        "scene": "indian_pines",
        "protocol": args.protocol,
        "seed": args.seed,
        "iterations": args.iterations,
        "eval_every": args.eval_every,
        "preset": args.preset or PROTOCOLS[args.protocol].preset,
        "cpu_bf16": args.cpu_bf16,
        "per_class_draw": results[paths[0]]["per_class_draw"],
        "train_pixels": int((train > 0).sum()),
        **runtime_info(args.device),
        "results": results,
    }
    for name in paths:
        if name == "reference" or "reference" not in paths:
            continue
        ref, fast = results["reference"], results[name]
        report[f"{name}_over_reference"] = {
            "seconds_per_iteration_median": _ratio(fast["seconds_per_iteration_median"],
                                                   ref["seconds_per_iteration_median"]),
            "seconds_to_oa": {k: _ratio(fast["seconds_to_oa"][k], ref["seconds_to_oa"][k])
                              for k in ref["seconds_to_oa"]},
            "final_oa": _ratio(fast["final_oa"], ref["final_oa"]),
            "final_oa_points_difference": 100 * (fast["final_oa"] - ref["final_oa"]),
            "inference_seconds": _ratio(fast["inference_seconds"], ref["inference_seconds"]),
            "peak_rss_mb": _ratio(fast["peak_rss_mb"], ref["peak_rss_mb"]),
        }
    text = json.dumps(report, indent=2, default=lambda o: o.tolist()
                      if isinstance(o, np.ndarray) else str(o))
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
