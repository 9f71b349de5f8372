"""Model files: ``model.safetensors`` (weights) + ``model.json`` (everything else).

Loading never unpickles: weights come from safetensors, the rest from JSON, and the network is
rebuilt from its recorded name and config with ``models.build_model``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from napari_ssdgl import __version__
from napari_ssdgl.io.atomic import atomic_output
from napari_ssdgl.io.jsonio import write_json
from napari_ssdgl.prediction.classifier import Classifier
from napari_ssdgl.prediction.spectral import BandSelection
from napari_ssdgl.prediction.tiling import (
    check_layer_statistics,
    statistics_from_json,
    statistics_to_json,
)

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
SIDECAR = "model.json"
RUN_MODEL_DIR = "model"  # where a run folder (workflows.rundir) keeps its classifier


class ModelFileError(ValueError):
    """A model directory is missing, corrupt, or written in a format this version cannot read."""


def save_classifier(clf: Classifier, directory: str | Path) -> Path:
    """Write ``model.safetensors`` + ``model.json`` into ``directory`` (created if needed), each
    under a temporary name renamed when complete, the weights first: a failed save leaves the
    model that was there before, never half a file."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in clf.model.state_dict().items()}
    meta = _sidecar(clf)
    with atomic_output(directory / WEIGHTS, overwrite=True, keep_suffix=True) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    with atomic_output(directory / SIDECAR, overwrite=True, keep_suffix=True) as tmp:
        write_json(tmp, meta)
    return directory


def _sidecar(clf: Classifier) -> dict:
    """What ``model.json`` holds."""
    return {
        "format_version": FORMAT_VERSION,
        "napari_ssdgl_version": __version__,
        "torch_version": torch.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": clf.model_name,
        "model_config": clf.model_config,
        "bands": clf.bands,
        "wavelengths": None if clf.wavelengths is None else np.asarray(clf.wavelengths).tolist(),
        "wavelength_units": clf.wavelength_units,
        "fwhm": None if clf.fwhm is None else [  # JSON has no NaN: an unknown FWHM is null
            float(v) if np.isfinite(v) else None for v in np.asarray(clf.fwhm, dtype=float)],
        "band_selection": None if clf.band_selection is None else clf.band_selection.to_json(),
        "normalization": {"mean": clf.mean.tolist(), "std": clf.std.tolist()},
        "class_values": clf.class_values.tolist(),
        "class_names": clf.class_names,
        "colors": clf.colors,
        "train_config": clf.train_config,
        "seed": clf.seed,
        "metrics": clf.metrics,
        # a window-trained model's fixed pooled-layer statistics (None: whole-scene ones)
        "layer_statistics": statistics_to_json(clf.layer_statistics),
    }


def _int_keys(d: dict | None) -> dict:
    return {int(k): v for k, v in (d or {}).items()}


# Bounds no real model file comes near: a config past them is corrupt, not big (the default
# SSDGL has widths <= 320, ensembles of a few members).
MAX_CONFIG_INT = 1 << 20
MAX_MEMBERS = 256


@dataclass
class ModelFile:
    """What :func:`validate_model_file` found in a model directory: every field checked."""

    directory: Path
    model_name: str
    model_config: dict
    mean: np.ndarray
    std: np.ndarray
    class_values: np.ndarray
    class_names: dict[int, str]
    colors: dict[int, str]
    wavelengths: np.ndarray | None
    train_config: dict
    seed: int | None
    metrics: dict
    wavelength_units: str | None = None
    fwhm: np.ndarray | None = None
    band_selection: BandSelection | None = None
    layer_statistics: dict | None = None


def _kind(value) -> str:
    """'a string', 'a list', ... : the JSON kind of ``value``, for messages."""
    kinds = {bool: "true/false", str: "a string", list: "a list", dict: "an object",
             type(None): "null", int: "a number", float: "a number"}
    return kinds.get(type(value), type(value).__name__)


