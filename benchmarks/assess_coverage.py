"""Coverage of the stratified accuracy/area intervals on Indian Pines; prints JSON.

    python benchmarks/assess_coverage.py [--reps 200] [--target-se 0.01] [--min-per-class 50]
                                         [--anticipated-ua 0.85] [--seed 0] [--out FILE.json]

The map: the live per-pixel MLP (``training.live``, the dock's Live mode: seconds on a CPU) fit
on a 5 % split of the ground truth (``split_by_fraction``, seed ``--seed``), predicted over the
scene. The population: only the pixels with a ground-truth label that are not training pixels
(the true values are known exactly there; the other pixels have no reference). Each repetition
draws a stratified sample of the proposed size (``propose_sample``: map classes as strata, size
from the target SE of OA, proportional allocation with the floor, seed = repetition), takes the
ground truth at its points as the reference, runs ``stratified_estimates``, and checks whether
the 95 % intervals of OA, of each class's area (and of user's and producer's accuracy) contain
the population's true values. Coverage counts only what the bar counts: OA and the area of
every class whose stratum gets at least the minimum sample; the others are listed too.
``--pseudo-count A`` runs the estimator with its variance floor (see
``stratified_estimates``) instead of Stehman's plain variance.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from napari_ssdgl.analysis.accuracy_area import stratified_estimates
from napari_ssdgl.analysis.sample_design import DEFAULT_ANTICIPATED_UA, propose_sample
from napari_ssdgl.datasets import load_scene
from napari_ssdgl.training import split_by_fraction
from napari_ssdgl.training.live import fit_pixels


def make_map(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(class map, ground truth, training mask, fit seconds) of the live MLP at 5 %."""
    scene = load_scene("indian_pines")
    gt = np.asarray(scene.gt.data).astype(np.int64)
    train, _ = split_by_fraction(gt, 0.05, seed=seed)
    start = time.perf_counter()
    clf = fit_pixels(scene.cube.data, train, seed=seed)
    labels = np.asarray(clf.predict(scene.cube.data).labels).astype(np.int64)
    return labels, gt, train > 0, time.perf_counter() - start


def run(reps: int, target_se: float, min_per_class: int, anticipated_ua: float,
        seed: int, pseudo_count: float = 0.0) -> dict:
    cmap, gt, train, fit_s = make_map(seed)
    population = (gt > 0) & ~train
    frame_map = np.where(population, cmap, 0)
    classes = sorted(set(np.unique(gt[population]).tolist()) | set(np.unique(
        frame_map[population]).tolist()))
    n_pop = int(population.sum())
    true_oa = float((cmap[population] == gt[population]).mean())
    true_area = {c: int((gt[population] == c).sum()) for c in classes}
    true_ua = {c: float((gt[population & (cmap == c)] == c).mean()) if
               np.any(population & (cmap == c)) else float("nan") for c in classes}
    true_pa = {c: float((cmap[population & (gt == c)] == c).mean()) for c in classes}

    hits = {"oa": 0, **{f"area_{c}": 0 for c in classes}, **{f"ua_{c}": 0 for c in classes},
            **{f"pa_{c}": 0 for c in classes}}
    seen = dict.fromkeys(hits, 0)
    design = None
    start = time.perf_counter()
    for rep in range(reps):
        design = propose_sample(frame_map, target_se=target_se, min_per_class=min_per_class,
                                anticipated_ua=anticipated_ua, seed=rep)
        ref = gt[design.rows, design.cols]
        est = stratified_estimates(design.strata, design.strata, ref, design.stratum_sizes,
                                   classes=classes, pseudo_count=pseudo_count)
        checks = [("oa", est.oa, est.oa_se, true_oa, 1.0)]
        for c in est.classes:
            v = c.value
            checks += [(f"area_{v}", c.area_pixels, c.area_pixels_se, true_area[v], n_pop),
                       (f"ua_{v}", c.users, c.users_se, true_ua[v], 1.0),
                       (f"pa_{v}", c.producers, c.producers_se, true_pa[v], 1.0)]
        for key, value, se, truth, upper in checks:
            if not (np.isfinite(value) and np.isfinite(se) and np.isfinite(truth)):
                continue
            low, high = est.interval(value, se, upper)
            seen[key] += 1
            hits[key] += int(low - 1e-9 <= truth <= high + 1e-9)
    seconds = time.perf_counter() - start
    coverage = {k: hits[k] / seen[k] for k in hits if seen[k]}
    assert design is not None
    alloc = design.allocation
    floor_ok = [c for c in classes if alloc.get(c, 0) >= min_per_class]
    bar_keys = ["oa", *(f"area_{c}" for c in floor_ok)]
    bar = {k: coverage[k] for k in bar_keys}
    return {
        "scene": "indian_pines", "map": "live MLP (training.live.fit_pixels) on a 5 % split",
        "map_fit_and_predict_seconds": round(fit_s, 2), "seed": seed,
        "population": "ground-truth pixels that are not training pixels",
        "population_pixels": n_pop, "training_pixels_excluded": int(train.sum()),
        "reps": reps, "pseudo_count": pseudo_count, "target_se": target_se,
        "min_per_class": min_per_class,
        "anticipated_ua": anticipated_ua, "sample_size": design.size,
        "requested_size": design.requested, "expected_se_oa": design.expected_se,
        "allocation": alloc, "stratum_sizes": design.stratum_sizes,
        "true_oa": true_oa, "true_area_pixels": true_area,
        "coverage": coverage, "coverage_bar": bar,
        "bar_classes": floor_ok,
        "below_floor_classes": [c for c in classes if c not in floor_ok],
        "bar_min": min(bar.values()), "bar_max": max(bar.values()),
        "bar_met": all(0.90 <= v <= 0.98 for v in bar.values()),
        "estimate_seconds_total": round(seconds, 2),
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--target-se", type=float, default=0.01)
    p.add_argument("--min-per-class", type=int, default=50)
    p.add_argument("--anticipated-ua", type=float, default=DEFAULT_ANTICIPATED_UA)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pseudo-count", type=float, default=0.0,
                   help="stratified_estimates' variance floor (0: Stehman's variance)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    result = run(args.reps, args.target_se, args.min_per_class, args.anticipated_ua, args.seed,
                 args.pseudo_count)
    text = json.dumps(result, indent=2, default=float)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0 if result["bar_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
