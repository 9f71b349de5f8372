"""Peak memory of tiled prediction on a big synthetic scene (default 4096 x 4096 x 200); JSON.

    python benchmarks/tiled_memory.py [--size 4096] [--bands 200] [--tile-size 512]
                                      [--model MODEL_DIR] [--no-scene-stats]

The float32 scene is built in memory first (a smooth synthetic pattern, ~13.4 GB at the default
size); the process's resident set size is read after that, and its peak (Linux VmHWM) after
``Classifier.predict(cube, tile_size=...)`` returned the class map, probabilities, entropy and
margin. ``peak_beyond_scene_mb`` = peak - RSS with the scene built: the bar is <= 6 GB. The model
is MODEL_DIR (a saved model for ``--bands`` bands) or, by default, an untrained SSDGL with the
``indian_pines`` preset (3.5 M parameters; the same memory as a trained one).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status (Linux only)")


def synthetic_scene(bands: int, size: int) -> np.ndarray:
    """A smooth, band-dependent pattern: cheap to build, not constant (no degenerate stats)."""
    cube = np.empty((bands, size, size), dtype=np.float32)
    axis = np.linspace(0, 8 * np.pi, size, dtype=np.float32)
    base = np.sin(axis)[:, None] * np.cos(0.7 * axis)[None, :]
    for b in range(bands):
        np.multiply(base, 1.0 + 0.01 * b, out=cube[b])
        cube[b] += 0.001 * b
    return cube


def classifier(args):
    from napari_ssdgl.models import build_model, model_config
    from napari_ssdgl.prediction.classifier import Classifier

    if args.model:
        from napari_ssdgl.prediction.modelfile import load_classifier

        return load_classifier(args.model)
    torch.manual_seed(0)
    model = build_model("ssdgl", args.bands, 16, preset="indian_pines").eval()
    return Classifier(model=model, model_name="ssdgl", model_config=model_config(model),
                      mean=np.zeros(args.bands, np.float32), std=np.ones(args.bands, np.float32),
                      class_values=np.arange(1, 17))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--bands", type=int, default=200)
    p.add_argument("--tile-size", type=int, default=512)
    p.add_argument("--overlap", type=int, default=64)
    p.add_argument("--model", help="saved model directory (default: untrained IP-preset SSDGL)")
    p.add_argument("--no-scene-stats", action="store_true",
                   help="tiles use their own normalisation statistics (one pass, not equal to "
                        "whole-scene prediction)")
    args = p.parse_args(argv)
    clf = classifier(args)
    start = time.perf_counter()
    cube = synthetic_scene(args.bands, args.size)
    build_s = time.perf_counter() - start
    with_scene = rss_mb()
    start = time.perf_counter()
    pred = clf.predict(cube, tile_size=args.tile_size, overlap=args.overlap, device="cpu",
                       scene_stats=not args.no_scene_stats)
    predict_s = time.perf_counter() - start
    peak = rss_mb("VmHWM")
    report = {
        "shape": list(cube.shape), "scene_gb": cube.nbytes / 1e9,
        "tile_size": args.tile_size, "overlap": args.overlap,
        "scene_stats": not args.no_scene_stats,
        "model": args.model or "untrained ssdgl, preset indian_pines",
        "classes": int(pred.probabilities.shape[0]),
        "rss_with_scene_mb": with_scene, "peak_rss_mb": peak,
        "peak_beyond_scene_mb": peak - with_scene,
        "build_seconds": build_s, "predict_seconds": predict_s,
        "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
