#!/usr/bin/env bash
# Issue 7's GPU figures in one short run on the device machine: Indian Pines 5 %, seed 2333,
# 600 iterations, speed.py's dense reference, fast path (AMP, CUDA graph), the same launched op by
# op (fast-eager) and fast path + torch.compile, one after the other in one process. The bar: the
# fast path's training time < 20 s on an H100. Then the CUDA-only tests (tests/training/test_cuda_graph.py).
#
#   DATA=.gpudata OUT=benchmarks/out bash benchmarks/gpu_check.sh
#
# DATA holds Indian_pines_corrected.npy and Indian_pines_gt.npy (from the tensorly wheel:
# tensorly/datasets/data/); on the device machine carry that folder along.
set -u
DATA=${DATA:-.gpudata}
OUT=${OUT:-benchmarks/out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 benchmarks/speed.py --device cuda --paths reference,fast,fast-eager,compiled \
    --cube "$DATA/Indian_pines_corrected.npy" --labels "$DATA/Indian_pines_gt.npy" \
    --out "$OUT/speed_cuda_5pct_2333.json" > /dev/null 2> "$OUT/speed_cuda.err"
echo "speed.py rc=$?"
grep -v -i warn "$OUT/speed_cuda.err" | tail -4
python3 - "$OUT/speed_cuda_5pct_2333.json" <<'PY'
import json, sys

d = json.load(open(sys.argv[1]))
print(d.get("device_name"), d.get("torch_version"))
for name, r in d["results"].items():
    print(f"{name:9s} train {r['train_seconds']:6.1f} s  median {r['seconds_per_iteration_median']:.4f}"
          f" s/it  first it {r['first_iteration_seconds']:.1f} s  to 97/97.5 % {r['seconds_to_oa']}"
          f"  final OA {r['final_oa']:.4f}  inference {r['inference_seconds']:.4f} s")
PY
CUDA_VISIBLE_DEVICES=0 python3 -m pytest -q -p no:cacheprovider tests/training/test_cuda_graph.py 2>&1 | tail -3
