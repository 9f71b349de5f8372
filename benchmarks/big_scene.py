"""Windowed training and one-pass prediction on a big scene with a known ground truth (issue 17).

    python benchmarks/big_scene.py [--sizes 320] [--iterations 20] [--window 160]
                                   [--windows-per-batch 1] [--fraction 0.05] [--predict]
                                   [--scene-stats] [--cluster] [--work DIR] [--device cpu]
                                   [--seed 0] [--store zarr|npy]
                                   [--source-cube IP.npy --source-labels IP_gt.npy]

The scene is a mosaic of Indian Pines tiles (145 x 145 x 200, from ``load_scene``: offline
from the ``tensorly`` wheel when installed), each tile under a random flip/transpose, cropped
to ``S x S`` and written as zarr (chunks of 200 x 256 x 256) with its ground truth as .npy
under ``--work`` (default: a temporary folder; nothing is committed); ``--store npy`` writes it
as a memory-mapped .npy instead, which the Trainer reads window by window without zarr or dask
(the device machine has neither). ``--source-cube``/``--source-labels``: Indian Pines' two .npy
files (rows x cols x bands, as in the wheel) where ``tensorly`` is not installed. Each size
trains in a fresh process and each prediction runs in another, from the saved model (peak RSS is per
process): the lazy zarr cube goes to the Trainer as the CLI
gives it (``open_lazy``), ``fraction`` of each class trains, every other labelled pixel tests.

Printed as JSON, one record per size: seconds per training iteration after the first (no
scoring during training), the process's peak RSS after training, and with ``--predict`` the
one-pass dask prediction (threads, or ``--cluster``: a 2-worker LocalCluster) with its time,
OA on the test pixels and peak RSS. OA is meaningful only with the full 600 iterations.
Sizes are comma-separated (e.g. ``160,512,1024,2048``): the big ones take hours on a CPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

TILE = 145  # Indian Pines' size
CHUNK = 256


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB else


def indian_pines(source: tuple[str, str] | None) -> tuple[np.ndarray, np.ndarray]:
    """Indian Pines as (bands x rows x cols float32, ground truth): from ``load_scene``, or
    from the wheel's two files (rows x cols x bands) at ``source``."""
    if source is None:
        from napari_ssdgl.datasets import load_scene

        scene = load_scene("indian_pines")
        return np.asarray(scene.cube.data, np.float32), np.asarray(scene.gt.data)
    cube = np.moveaxis(np.load(source[0]), -1, 0)
    return np.ascontiguousarray(cube, np.float32), np.load(source[1]).astype(np.int32)


