"""Reproduce a paper protocol over several seeds: per-seed metrics, then mean ± std.

Each seed draws its own train/test split and initialises its own model with that seed; the
reported model is the LAST one (no checkpoint is chosen by its test score, which would make the
score optimistic), and the test labels are given to the trainer only when a test-OA curve is
asked for (``eval_every``), never to the loss. Layout of ``out_dir``::

    seed_<s>/                 a run folder (:mod:`~napari_ssdgl.workflows.rundir`, as ``train``
                              writes): metrics.json, history.json, class_map.npy; model/ with
                              ``save_models``, report.png with ``report``
    summary.json, summary.md  mean ± std over the seeds (rewritten after every seed)

Standard deviations are population ones (numpy ``ddof=0``) over the seeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_ssdgl.io import Cube, LabelMap
from napari_ssdgl.io.atomic import atomic_output
from napari_ssdgl.io.jsonio import write_json
from napari_ssdgl.workflows.outputs import Output
from napari_ssdgl.workflows.progress import History, progress_bar, train_with_progress
from napari_ssdgl.workflows.protocols import Protocol
from napari_ssdgl.workflows.rundir import run_metrics, run_outputs, write_run

__all__ = ["ReproduceError", "SceneData", "SeedRun", "load_scene_data", "markdown_summary",
           "reproduce", "reproduce_outputs", "run_seed", "summarize"]

STD_DDOF = 0


class ReproduceError(ValueError):
    """A scene that cannot be loaded for a protocol run (the message says what to do)."""


@dataclass
class SceneData:
    """A cube and its full ground truth; ``key`` is the sample-scene key (None for files)."""

    key: str | None
    title: str
    cube: Cube
    gt: LabelMap


@dataclass
class SeedRun:
    """One seed's outcome; ``metrics`` is what ``seed_<s>/metrics.json`` holds."""

    metrics: dict
    history: History
    classifier: object  # napari_ssdgl.prediction.classifier.Classifier
    prediction: np.ndarray
    train: np.ndarray
    test: np.ndarray


def load_scene_data(scene: str, ground_truth: str | None = None,
                    protocol: Protocol | None = None) -> SceneData:
    """A sample scene by key, or a cube file plus a ground-truth file.

    Scenes whose data need registration (Houston 2013) must come as files; their class names
    and colours are then taken from the registry when the ground-truth file has none.
    """
    from napari_ssdgl.datasets import DatasetError, load_scene, scene_info
    from napari_ssdgl.io import read_cube, read_labels

    if ground_truth is None:
        try:
            info = scene_info(scene)
        except DatasetError as exc:
            raise ReproduceError(f"{exc} Or give a cube file and a ground-truth file.") from None
        if "user_files" in info:
            raise ReproduceError(f"{scene}: {info['user_files']['note']}")
        try:
            s = load_scene(scene)
        except DatasetError as exc:
            raise ReproduceError(str(exc)) from None
        return SceneData(scene, s.title, s.cube, s.gt)
    cube, gt = read_cube(scene), read_labels(ground_truth)
    if protocol is not None and not gt.class_names:
        gt.class_names, gt.colors = _registry_classes(protocol.scene, gt.data)
    return SceneData(None, Path(scene).stem, cube, gt)


def _registry_classes(scene: str, gt: np.ndarray) -> tuple[dict, dict]:
    from napari_ssdgl.datasets import DatasetError, scene_info

    try:
        info = scene_info(scene)
    except DatasetError:
        return {}, {}
    names, colors = info["class_names"], info["colors"]
    if int(gt.max()) > len(names):
        return {}, {}
    return ({i + 1: n for i, n in enumerate(names)}, {i + 1: c for i, c in enumerate(colors)})



