"""Scenes larger than memory: peak RSS and throughput of dask prediction, threads vs LocalCluster.

    python benchmarks/dask_scaleout.py [--size 2000] [--bands 200] [--classes 10]
        [--chunk 256] [--overlap 64] [--schedulers threads local:2] [--workdir DIR]
        [--widths 96 128 192 256] [--json OUT.json]

Writes a synthetic ``size x size x bands`` float32 zarr scene chunk by chunk (never whole in
memory; 2000 x 2000 x 200 is 3.2 GB before compression), saves an untrained SSDGL for ``bands``
bands (default widths: the compute is what matters, not the accuracy), then predicts the scene
to zarr once per scheduler, each in a fresh process, and prints one JSON document: wall time,
megapixels per second (statistics passes + final pass + writing), peak RSS of the client process
and of each worker process (``ru_maxrss``). The bar of the issue: client <= 1.5 GB, each worker
<= 2 GB. Windows are ``chunk + 2 * overlap`` so that a window reads the chunks it overlaps.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def _block(block_info=None, bands: int = 200) -> np.ndarray:
    """Smooth spatial regions with class-like spectra plus noise, for one (bands, r, c) chunk."""
    info = block_info[None]
    (r0, r1), (c0, c1) = info["array-location"][1:]
    yy, xx = np.mgrid[r0:r1, c0:c1].astype(np.float32) / 40.0
    region = (np.sin(yy) + np.cos(xx * 1.3)) * 2
    b = np.arange(bands, dtype=np.float32)[:, None, None] / bands
    rng = np.random.default_rng(r0 * 100003 + c0)
    noise = rng.normal(0, 0.05, (bands, r1 - r0, c1 - c0)).astype(np.float32)
    return (np.sin(6 * b + region[None]) + 0.5 * b + noise).astype(np.float32)


def make_scene(path: Path, size: int, bands: int, chunk: int) -> None:
    import dask.array as da

    from napari_ssdgl.io import Cube
    from napari_ssdgl.io.zarr_store import write_zarr_cube

    data = da.map_blocks(_block, bands=bands, dtype=np.float32,
                         chunks=((bands,), *[da.core.normalize_chunks(chunk, (size,))[0]] * 2))
    write_zarr_cube(Cube(data, wavelengths=np.linspace(400, 2500, bands)), path, tile=chunk,
                    scheduler="threads")


def make_model(path: Path, bands: int, classes: int, widths: list[int] | None) -> None:
    import torch

    from napari_ssdgl.models import build_model
    from napari_ssdgl.prediction.classifier import Classifier
    from napari_ssdgl.prediction.modelfile import save_classifier

    torch.manual_seed(0)
    kw = {} if widths is None else {"widths": widths, "decoder_width": widths[1]}
    model = build_model("ssdgl", bands, classes, **kw)
    clf = Classifier(model, "ssdgl", model.config, mean=np.zeros(bands), std=np.ones(bands),
                     class_values=np.arange(1, classes + 1))
    save_classifier(clf, path)


def run_one(args) -> dict:
    """One prediction in this (fresh) process; the client is this process."""
    import shutil

    from napari_ssdgl.io.lazy import open_lazy
    from napari_ssdgl.workflows.dask_run import predict_to_file

    out = Path(args.workdir) / f"pred-{args.scheduler.replace(':', '')}.zarr"
    shutil.rmtree(out, ignore_errors=True)
    cube = open_lazy(Path(args.workdir) / "scene.zarr")
    tile = args.chunk + 2 * args.overlap
    workers: dict = {}
    startup = 0.0
    start = time.perf_counter()
    if args.scheduler.startswith("local:"):
        from distributed import Client, LocalCluster

        n = int(args.scheduler.split(":")[1])
        with LocalCluster(n_workers=n, threads_per_worker=1, host="127.0.0.1",
                          dashboard_address="127.0.0.1:0", silence_logs=40,
                          memory_limit="2.5GiB") as lc, Client(lc) as client:
            print(f"dashboard: {client.dashboard_link}", file=sys.stderr)
            startup = time.perf_counter() - start
            start = time.perf_counter()  # throughput without the cluster's start-up
            predict_to_file(Path(args.workdir) / "model", cube, out, tile_size=tile,
                            overlap=args.overlap, scheduler=client, device="cpu", progress=True)
            workers = client.run(peak_rss_mb)
    else:
        predict_to_file(Path(args.workdir) / "model", cube, out, tile_size=tile,
                        overlap=args.overlap, scheduler=args.scheduler, device="cpu",
                        progress=True)
    seconds = time.perf_counter() - start
    rows, cols = cube.spatial_shape
    return {"scheduler": args.scheduler, "seconds": round(seconds, 1),
            "cluster_start_seconds": round(startup, 1),
            "megapixels_per_second": round(rows * cols / 1e6 / seconds, 5),
            "pixels_per_second": round(rows * cols / seconds),
            "client_peak_rss_mb": round(peak_rss_mb()),
            "worker_peak_rss_mb": {k: round(v) for k, v in workers.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--bands", type=int, default=200)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--overlap", type=int, default=64)
    ap.add_argument("--widths", type=int, nargs=4, default=None)
    ap.add_argument("--schedulers", nargs="+", default=["threads", "local:2"])
    ap.add_argument("--workdir", default="benchmarks/out/dask_scaleout")
    ap.add_argument("--json", default=None, help="also write the result here")
    ap.add_argument("--_run", dest="scheduler", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.scheduler:
        print(json.dumps(run_one(args)))
        return

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    scene = work / "scene.zarr"
    meta = work / "scene.json"
    wanted = {"size": args.size, "bands": args.bands, "chunk": args.chunk}
    start = time.perf_counter()
    if not scene.exists() or not meta.exists() or json.loads(meta.read_text()) != wanted:
        import shutil

        shutil.rmtree(scene, ignore_errors=True)
        make_scene(scene, args.size, args.bands, args.chunk)
        meta.write_text(json.dumps(wanted))
    scene_s = time.perf_counter() - start
    make_model(work / "model", args.bands, args.classes, args.widths)
    runs = []
    for spec in args.schedulers:
        cmd = [sys.executable, __file__, *sys.argv[1:], "--_run", spec]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if done.returncode:
            runs.append({"scheduler": spec, "error": done.stderr.strip().splitlines()[-1:]})
        else:
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(runs[-1]), file=sys.stderr)
    result = {
        "scene": {**wanted, "gigabytes_float32": round(args.size**2 * args.bands * 4 / 1e9, 2),
                  "write_seconds": round(scene_s, 1)},
        "model": {"name": "ssdgl", "widths": args.widths or "default (96, 128, 192, 256)"},
        "window": args.chunk + 2 * args.overlap, "overlap": args.overlap,
        "cpu_count": os.cpu_count(), "load_average_at_end": os.getloadavg(),
        "runs": runs,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
