"""Model files: ``model.safetensors`` (weights) + ``model.json`` (everything else).

Loading never unpickles: weights come from safetensors, the rest from JSON, and the network is
rebuilt from its recorded name and config with ``models.build_model``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from napari_ssdgl import __version__
from napari_ssdgl.io.jsonio import write_json
from napari_ssdgl.prediction.classifier import Classifier

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
SIDECAR = "model.json"
RUN_MODEL_DIR = "model"  # where a run folder (workflows.rundir) keeps its classifier


class ModelFileError(ValueError):
    """A model directory is missing, corrupt, or written in a format this version cannot read."""


def save_classifier(clf: Classifier, directory: str | Path) -> Path:
    """Write ``model.safetensors`` + ``model.json`` into ``directory`` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in clf.model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS), metadata={"format": "pt"})
    meta = {
        "format_version": FORMAT_VERSION,
        "napari_ssdgl_version": __version__,
        "torch_version": torch.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": clf.model_name,
        "model_config": clf.model_config,
        "bands": clf.bands,
        "wavelengths": None if clf.wavelengths is None else np.asarray(clf.wavelengths).tolist(),
        "normalization": {"mean": clf.mean.tolist(), "std": clf.std.tolist()},
        "class_values": clf.class_values.tolist(),
        "class_names": clf.class_names,
        "colors": clf.colors,
        "train_config": clf.train_config,
        "seed": clf.seed,
        "metrics": clf.metrics,
    }
    write_json(directory / SIDECAR, meta)
    return directory


def _int_keys(d: dict | None) -> dict:
    return {int(k): v for k, v in (d or {}).items()}


def _read_meta(directory: Path) -> dict:
    if not directory.is_dir():
        raise ModelFileError(f"{directory}: not a model directory (it does not exist)")
    for name in (WEIGHTS, SIDECAR):
        if not (directory / name).is_file():
            raise ModelFileError(f"{directory}: missing {name}; is this a napari-ssdgl model?")
    try:
        meta = json.loads((directory / SIDECAR).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{directory / SIDECAR}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or "format_version" not in meta:
        raise ModelFileError(f"{directory / SIDECAR}: no format_version; not a napari-ssdgl model")
    if meta["format_version"] != FORMAT_VERSION:
        raise ModelFileError(
            f"{directory}: model format version {meta['format_version']} is not supported "
            f"(this napari-ssdgl {__version__} reads version {FORMAT_VERSION})"
        )
    return meta


def _model_directory(directory: Path) -> Path:
    """``directory``, or its ``model/`` when it is a run folder: ``train`` writes ``OUT/model/``
    and ``predict OUT`` should find it."""
    nested = directory / RUN_MODEL_DIR
    if not (directory / SIDECAR).exists() and (nested / SIDECAR).is_file():
        return nested
    return directory


def load_classifier(directory: str | Path) -> Classifier:
    """Rebuild a :class:`Classifier` saved by :func:`save_classifier` in ``directory`` or in
    the ``model/`` of the run folder ``directory``; raises ModelFileError."""
    from napari_ssdgl.models import build_model

    directory = _model_directory(Path(directory))
    meta = _read_meta(directory)
    try:
        model = build_model(meta["model"], **meta["model_config"])
        norm = meta["normalization"]
        mean, std = np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)
        class_values = np.asarray(meta["class_values"], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{directory / SIDECAR}: incomplete or invalid ({exc!r})") from None
    try:
        state = load_file(str(directory / WEIGHTS))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise ModelFileError(f"{directory / WEIGHTS}: cannot read weights ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelFileError(f"{directory}: weights do not fit the model ({first})") from None
    if mean.size != std.size or class_values.size == 0:
        raise ModelFileError(f"{directory / SIDECAR}: inconsistent normalisation or classes")
    wl = meta.get("wavelengths")
    metrics = dict(meta.get("metrics") or {})
    if isinstance(metrics.get("per_class"), dict):
        metrics["per_class"] = _int_keys(metrics["per_class"])
    return Classifier(
        model=model.eval(),
        model_name=meta["model"],
        model_config=meta["model_config"],
        mean=mean,
        std=std,
        class_values=class_values,
        class_names=_int_keys(meta.get("class_names")),
        colors=_int_keys(meta.get("colors")),
        wavelengths=None if wl is None else np.asarray(wl, dtype=np.float64),
        train_config=meta.get("train_config") or {},
        seed=meta.get("seed"),
        metrics=metrics,
    )