def _whole(value) -> bool:
    """A JSON whole number (``3``, also ``3.0``), not true/false."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and float(value).is_integer()


def _real(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_meta(directory: Path) -> dict:
    if not directory.is_dir():
        raise ModelFileError(f"{directory}: not a model directory (it does not exist)")
    for name in (WEIGHTS, SIDECAR):
        if not (directory / name).is_file():
            raise ModelFileError(f"{directory}: missing {name}; is this a napari-ssdgl model?")
    try:
        meta = json.loads((directory / SIDECAR).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{directory / SIDECAR}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or "format_version" not in meta:
        raise ModelFileError(f"{directory / SIDECAR}: no format_version; not a napari-ssdgl model")
    version = meta["format_version"]
    if not _whole(version):
        raise ModelFileError(
            f"{directory / SIDECAR}: invalid format_version {_shown(version)} ({_kind(version)}); "
            f"it must be the whole number {FORMAT_VERSION}")
    if int(version) != FORMAT_VERSION:
        raise ModelFileError(
            f"{directory}: model format version {int(version)} is not supported "
            f"(this napari-ssdgl {__version__} reads version {FORMAT_VERSION})"
        )
    return meta


def _weight_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in a safetensors file, from its header alone (nothing
    is loaded; the header is checked to cover the file exactly)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise ModelFileError(f"{path}: cannot read weights ({exc})") from None


def _members_in(shapes: dict[str, tuple[int, ...]]) -> int:
    """How many networks the weights hold: an Ensemble's keys are ``members.<i>.*``."""
    indices = {k.split(".")[1] for k in shapes if k.startswith("members.")}
    return len(indices) if indices else 1


def _check_config(sidecar: Path, name, config, shapes: dict) -> dict:
    """``model`` and ``model_config`` against the registry, sane bounds and the weights' shapes;
    the network is only built on the meta device (no memory), after the bounds."""
    from napari_ssdgl.models import MODELS, build_model

    if not isinstance(name, str) or name.lower() not in MODELS:
        raise ModelFileError(f"{sidecar}: invalid model {_shown(name)}; expected one of "
                             f"{', '.join(sorted(MODELS))}")
    if not isinstance(config, dict):
        raise ModelFileError(f"{sidecar}: invalid model_config: an object expected, got "
                             f"{_kind(config)}")
    for key in ("in_channels", "num_classes"):
        if key not in config:
            raise ModelFileError(f"{sidecar}: invalid model_config: no {key}")
    members = config.get("members", 1)
    if not _whole(members) or not 1 <= members <= MAX_MEMBERS:
        raise ModelFileError(f"{sidecar}: invalid model_config.members {_shown(members)}: a whole "
                             f"number from 1 to {MAX_MEMBERS} expected")
    held = _members_in(shapes)
    if int(members) != held:
        raise ModelFileError(f"{sidecar}: invalid model_config.members {int(members)}: the weights "
                             f"({WEIGHTS}) hold {held} network{'s' if held != 1 else ''}")
    for key, value in config.items():
        for v in value if isinstance(value, list) else [value]:
            if _real(v) and abs(v) > MAX_CONFIG_INT:
                raise ModelFileError(f"{sidecar}: invalid model_config.{key}: {_shown(value)} is "
                                     f"far beyond any real network (at most {MAX_CONFIG_INT})")
    try:
        with torch.device("meta"):
            model = build_model(name, **config)
    except Exception as exc:  # noqa: BLE001 - any constructor error is a bad config
        raise ModelFileError(f"{sidecar}: invalid model_config ({' '.join(str(exc).split())})"
                             ) from None
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(shapes))
    extra = sorted(set(shapes) - set(expected))
    wrong = [k for k in expected if k in shapes and expected[k] != shapes[k]]
    if missing or extra or wrong:
        if wrong:
            k = wrong[0]
            detail = f"{k} is {shapes[k]} in {WEIGHTS} but {expected[k]} by model_config"
        elif missing:
            detail = f"{len(missing)} tensor(s) missing from {WEIGHTS}, e.g. {missing[0]}"
        else:
            detail = f"{len(extra)} tensor(s) in {WEIGHTS} the model has no place for, " \
                     f"e.g. {extra[0]}"
        raise ModelFileError(f"{sidecar.parent}: the weights do not fit the model "
                             f"{name} {_shown(config, 200)} ({detail})")
    return model.config


def _numbers(sidecar: Path, field: str, value, size: int, what: str) -> np.ndarray:
    """``value`` as a float array of ``size`` real numbers, else a ModelFileError."""
    if not isinstance(value, list) or not all(_real(v) for v in value):
        raise ModelFileError(f"{sidecar}: invalid {field}: a list of {size} numbers expected, got "
                             f"{_kind(value)} {_shown(value)}")
    if len(value) != size:
        raise ModelFileError(f"{sidecar}: invalid {field}: {len(value)} values but the network "
                             f"takes {size} {what}")
    return np.asarray(value, dtype=np.float64)


