#!/usr/bin/env bash
# The GPU checks in one short run on the device machine (its python3 holds torch, but neither
# dask, zarr nor napari: nothing here needs them).
#  1. The CUDA-only tests (tests/training/test_cuda_graph.py: the whole-scene and windowed CUDA
#     graphs against eager steps).
#  2. Issue 17's GPU figure: big_scene.py's Indian Pines mosaic at 160 and 2048 px, written as a
#     memory-mapped .npy under /tmp, default TrainConfig (window 160 px, 1 window per batch,
#     AMP, CUDA graph), ITERS iterations, s/iteration after the first (bar: 2048 px within 1.5x
#     of 160 px).
#  3. With SPEED=1, issue 7's figures: speed.py on CUDA (dense reference, fast path with CUDA
#     graph, the same op by op, fast path + torch.compile), Indian Pines 5 %, seed 2333.
#
#   DATA=.gpudata OUT=$OUT bash benchmarks/gpu_check.sh
#
# DATA holds Indian_pines_corrected.npy and Indian_pines_gt.npy (from the tensorly wheel:
# tensorly/datasets/data/); on the device machine carry that folder along. The mosaic takes
# 3.3 GB of /tmp. Simulated here (CPU, those packages hidden): see benchmarks/README.md.
set -u
DATA=${DATA:-.gpudata}
OUT=${OUT:-benchmarks/out}
ITERS=${ITERS:-60}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu: a dry run of steps 1-2 on a machine without a GPU
PY=${PY:-python3}  # the device image's python3 holds torch
WORK=${WORK:-/tmp/ssdgl_big}
mkdir -p "$OUT" "$WORK"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
t0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
CUDA_VISIBLE_DEVICES=0 "$PY" -m pytest -q -p no:cacheprovider tests/training/test_cuda_graph.py \
    > "$OUT/cuda_tests.log" 2>&1
echo "cuda tests rc=$? ($(( $(date +%s) - t0 )) s)"; tail -3 "$OUT/cuda_tests.log"
"$PY" benchmarks/big_scene.py --sizes 160,2048 --iterations "$ITERS" --device "$DEVICE" --store npy \
    --source-cube "$DATA/Indian_pines_corrected.npy" --source-labels "$DATA/Indian_pines_gt.npy" \
    --work "$WORK" > "$OUT/big_scene_cuda.json" 2> "$OUT/big_scene_cuda.err"
echo "big_scene.py rc=$? ($(( $(date +%s) - t0 )) s)"
grep -v -i warn "$OUT/big_scene_cuda.err" | tail -4
"$PY" - "$OUT/big_scene_cuda.json" <<'PY'
import json, sys

try:
    runs = json.load(open(sys.argv[1]))
except (OSError, ValueError) as exc:
    sys.exit(f"no big_scene results: {exc}")
base = runs[0]["s_per_iteration"]
for r in runs:
    print(f"{r['size']:5d} px {'windows' if r['windowed'] else 'whole'}: "
          f"{r['s_per_iteration']:.4f} s/it ({r['s_per_iteration'] / base:.2f}x), "
          f"RSS {r['train_peak_rss_mb']:.0f} MB, GPU {r.get('peak_gpu_mb', 0):.0f} MB, "
          f"{r.get('device_name')}, torch {r['torch']}, warnings {r['warnings']}")
PY
[ "${SPEED:-0}" = 1 ] || exit 0
"$PY" benchmarks/speed.py --device cuda --paths reference,fast,fast-eager,compiled \
    --cube "$DATA/Indian_pines_corrected.npy" --labels "$DATA/Indian_pines_gt.npy" \
    --out "$OUT/speed_cuda_5pct_2333.json" > /dev/null 2> "$OUT/speed_cuda.err"
echo "speed.py rc=$? ($(( $(date +%s) - t0 )) s)"
grep -v -i warn "$OUT/speed_cuda.err" | tail -4
"$PY" - "$OUT/speed_cuda_5pct_2333.json" <<'PY'
import json, sys

d = json.load(open(sys.argv[1]))
print(d.get("device_name"), d.get("torch_version"))
for name, r in d["results"].items():
    print(f"{name:9s} train {r['train_seconds']:6.1f} s  median {r['seconds_per_iteration_median']:.4f}"
          f" s/it  first it {r['first_iteration_seconds']:.1f} s  to 97/97.5 % {r['seconds_to_oa']}"
          f"  final OA {r['final_oa']:.4f}  inference {r['inference_seconds']:.4f} s")
PY
