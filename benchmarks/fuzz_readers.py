"""Long fuzz run of the readers: mutated small files of every format, each case in a child
process with an address-space limit and a timeout; prints (and writes) a JSON summary.

    nice python benchmarks/fuzz_readers.py --cases 5000 --jobs 2 \
        --out benchmarks/results/fuzz_readers_cpu.json

Cases cycle through the formats (.npy, .npz, .mat v5, .mat v7.3 / HDF5, ENVI, TIFF, PNG, zarr)
and the mutations (byte flips, truncation, header edits) of ``tests/io/fuzz_inputs.py``; case
``i`` is reproducible from ``--seed`` and ``i``. Each case is fed to ``read_path``,
``read_cube``, ``read_labels``, ``open_lazy`` (plus a small read of what it opened) and the
napari reader hook ``get_reader`` (in memory and lazily), in a forked child with
``RLIMIT_AS`` = ``--limit-gb`` and killed after ``--timeout`` seconds. The bar (issue 21):
no exception but ``HSIReadError`` from the library calls (``ChunkReadError`` allowed for the
read after opening), ``get_reader`` never raises, no hang, no crash, no child over 2 GB
resident. Failing cases are kept under ``--keep`` for reproduction.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.io.fuzz_inputs import FORMATS, MUTATIONS, exercise, failures, make_case  # noqa: E402

RSS_BAR_MB = 2048


def _seeds(workdir: Path) -> dict[str, list[Path]]:
    """Seed files written by a separate process (zarr and h5py keep state a fork would copy)."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[2]);"
            "from tests.io.fuzz_inputs import make_seeds;"
            "print(json.dumps({k: [str(p) for p in v] "
            "for k, v in make_seeds(sys.argv[1]).items()}))")
    out = subprocess.run([sys.executable, "-c", code, str(workdir), str(ROOT)], check=True,
                         capture_output=True, text=True).stdout
    return {k: [Path(p) for p in v] for k, v in json.loads(out.splitlines()[-1]).items()}