def _class_table(sidecar: Path, field: str, value) -> dict[int, str]:
    """A ``{"value": "text"}`` object (names or colours; null is empty) with int keys."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ModelFileError(f"{sidecar}: invalid {field}: an object {{class value: text}} "
                             f"expected, got {_kind(value)}")
    try:
        table = _int_keys(value)
    except (TypeError, ValueError):
        raise ModelFileError(f"{sidecar}: invalid {field}: its keys must be class values "
                             f"(whole numbers), got {_shown(list(value))}") from None
    bad = [v for v in table.values() if not isinstance(v, str)]
    if bad:
        raise ModelFileError(f"{sidecar}: invalid {field}: its values must be strings, got "
                             f"{_shown(bad[0])}")
    return table


def _fwhm(sidecar: Path, value, bands: int) -> np.ndarray | None:
    """``fwhm``: null, or one positive number (or null: unknown, NaN) per band."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(v is None or (_real(v) and math.isfinite(v)
                                                            and v > 0) for v in value):
        raise ModelFileError(f"{sidecar}: invalid fwhm: a list of {bands} positive numbers (null "
                             f"where unknown) expected, got {_kind(value)} {_shown(value)}")
    if len(value) != bands:
        raise ModelFileError(f"{sidecar}: invalid fwhm: {len(value)} values but the network "
                             f"takes {bands} bands")
    return np.array([np.nan if v is None else v for v in value], dtype=np.float64)