def run_seed(data: SceneData, protocol: Protocol, seed: int, *, model: str = "ssdgl",
             iterations: int | None = None, device: str = "auto", amp: bool = True,
             eval_every: int = 0, model_kwargs: dict | None = None, quiet: bool = False,
             position: int | None = None, paper_draw: bool = False,
             augment: bool = False, tta: bool = False) -> SeedRun:
    """Split, train (keeping the last model), predict and score one seed of ``protocol``
    (``paper_draw``: the paper's per-class draw instead of the engine's default; ``tta``:
    the final map is the mean over the 8 flips/transposes)."""
    from napari_ssdgl.training import Trainer

    gt = data.gt.data
    train, test = protocol.split_labels(gt, seed)
    overrides = {"model": model, "seed": seed, "device": device, "amp": amp,
                 "eval_every": eval_every, "augment": augment,
                 "model_kwargs": {**protocol.model_kwargs, **(model_kwargs or {})}}
    if iterations is not None:
        overrides["iterations"] = iterations
    config = protocol.train_config(paper_draw, **overrides)
    trainer = Trainer(data.cube.data, train, config, test_labels=test if eval_every else None,
                      class_names=data.gt.class_names, colors=data.gt.colors,
                      wavelengths=data.cube.wavelengths)
    history, train_s = train_with_progress(trainer, quiet=quiet, desc=f"seed {seed}",
                                           leave=position is None, position=position)
    clf = trainer.result()
    start = time.perf_counter()
    pred = clf.predict(data.cube.data, device=trainer.device, tta=tta).labels.astype(gt.dtype)
    infer_s = time.perf_counter() - start
    m = run_metrics(trainer, clf, pred, test, train_seconds=train_s, inference_seconds=infer_s,
                    tta=tta, scene=data.key or data.title, protocol=protocol.key)
    clf.metrics = m
    return SeedRun(m, history, clf, pred, train, test)


def _stats(values: list[float]) -> dict:
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=STD_DDOF)),
            "values": [float(v) for v in arr]}


def summarize(runs: list[dict], protocol: Protocol, *, title: str,
              class_names: dict | None = None, total_seconds: float | None = None) -> dict:
    """Mean ± std over per-seed metrics dicts (as written to ``seed_<s>/metrics.json``)."""
    names = {str(k): v for k, v in (class_names or {}).items()}
    classes = sorted({k for r in runs for k in r["per_class"]}, key=int)
    first = runs[0]
    return {
        "scene": first["scene"], "title": title, "protocol": protocol.to_dict(),
        "model": first["model"], "preset": first["preset"],
        "per_class_draw": first.get("per_class_draw"), "augment": first.get("augment", False),
        "tta": first.get("tta", False), "members": first.get("members", 1),
        "iterations": first["iterations_requested"], "seeds": [r["seed"] for r in runs],
        "n_runs": len(runs), "model_selection": "last model (no checkpoint chosen on test data)",
        "std": f"population standard deviation over seeds (ddof={STD_DDOF})",
        "oa": _stats([r["oa"] for r in runs]), "aa": _stats([r["aa"] for r in runs]),
        "kappa": _stats([r["kappa"] for r in runs]),
        "per_class": {k: {"name": names.get(k, ""),
                          **_stats([r["per_class"][k] for r in runs if k in r["per_class"]])}
                      for k in classes},
        "train_pixels": _stats([r["train_pixels"] for r in runs]),
        "seconds_per_iteration": _stats([r["seconds_per_iteration"] for r in runs]),
        "train_seconds": sum(r["train_seconds"] for r in runs),
        "total_seconds": total_seconds, "device": first["device"],
        "device_name": first["device_name"], "torch_version": first["torch_version"],
        "napari_ssdgl_version": first["napari_ssdgl_version"],
    }


def _draw(per_class: int | None) -> str:
    return "every training pixel" if not per_class else f"up to {per_class} pixels per class"


def _ensemble(members: int) -> str:
    return f"the mean of {members} networks trained from different random starts, " \
        if members > 1 else ""


def _pm(stat: dict, scale: float = 100.0, digits: int = 2) -> str:
    return f"{scale * stat['mean']:.{digits}f} ± {scale * stat['std']:.{digits}f}"


