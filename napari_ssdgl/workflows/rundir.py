"""The run folder: what ``train``, ``demo`` and every ``reproduce`` seed write, in one layout.

One layout so a person, a script or ``predict`` finds the same file under the same name
whichever command made the run::

    OUT/model/           the classifier (model.safetensors + model.json); ``reproduce`` keeps
                         it only with --save-models. ``predict OUT`` reads it (load_classifier
                         takes a run folder)
    OUT/metrics.json     run_metrics(): OA, AA, kappa, per class, confusion, split, settings,
                         timings, device, versions
    OUT/history.json     loss, learning rate and train accuracy per iteration; test OA where
                         it was scored
    OUT/class_map.npy    the predicted label map; class_map.tif/.hdr/.png too where asked for
                         (``demo``: .tif and .png with a legend)
    OUT/report.png       where asked for: map beside ground truth, confusion, training curve

``reproduce`` writes one such folder per seed (``OUT/seed_<s>/``) and its summary beside them.
``metrics.json`` is removed first and written last, and every file and ``model/`` appear under
their names only when complete (a temporary name, then a rename): a folder with a
``metrics.json`` holds a finished run. :func:`write_run` replaces what it writes; the commands
check :func:`run_outputs` before they start and refuse to replace without ``--overwrite``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from napari_ssdgl import __version__
from napari_ssdgl.analysis.metrics import classification_metrics
from napari_ssdgl.analysis.reports import write_report
from napari_ssdgl.device import device_name
from napari_ssdgl.io.atomic import atomic_output
from napari_ssdgl.io.exports import class_map_files, export_class_map
from napari_ssdgl.io.jsonio import write_json
from napari_ssdgl.prediction.classifier import Classifier
from napari_ssdgl.prediction.modelfile import RUN_MODEL_DIR, SIDECAR, WEIGHTS, save_classifier
from napari_ssdgl.training import Trainer
from napari_ssdgl.workflows.outputs import Output
from napari_ssdgl.workflows.progress import History

__all__ = ["CLASS_MAP", "HISTORY", "METRICS", "MODEL", "REPORT", "run_metrics", "run_outputs",
           "write_run"]

MODEL = RUN_MODEL_DIR
METRICS = "metrics.json"
HISTORY = "history.json"
CLASS_MAP = "class_map"  # + "." + format
REPORT = "report.png"


def run_metrics(trainer: Trainer, classifier: Classifier, class_map: np.ndarray,
                test_labels: np.ndarray | None, *, train_seconds: float,
                inference_seconds: float, tta: bool, **context) -> dict:
    """What ``metrics.json`` holds: the scores of ``class_map`` on ``test_labels`` with the
    training pixels left out (None without a test set), then ``context`` as given (the split,
    the scene and protocol), then how it was trained, timings, device and versions.

    One builder so ``train`` and every ``reproduce`` seed record the same keys alike."""
    cfg, train = trainer.config, trainer.train_labels
    m: dict = {"oa": None, "aa": None, "kappa": None, "per_class": {}, "confusion": []}
    if test_labels is not None:
        m.update(classification_metrics(class_map, test_labels, exclude=train > 0,
                                        class_values=classifier.class_values))
    m["per_class"] = {str(k): v for k, v in m["per_class"].items()}
    m.update(context)
    m.update({
        "train_pixels": int((train > 0).sum()),
        "test_pixels": 0 if test_labels is None else int(((test_labels > 0) & (train == 0)).sum()),
        "iterations": trainer.iterations_done, "iterations_requested": cfg.iterations,
        "best_iteration": trainer.best_metrics.get("iteration"),
        "seconds_per_iteration": train_seconds / max(1, trainer.iterations_done),
        "train_seconds": train_seconds, "inference_seconds": inference_seconds,
        "seed": cfg.seed, "model": classifier.model_name,
        "model_config": classifier.model_config, "preset": cfg.preset, "lr": cfg.lr,
        "power": cfg.power, "per_class_draw": cfg.per_class, "keep": cfg.keep,
        "augment": cfg.augment, "tta": tta, "members": classifier.model_config.get("members", 1),
        "device": str(trainer.device), "device_name": device_name(trainer.device),
        "torch_version": torch.__version__, "napari_ssdgl_version": __version__,
    })
    return m


def run_outputs(out: str | Path, *, save_model: bool = True, formats: Sequence[str] = ("npy",),
                report: bool = False) -> list[Output]:
    """Everything :func:`write_run` writes (or removes) in ``out`` with these options, for
    :func:`~napari_ssdgl.workflows.outputs.check_outputs` before the run starts."""
    out = Path(out)
    outputs = [Output(out, "container")]
    if save_model:
        outputs += [Output(out / MODEL, "folder"), Output(out / WEIGHTS), Output(out / SIDECAR)]
    for fmt in formats:
        outputs += [Output(p) for p in class_map_files(out / f"{CLASS_MAP}.{fmt}")]
    if report:
        outputs.append(Output(out / REPORT))
    return [*outputs, Output(out / HISTORY), Output(out / METRICS)]


def write_run(out: str | Path, classifier: Classifier, class_map: np.ndarray, metrics: dict,
              history: History, *, save_model: bool = True, formats: Sequence[str] = ("npy",),
              geo: dict | None = None, class_names: dict | None = None,
              colors: dict | None = None, report_truth: np.ndarray | None = None,
              report_title: str | None = None) -> list[Path]:
    """Write the run folder ``out`` (the layout in the module docstring) and return what was
    written, ``metrics.json`` last. ``formats``: class-map suffixes (``geo`` georeferences
    a .tif and a .hdr); ``class_names``/``colors`` default to the classifier's; the report is
    drawn only with ``report_truth``, the ground truth shown beside the map."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / METRICS).unlink(missing_ok=True)  # no metrics.json while the folder is incomplete
    names = classifier.class_names if class_names is None else class_names
    colors = classifier.colors if colors is None else colors
    written: list[Path] = []
    if save_model:
        for old in (WEIGHTS, SIDECAR):  # a model of the old layout in OUT would shadow model/
            (out / old).unlink(missing_ok=True)
        with atomic_output(out / MODEL, overwrite=True) as tmp:
            save_classifier(classifier, tmp)
        written.append(out / MODEL)
    written += [export_class_map(out / f"{CLASS_MAP}.{fmt}", class_map, geo=geo,
                                 class_names=names, colors=colors,
                                 class_values=classifier.class_values) for fmt in formats]
    if report_truth is not None:
        written.append(write_report(out / REPORT, class_map, report_truth, metrics,
                                    history=history.to_dict(), class_names=names,
                                    colors=colors, title=report_title))
    for name, obj, indent in ((HISTORY, history.to_dict(), None), (METRICS, metrics, 2)):
        with atomic_output(out / name, overwrite=True) as tmp:
            write_json(tmp, obj, indent=indent)
        written.append(out / name)
    return written