def _selection(sidecar: Path, value, bands: int) -> BandSelection | None:
    """``band_selection``: null, or the training cube's band count and the ``bands`` indices
    the network takes (``excluded`` is for readers and not read back)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ModelFileError(f"{sidecar}: invalid band_selection: an object expected, got "
                             f"{_kind(value)}")
    source, indices = value.get("source_bands"), value.get("indices")
    if not _whole(source) or not bands <= source <= MAX_CONFIG_INT:
        raise ModelFileError(f"{sidecar}: invalid band_selection.source_bands {_shown(source)}: "
                             f"a whole number of at least {bands} (the network's bands) expected")
    if not isinstance(indices, list) or not all(_whole(i) for i in indices):
        raise ModelFileError(f"{sidecar}: invalid band_selection.indices: a list of band numbers "
                             f"expected, got {_kind(indices)} {_shown(indices)}")
    if len(indices) != bands:
        raise ModelFileError(f"{sidecar}: invalid band_selection.indices: {len(indices)} bands "
                             f"but the network takes {bands}")
    reasons = value.get("reasons") or {}
    if not isinstance(reasons, dict) or not all(
            k.isdigit() and isinstance(v, str) for k, v in reasons.items()):
        raise ModelFileError(f"{sidecar}: invalid band_selection.reasons: an object {{band "
                             f"number: text}} expected, got {_shown(reasons)}")
    try:
        return BandSelection(tuple(int(i) for i in indices), int(source), _int_keys(reasons))
    except ValueError as exc:
        raise ModelFileError(f"{sidecar}: invalid band_selection: {exc}") from None


def validate_model_file(directory: str | Path) -> ModelFile:
    """Check every field of the model file in ``directory`` (or in the ``model/`` of the run
    folder ``directory``): types, lengths, and sizes against the shapes in the weights' header,
    before any network is built or any weight is read. Returns the checked values; any
    problem is a ModelFileError naming the file and the field."""
    directory = _model_directory(Path(directory))
    meta = _read_meta(directory)
    sidecar = directory / SIDECAR
    shapes = _weight_shapes(directory / WEIGHTS)
    config = _check_config(sidecar, meta.get("model"), meta.get("model_config"), shapes)
    bands, outputs = config["in_channels"], config["num_classes"]
    if "bands" in meta and meta["bands"] != bands:
        raise ModelFileError(f"{sidecar}: invalid bands {_shown(meta['bands'])}: the network "
                             f"takes {bands} bands")
    norm = meta.get("normalization")
    if not isinstance(norm, dict):
        raise ModelFileError(f"{sidecar}: invalid normalization: an object with mean and std "
                             f"expected, got {_kind(norm)}")
    mean = _numbers(sidecar, "normalization.mean", norm.get("mean"), bands, "bands")
    std = _numbers(sidecar, "normalization.std", norm.get("std"), bands, "bands")
    if not np.all(np.isfinite(mean)):
        raise ModelFileError(f"{sidecar}: invalid normalization.mean: band "
                             f"{int(np.flatnonzero(~np.isfinite(mean))[0])} is not finite")
    bad = np.flatnonzero(~(np.isfinite(std) & (std > 0)))
    if bad.size:
        raise ModelFileError(f"{sidecar}: invalid normalization.std: band {int(bad[0])} is "
                             f"{std[bad[0]]}; every std must be finite and > 0")
    values = meta.get("class_values")
    if not isinstance(values, list) or not all(_whole(v) and 1 <= v < 2**32 for v in values):
        raise ModelFileError(f"{sidecar}: invalid class_values: a list of {outputs} class values "
                             f"(whole numbers >= 1) expected, got {_kind(values)} "
                             f"{_shown(values)}")
    if len(values) != outputs:
        raise ModelFileError(f"{sidecar}: invalid class_values: {len(values)} values but the "
                             f"network has {outputs} outputs")
    if len(set(values)) != len(values):
        raise ModelFileError(f"{sidecar}: invalid class_values: {_shown(values)} repeats a value")
    wl = meta.get("wavelengths")
    if wl is not None:
        wl = _numbers(sidecar, "wavelengths", wl, bands, "bands")
    units = meta.get("wavelength_units")
    if units is not None and (not isinstance(units, str) or len(units) > 40):
        raise ModelFileError(f"{sidecar}: invalid wavelength_units {_shown(units)}: a short "
                             "string (e.g. nm) or null expected")
    for key in ("train_config", "metrics"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise ModelFileError(f"{sidecar}: invalid {key}: an object expected, got "
                                 f"{_kind(meta[key])}")
    seed = meta.get("seed")
    if seed is not None and not _whole(seed):
        raise ModelFileError(f"{sidecar}: invalid seed {_shown(seed)}: a whole number expected")
    metrics = dict(meta.get("metrics") or {})
    if isinstance(metrics.get("per_class"), dict):
        try:
            metrics["per_class"] = _int_keys(metrics["per_class"])
        except (TypeError, ValueError):
            raise ModelFileError(f"{sidecar}: invalid metrics.per_class: its keys must be class "
                                 "values (whole numbers)") from None
    try:
        layer_stats = statistics_from_json(meta.get("layer_statistics"))
    except ValueError as exc:
        raise ModelFileError(f"{sidecar}: invalid layer_statistics: {exc}") from None
    for name in layer_stats or {}:
        if not any(k.startswith(name + ".") for k in shapes):
            raise ModelFileError(f"{sidecar}: invalid layer_statistics: the network has no "
                                 f"layer {_shown(name)}")
    return ModelFile(
        layer_statistics=layer_stats,
        directory=directory, model_name=meta["model"], model_config=meta["model_config"],
        mean=mean.astype(np.float32), std=std.astype(np.float32),
        class_values=np.asarray(values, dtype=np.int64),
        class_names=_class_table(sidecar, "class_names", meta.get("class_names")),
        colors=_class_table(sidecar, "colors", meta.get("colors")),
        wavelengths=wl, train_config=meta.get("train_config") or {},
        seed=None if seed is None else int(seed), metrics=metrics, wavelength_units=units,
        fwhm=_fwhm(sidecar, meta.get("fwhm"), bands),
        band_selection=_selection(sidecar, meta.get("band_selection"), bands))


def _model_directory(directory: Path) -> Path:
    """``directory``, or its ``model/`` when it is a run folder: ``train`` writes ``OUT/model/``
    and ``predict OUT`` should find it."""
    nested = directory / RUN_MODEL_DIR
    if not (directory / SIDECAR).exists() and (nested / SIDECAR).is_file():
        return nested
    return directory


def load_classifier(directory: str | Path) -> Classifier:
    """Rebuild a :class:`Classifier` saved by :func:`save_classifier` in ``directory`` or in
    the ``model/`` of the run folder ``directory``; raises ModelFileError. The file is checked
    whole (:func:`validate_model_file`) before the network is built, so a bad file costs no
    allocation."""
    from napari_ssdgl.models import build_model

    mf = validate_model_file(directory)
    directory = mf.directory
    model = build_model(mf.model_name, **mf.model_config)
    try:
        state = load_file(str(directory / WEIGHTS))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise ModelFileError(f"{directory / WEIGHTS}: cannot read weights ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelFileError(f"{directory}: weights do not fit the model ({first})") from None
    if mf.layer_statistics is not None:
        try:
            check_layer_statistics(model, mf.layer_statistics, mf.mean.size)
        except ValueError as exc:
            raise ModelFileError(
                f"{directory / SIDECAR}: invalid layer_statistics: {exc}") from None
    return Classifier(
        model=model.eval(), model_name=mf.model_name, model_config=mf.model_config,
        mean=mf.mean, std=mf.std, class_values=mf.class_values, class_names=mf.class_names,
        colors=mf.colors, wavelengths=mf.wavelengths, train_config=mf.train_config,
        seed=mf.seed, metrics=mf.metrics, wavelength_units=mf.wavelength_units, fwhm=mf.fwhm,
        band_selection=mf.band_selection, layer_statistics=mf.layer_statistics,
    )