def markdown_summary(s: dict) -> str:
    """The summary as a Markdown section: one row per metric, one column per seed."""
    p = s["protocol"]
    seeds = s["seeds"]
    head = "| metric | mean ± std | " + " | ".join(f"seed {x}" for x in seeds) + " |"
    rule = "|---|---|" + "---|" * len(seeds)

    def row(label: str, stat: dict, scale: float = 100.0, digits: int = 2) -> str:
        cells = " | ".join(f"{scale * v:.{digits}f}" for v in stat["values"])
        return f"| {label} | {_pm(stat, scale, digits)} | {cells} |"

    rows = [row("OA (%)", s["oa"]), row("AA (%)", s["aa"]), row("kappa × 100", s["kappa"])]
    for value, stat in s["per_class"].items():
        if len(stat["values"]) == len(seeds):
            rows.append(row(f"{value} {stat['name']} (%)".replace("  ", " "), stat))
    rows.append(row("s / iteration", s["seconds_per_iteration"], 1.0, 4))
    total = s["total_seconds"]
    return "\n".join([
        f"## {s['title']}: {p['key']} ({s['model']}, {len(seeds)} seed"
        f"{'s' if len(seeds) != 1 else ''})",
        "",
        f"{p['description']}. Preset {s['preset'] or 'none'}, lr {p['lr']}, power {p['power']}, "
        f"draw {_draw(s['per_class_draw'])}{', flips' if s['augment'] else ''}, "
        f"{'predicted over the 8 flips/transposes, ' if s.get('tta') else ''}"
        f"{_ensemble(s.get('members', 1))}"
        f"{s['iterations']} iterations. "
        f"Reported: the {s['model_selection']}; ± is the {s['std']}.",
        "",
        head, rule, *rows,
        "",
        f"Device: {s['device']} ({s['device_name']}); torch {s['torch_version']}; "
        f"napari-ssdgl {s['napari_ssdgl_version']}. Training time {s['train_seconds']:.1f} s"
        + ("" if total is None else f", total time {total:.1f} s") + ".",
        "",
    ])


SUMMARY_JSON, SUMMARY_MD = "summary.json", "summary.md"


def reproduce_outputs(out_dir: str | Path, seeds: list[int], *, save_models: bool = False,
                      report: bool = False) -> list[Output]:
    """Everything :func:`reproduce` writes in ``out_dir`` (a run folder per seed, the summary),
    for :func:`~napari_ssdgl.workflows.outputs.check_outputs` before the first seed starts."""
    out = Path(out_dir)
    runs = [o for seed in seeds
            for o in run_outputs(out / f"seed_{seed}", save_model=save_models, report=report)]
    return [Output(out, "container"), *runs, Output(out / SUMMARY_JSON),
            Output(out / SUMMARY_MD)]


def reproduce(data: SceneData, protocol: Protocol, seeds: list[int], out_dir: str | Path, *,
              save_models: bool = False, report: bool = False, quiet: bool = False,
              **run_options) -> dict:
    """Run every seed (``run_options`` go to :func:`run_seed`), write the files listed in the
    module docstring, and return the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    runs: list[dict] = []
    summary: dict = {}
    for seed in progress_bar(seeds, quiet=quiet or len(seeds) < 2, desc="seeds", unit="seed",
                             position=0):
        run = run_seed(data, protocol, seed, quiet=quiet,
                       position=1 if len(seeds) > 1 else None, **run_options)
        write_run(out / f"seed_{seed}", run.classifier, run.prediction, run.metrics,
                  run.history, save_model=save_models, geo=data.cube.geo,
                  class_names=data.gt.class_names, colors=data.gt.colors,
                  report_truth=data.gt.data if report else None,
                  report_title=f"{data.title}: {protocol.key}, seed {seed}")
        runs.append(run.metrics)
        summary = summarize(runs, protocol, title=data.title, class_names=data.gt.class_names,
                            total_seconds=time.perf_counter() - start)
        with atomic_output(out / SUMMARY_JSON, overwrite=True) as tmp:
            write_json(tmp, summary)
        with atomic_output(out / SUMMARY_MD, overwrite=True) as tmp:
            tmp.write_text(markdown_summary(summary), encoding="utf-8")
    return summary