def _child(entry: Path, limit: int, wfd: int) -> None:
    """Runs in the forked child: limit the address space, exercise the case, report JSON."""
    import logging

    logging.disable(logging.CRITICAL)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        result = exercise(entry)
        code = 0
    except BaseException as exc:  # noqa: BLE001 - reported, not raised
        result, code = {"exercise": f"{type(exc).__name__}: {exc}"[:300]}, 3
    os.write(wfd, json.dumps(result).encode()[:60000])
    os._exit(code)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=5000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", default="0")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--limit-gb", type=float, default=3.0)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--keep", type=Path, help="folder for failing cases (default: none kept)")
    args = ap.parse_args(argv)

    # everything a case needs is imported before the first fork, none of it run
    import dask.array  # noqa: F401
    import h5py  # noqa: F401
    import scipy.io  # noqa: F401
    import spectral.io.envi  # noqa: F401
    import tifffile  # noqa: F401
    import zarr  # noqa: F401
    from PIL import Image  # noqa: F401

    import napari_ssdgl._napari._reader  # noqa: F401
    import napari_ssdgl.io.lazy  # noqa: F401

    limit = int(args.limit_gb * 2**30)
    work = Path(tempfile.mkdtemp(prefix="fuzz_readers_"))
    seeds = _seeds(work / "seeds")
    start = time.time()
    counts = {"formats": Counter(), "mutations": Counter(), "seeds": Counter()}
    outcomes: dict[str, Counter] = {}
    bad: list[dict] = []
    hangs: list[dict] = []
    crashes: list[dict] = []
    rss_mb: list[float] = []
    running: dict[int, tuple] = {}

    def finish(pid: int, status: int, usage) -> None:
        i, case, rfd, t0, info = running.pop(pid)
        data = b""
        while chunk := os.read(rfd, 65536):
            data += chunk
        os.close(rfd)
        mb = usage.ru_maxrss / 1024
        rss_mb.append(mb)
        info["seconds"] = round(time.time() - t0, 3)
        info["max_rss_mb"] = round(mb, 1)
        keep = False
        if info.get("hang"):
            hangs.append(info)
            keep = True
        elif os.WIFSIGNALED(status):
            info["signal"] = signal.Signals(os.WTERMSIG(status)).name
            crashes.append(info)
            keep = True
        else:
            result = json.loads(data or b"{}")
            for call, outcome in result.items():
                outcomes.setdefault(call, Counter())[outcome.split(":")[0]] += 1
            wrong = failures(result)
            if wrong or not result:
                bad.append({**info, "failed": wrong or {"exercise": "no result"}})
                keep = True
        if mb > RSS_BAR_MB:
            keep = True
        if keep and args.keep:
            dest = args.keep / f"case{i:05d}"
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(case, dest)
            (dest / "case.json").write_text(json.dumps(info, indent=1))
        shutil.rmtree(case, ignore_errors=True)

    def reap(block: bool) -> None:
        while running:
            for pid in list(running):
                got, status, usage = os.wait4(pid, os.WNOHANG)
                if got:
                    finish(pid, status, usage)
                    if not block:
                        return
                elif time.time() - running[pid][3] > args.timeout:
                    os.kill(pid, signal.SIGKILL)
                    running[pid][4]["hang"] = True
                    _, status, usage = os.wait4(pid, 0)
                    finish(pid, status, usage)
                    if not block:
                        return
            time.sleep(0.005)

    for i in range(args.cases):
        fmt = FORMATS[i % len(FORMATS)]
        mutation = MUTATIONS[(i // len(FORMATS)) % len(MUTATIONS)]
        rng = random.Random(f"{args.seed}-{i}")
        seed = rng.choice(seeds[fmt])
        case = work / "cases" / f"{i:05d}"
        entry, what = make_case(seed, work / "seeds", case, mutation, rng)
        info = {"case": i, "format": fmt, "seed": seed.parent.name, "mutation": what}
        counts["formats"][fmt] += 1
        counts["mutations"][mutation] += 1
        counts["seeds"][f"{fmt}/{seed.parent.name}"] += 1
        while len(running) >= args.jobs:
            reap(block=False)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            _child(entry, limit, wfd)
        os.close(wfd)
        running[pid] = (i, case, rfd, time.time(), info)
    reap(block=True)
    shutil.rmtree(work, ignore_errors=True)

    import dask
    import numpy
    import scipy

    summary = {
        "cases": args.cases,
        "per_format": dict(counts["formats"]),
        "per_mutation": dict(counts["mutations"]),
        "per_seed": dict(sorted(counts["seeds"].items())),
        "outcomes": {k: dict(v) for k, v in sorted(outcomes.items())},
        "failures": len(bad),
        "failure_types": dict(Counter(f"{c}: {v.split(':')[0]}" for b in bad
                                      for c, v in b["failed"].items())),
        "failed_cases": bad[:50],
        "hangs": len(hangs),
        "hung_cases": hangs[:50],
        "crashes": len(crashes),
        "crashed_cases": crashes[:50],
        "max_rss_mb": round(max(rss_mb, default=0), 1),
        "over_2gb": sum(mb > RSS_BAR_MB for mb in rss_mb),
        "limits": {"address_space_gb": args.limit_gb, "timeout_s": args.timeout,
                   "jobs": args.jobs, "seed": args.seed},
        "seconds": round(time.time() - start, 1),
        "versions": {"python": sys.version.split()[0], "numpy": numpy.__version__,
                     "scipy": scipy.__version__, "dask": dask.__version__,
                     "h5py": h5py.__version__, "tifffile": tifffile.__version__,
                     "zarr": zarr.__version__},
    }
    text = json.dumps(summary, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    ok = not (bad or hangs or crashes or summary["over_2gb"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
