"""Orthorectifying an EMIT granule: in memory (``read_emit(orthorectify=True)``) against
streamed (``napari-ssdgl convert GRANULE.nc OUT.zarr --orthorectify``, ``lazy.GLTSource``).

    python benchmarks/emit_orthorectify.py [--rows 1242] [--cols 1280] [--bands 285]
        [--angle 12] [--work DIR]

Builds a synthetic granule of a real one's size and structure in DIR (``tests/io/products``'
layout, written row block by row block, never whole): reflectance (downtrack, crosstrack,
bands) float32, and a GLT of a swath rotated by ``--angle`` degrees on its map grid (nearest
swath pixel per grid cell, cells off the swath empty), as an orbit's lookup table is. Then each
way runs in a fresh process; prints one JSON line per way: seconds, the process's peak RSS, the
grid's shape, and whether the streamed zarr equals the in-memory grid (compared in a third
process). No data are committed; DIR is deleted unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

MEASURE = r"""
import json, resource, sys, time
way, granule, out = sys.argv[1:4]
t = time.perf_counter()
if way == "in memory":
    from napari_ssdgl.io.emit import read_emit
    shape = read_emit(granule, orthorectify=True)[0].data.shape
else:
    from napari_ssdgl.workflows.convert import convert
    from napari_ssdgl.io.zarr_store import open_zarr_cube
    convert(granule, out, orthorectify=True, scheduler="threads")
    shape = open_zarr_cube(out).data.shape
print(json.dumps({"way": way, "seconds": round(time.perf_counter() - t, 1),
                  "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                       / 2**20, 2), "grid": list(shape)}))
"""

COMPARE = r"""
import sys, numpy as np
from napari_ssdgl.io.emit import read_emit
from napari_ssdgl.io.zarr_store import open_zarr_cube
granule, out = sys.argv[1:3]
grid, streamed = read_emit(granule, orthorectify=True)[0].data, open_zarr_cube(out).data
same = streamed.shape == grid.shape and all(
    np.array_equal(grid[:, i:i + 512], np.asarray(streamed[:, i:i + 512]), equal_nan=True)
    for i in range(0, grid.shape[1], 512))
print("true" if same else "false")
"""

WKT_4326 = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
            'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]')


def rotated_glt(rows: int, cols: int, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """(glt_x, glt_y), 1-based, 0 off the swath: the map grid of a swath rotated by
    ``angle`` degrees, each cell taking its nearest swath pixel."""
    a = math.radians(angle)
    c, s = math.cos(a), math.sin(a)
    grid_rows = int(math.ceil(rows * c + cols * s))
    grid_cols = int(math.ceil(cols * c + rows * s))
    i, j = np.meshgrid(np.arange(grid_rows) - grid_rows / 2, np.arange(grid_cols) - grid_cols / 2,
                       indexing="ij")
    y = np.rint(i * c + j * s + rows / 2).astype(np.int64)
    x = np.rint(-i * s + j * c + cols / 2).astype(np.int64)
    inside = (y >= 0) & (y < rows) & (x >= 0) & (x < cols)
    return (np.where(inside, x + 1, 0).astype(np.int32),
            np.where(inside, y + 1, 0).astype(np.int32))


def write_granule(path: Path, rows: int, cols: int, bands: int, angle: float) -> None:
    import h5py

    rng = np.random.default_rng(0)
    glt_x, glt_y = rotated_glt(rows, cols, angle)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("reflectance", shape=(rows, cols, bands), dtype="f4")
        ds.attrs["_FillValue"] = np.float32(-9999.0)
        for r in range(0, rows, 64):
            n = min(64, rows - r)
            ds[r:r + n] = rng.random((n, cols, bands), dtype=np.float32)
        f.attrs["geotransform"] = np.array([-120.5, 0.000542, 0.0, 36.25, 0.0, -0.000542])
        f.attrs["spatial_ref"] = WKT_4326
        g = f.create_group("sensor_band_parameters")
        g["wavelengths"] = np.linspace(381.0, 2493.0, bands).astype(np.float32)
        g["fwhm"] = np.full(bands, 8.5, np.float32)
        g["good_wavelengths"] = np.ones(bands, np.uint8)
        loc = f.create_group("location")
        loc["glt_x"], loc["glt_y"] = glt_x, glt_y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1242)
    ap.add_argument("--cols", type=int, default=1280)
    ap.add_argument("--bands", type=int, default=285)
    ap.add_argument("--angle", type=float, default=12.0)
    ap.add_argument("--work", default=None, help="folder for the granule (default: a temp dir)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="emit_ortho_"))
    work.mkdir(parents=True, exist_ok=True)
    granule, out = work / "EMIT_L2A_RFL_synthetic.nc", work / "grid.zarr"
    try:
        write_granule(granule, args.rows, args.cols, args.bands, args.angle)
        root = str(Path(__file__).resolve().parents[1])
        for way in ("in memory", "streamed"):
            shutil.rmtree(out, ignore_errors=True)
            line = subprocess.run([sys.executable, "-c", MEASURE, way, str(granule), str(out)],
                                  check=True, capture_output=True, text=True, cwd=root).stdout
            result = json.loads(line.strip().splitlines()[-1])
            if way == "streamed":
                result["equals_in_memory_grid"] = subprocess.run(
                    [sys.executable, "-c", COMPARE, str(granule), str(out)], check=True,
                    capture_output=True, text=True, cwd=root).stdout.strip() == "true"
            print(json.dumps({"swath": [args.rows, args.cols, args.bands],
                              "angle": args.angle, **result}), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