def build(size: int, folder: Path, seed: int, store: str = "zarr",
          source: tuple[str, str] | None = None) -> tuple[Path, Path]:
    """The ``size`` x ``size`` mosaic as ``folder/mosaic_S.zarr`` (``store="npy"``: a .npy)
    and its labels as .npy, written one strip of tiles at a time (the scene is never in
    memory whole)."""
    from napari_ssdgl.transforms.dihedral import dihedral_view

    cube_path, gt_path = folder / f"mosaic_{size}.{store}", folder / f"mosaic_{size}_gt.npy"
    if cube_path.exists() and gt_path.exists():
        return cube_path, gt_path
    cube, gt = indian_pines(source)
    bands = cube.shape[0]
    rng = np.random.default_rng([seed, size])
    if store == "npy":
        z = np.lib.format.open_memmap(cube_path, mode="w+", dtype=np.float32,
                                      shape=(bands, size, size))
    else:
        import zarr

        z = zarr.open_array(str(cube_path), mode="w", shape=(bands, size, size),
                            chunks=(bands, CHUNK, CHUNK), dtype=np.float32)
    labels = np.zeros((size, size), dtype=gt.dtype)
    n = -(-size // TILE)
    for i in range(n):
        r0, r1 = i * TILE, min(size, (i + 1) * TILE)
        strip = np.empty((bands, r1 - r0, size), np.float32)
        for j in range(n):
            c0, c1 = j * TILE, min(size, (j + 1) * TILE)
            k = int(rng.integers(8))
            strip[:, :, c0:c1] = dihedral_view(cube, k)[:, : r1 - r0, : c1 - c0]
            labels[r0:r1, c0:c1] = dihedral_view(gt, k)[: r1 - r0, : c1 - c0]
        z[:, r0:r1, :] = strip
    if store == "npy":
        z.flush()
        del z
    np.save(gt_path, labels)
    return cube_path, gt_path


def measure(args) -> dict:
    """Training at one size, in this (fresh) process; the model is saved for :func:`predict`."""
    import torch

    from napari_ssdgl.prediction.modelfile import save_classifier
    from napari_ssdgl.training import TrainConfig, Trainer, split_by_fraction

    torch.manual_seed(args.seed)
    if args.measure.endswith(".npy"):  # stays a memory map: the Trainer reads its windows
        cube = np.load(args.measure, mmap_mode="r")
    else:
        from napari_ssdgl.io.lazy import open_lazy

        cube = open_lazy(args.measure).data
    gt = np.load(args.labels)
    train, _ = split_by_fraction(gt, args.fraction, seed=args.seed)
    config = TrainConfig(iterations=args.iterations, eval_every=0, keep="last", seed=args.seed,
                         device=args.device, window=args.window or None,
                         windows_per_batch=args.windows_per_batch)
    trainer = Trainer(cube, train, config)
    with warnings.catch_warnings(record=True) as caught:  # e.g. a CUDA graph capture failing
        warnings.simplefilter("always")
        elapsed = [e.elapsed_s for e in trainer.run()]
    save_classifier(trainer.result(), args.model)
    out = {"size": int(gt.shape[0]), "bands": int(cube.shape[0]),
           "store": Path(args.measure).suffix[1:], "windowed": trainer.windowed,
           "window": args.window,
           "windows_per_batch": args.windows_per_batch, "iterations": len(elapsed),
           "train_pixels": int((train > 0).sum()),
           "s_per_iteration": (elapsed[-1] - elapsed[0]) / max(1, len(elapsed) - 1),
           "train_peak_rss_mb": peak_rss_mb(), "threads": torch.get_num_threads(),
           "torch": torch.__version__}
    if args.device.startswith("cuda"):
        out.update(device_name=torch.cuda.get_device_name(),
                   peak_gpu_mb=torch.cuda.max_memory_allocated() / 2**20)
    out["warnings"] = sorted({str(w.message) for w in caught})
    return out


def predict(args) -> dict:
    """One-pass dask prediction of the saved model, in this (fresh) process: its time, OA on
    the test pixels (every labelled pixel not trained on) and peak RSS (this process, and each
    cluster worker's). ``--scene-stats``: the model without its window
    statistics, predicted as whole-scene models are (statistics passes first), for the
    comparison with the way big scenes were predicted before windowed training."""
    from dataclasses import replace

    from napari_ssdgl.analysis.metrics import classification_metrics
    from napari_ssdgl.io.lazy import open_lazy
    from napari_ssdgl.prediction.dask_predict import predict_dask
    from napari_ssdgl.prediction.modelfile import load_classifier
    from napari_ssdgl.training import split_by_fraction

    clf = load_classifier(args.model)
    if args.scene_stats:
        clf = replace(clf, layer_statistics=None)
    cube = open_lazy(args.predict_cube)
    gt = np.load(args.labels)
    _, test = split_by_fraction(gt, args.fraction, seed=args.seed)
    client = cluster = None
    if args.cluster:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
        client = Client(cluster)
    start = time.perf_counter()
    pred = predict_dask(clf, cube.data, device=args.device, client=client)
    labels = (client.compute(pred.labels).result() if client
              else pred.labels.compute(scheduler="threads"))
    out = {"size": int(gt.shape[0]), "predict_s": time.perf_counter() - start,
           "statistics": "scene passes" if args.scene_stats else "the model's (one pass)",
           "oa": classification_metrics(labels, test)["oa"],
           "predict_peak_rss_mb": peak_rss_mb(),
           "scheduler": "LocalCluster(2)" if client else "threads"}
    if client:
        out["worker_peak_rss_mb"] = sorted(client.run(peak_rss_mb).values())
        client.close()
        cluster.close()
    return out


def _child(flags: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, *flags], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(flags)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="320", help="comma-separated scene sizes (px)")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--window", type=int, default=160)
    p.add_argument("--windows-per-batch", type=int, default=1)
    p.add_argument("--fraction", type=float, default=0.05)
    p.add_argument("--predict", action="store_true", help="also time one-pass prediction")
    p.add_argument("--cluster", action="store_true", help="predict on a 2-worker LocalCluster")
    p.add_argument("--work", help="folder for the mosaics (default: a temporary one)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--store", choices=("zarr", "npy"), default="zarr",
                   help="how the mosaic is written (npy: a memory map, no zarr or dask needed)")
    p.add_argument("--source-cube", help="Indian_pines_corrected.npy (without tensorly)")
    p.add_argument("--source-labels", help="Indian_pines_gt.npy (without tensorly)")
    p.add_argument("--scene-stats", action="store_true",
                   help="also predict the way big scenes were predicted before windowed "
                        "training (statistics passes over the scene first)")
    p.add_argument("--measure", help=argparse.SUPPRESS)  # internal: train one size here
    p.add_argument("--predict-cube", help=argparse.SUPPRESS)  # internal: predict it here
    p.add_argument("--labels", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        print(json.dumps(measure(args)))
        return
    if args.predict_cube:
        print(json.dumps(predict(args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.work or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        results = []
        for size in (int(s) for s in args.sizes.split(",")):
            source = ((args.source_cube, args.source_labels) if args.source_cube else None)
            cube_path, gt_path = build(size, folder, args.seed, args.store, source)
            model = folder / f"model_{size}"
            common = [f"--fraction={args.fraction}", f"--device={args.device}",
                      f"--seed={args.seed}", "--labels", str(gt_path), "--model", str(model)]
            record = _child([f"--iterations={args.iterations}", f"--window={args.window}",
                             f"--windows-per-batch={args.windows_per_batch}", *common,
                             "--measure", str(cube_path)])
            if args.predict:
                ways = [[], ["--scene-stats"]] if args.scene_stats else [[]]
                record["predictions"] = [
                    _child([*common, *way, *(["--cluster"] if args.cluster else []),
                            "--predict-cube", str(cube_path)]) for way in ways]
            results.append(record)
            print(json.dumps(record), file=sys.stderr)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
