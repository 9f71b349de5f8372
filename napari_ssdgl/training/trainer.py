"""Global (patch-free) SSDGL training on one scene, as a generator of progress events.

The whole z-scored scene is a single 1 x B x H x W batch. Each iteration draws an H-B sample
of training pixels (by default every training pixel up to 256 per class, see
``sampling.DEFAULT_DRAW``), optionally flips/transposes the scene (``augment``), computes the
class-weighted cross-entropy at those pixels only, and takes one SGD step (momentum, weight
decay, grad-norm clip, polynomial LR). Every ``eval_every`` iterations (and at the end) the
model is scored on its validation pixels and on the test labels. With ``keep="best"`` the
validation pixels are a seeded, stratified ``validation_fraction`` of the training pixels held
out of the loss (``sampling.hold_out``; or the ``validation_labels`` given) and the state with
the best validation OA is kept; the test labels are only reported, never used to choose (a
model chosen on its test score has an optimistic score). Too few pixels to hold out, or
``keep="last"`` (protocol runs: every training pixel trains, nothing is held out), keep the
last state. ``stop()`` may be called from any thread; training ends after the current
iteration and the kept model stays usable.

``init_from`` (a :class:`Classifier` or a model folder) refines: the network starts from that
model's weights and keeps its normalisation (mean/std), so the weights stay valid; the final
classifier conv gets one row per class of the current labels, copied by class value from the
old model (new classes get freshly initialised rows, removed classes' rows are dropped). The
band count must match. ``train_config["refined_from"]`` records where it came from.

Runs are reproducible for a seed on the CPU (seeded init, seeded H-B draws; two runs give
identical losses). On CUDA, cuDNN and atomic adds make losses differ slightly between runs
(seen: ~5e-4 after 5 iterations on an H200). AMP (``amp=True``) autocasts to bfloat16 where the
GPU supports it, else float16 with loss scaling; the loss itself is computed in float32.

Speed (issue 7): by default the full-resolution head (last 3x3 conv and classifier) runs only
at the drawn pixels (``EncoderDecoder.sampled_logits``; same loss and gradients as the dense
map up to rounding, measured -23 % CPU time per step on Indian Pines), and on CPUs with native
bfloat16 the step is autocast to bf16 (a further ~-40 %). Evaluation uses the folded head in
float32, like ``Classifier.predict``, so the kept metrics are the saved model's.
``TrainConfig(reference=True)`` is the plain dense float32 path that every speed-up is checked
against. The Houston variant needs the dense map for its reconstruction loss and keeps it.
On CUDA the fast path's forward, loss and backward are replayed as a CUDA graph
(``cuda_graph``, see cuda_graph.py): a small scene or window is launch-bound there.

Windowed training (issue 17, windows.py): a scene larger than ``window`` px either way is never
loaded or run whole. The cube stays lazy (memory map, zarr, dask), its band statistics are
streamed, and each iteration reads ``windows_per_batch`` windows anchored on training pixels
(by default one, or three smaller ones for sparse labels: ``windows.choose_layout``) and
draws the H-B sample inside them (padded to a fixed size, masked out of the loss). Scoring
predicts the scored pixels' scene tiles, and a preview of a region (the part in view) that
region on its own grid, with the statistics calibrated on fixed windows; the trained model
carries them (``Classifier.layer_statistics``), so it predicts in one pass. A scene that fits
one window trains whole, on the path above, bit for bit as before. On CUDA a windowed
iteration is a graph too (``GraphedWindows``): each iteration's windows and draw are copied
into its fixed buffers before the replay.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from napari_ssdgl.analysis.metrics import classification_metrics
from napari_ssdgl.device import (
    amp_dtype,
    autocast,
    cpu_has_native_bf16,
    is_out_of_memory,
    resolve_device,
)
from napari_ssdgl.io.base import Cube
from napari_ssdgl.models import build_model, model_config
from napari_ssdgl.models.ensemble import Ensemble
from napari_ssdgl.prediction.classifier import Classifier
from napari_ssdgl.prediction.modelfile import load_classifier
from napari_ssdgl.prediction.spectral import BandSelection, BandView
from napari_ssdgl.prediction.tiling import (
    DEFAULT_OVERLAP,
    ceil_to,
    logits,
    predict_tiled,
    tile_preparer,
)
from napari_ssdgl.training.compiling import compiled_or_eager
from napari_ssdgl.training.cuda_graph import GraphedIteration, GraphedWindows
from napari_ssdgl.training.errors import TrainingError, short_reason
from napari_ssdgl.training.loss import (
    effective_number_weights,
    gather_pixels,
    picked_accuracy,
    picked_cross_entropy,
)
from napari_ssdgl.training.sampling import (
    DEFAULT_DRAW,
    VALIDATION_FRACTION,
    VALIDATION_MIN,
    HBSampler,
    LabelEncoder,
    hold_out,
)
from napari_ssdgl.training.windows import (
    CALIBRATION_WINDOWS,
    WINDOW,
    WINDOWS_PER_BATCH,
    WindowSampler,
    calibrate,
    check_window,
    choose_layout,
    is_windowed,
    read_windows,
    window_shape,
)
from napari_ssdgl.transforms.dihedral import TRANSPOSE, dihedral, dihedral_index
from napari_ssdgl.transforms.normalize import (
    STD_FLOOR,
    band_statistics,
    floor_std,
    normalize,
    replace_nonfinite,
    streaming_band_statistics,
)

RECONSTRUCTION_WEIGHT = 0.1  # auxiliary loss of the Houston variant (SSDGL.md)
# tiles (px) in which a windowed run predicts its scene for scoring and previews: a 128 px core
# inside the 64 px overlap, so the overlap costs ~4x the core, not the 81x of a 16 px core
SCORE_TILE = 2 * DEFAULT_OVERLAP + 128
# a preview of the part in view (``request_preview(region)``) maps it on its own grid, in
# windows of its side plus the overlap up to this many px: a 384 px view is one window, not
# the 16 scene tiles it touches (benchmarks/preview_region.py)
PREVIEW_TILE = 512


@dataclass
class TrainConfig:
    """Hyper-parameters; defaults are the paper's Indian Pines 5 % protocol (SSDGL.md), except
    the per-class draw (see ``sampling.DEFAULT_DRAW``)."""

    model: str = "ssdgl"
    # the paper's Indian Pines widths (3.5 M parameters); None = the constructor's smaller ones
    preset: str | None = "indian_pines"
    iterations: int = 600
    lr: float = 0.003
    power: float = 0.8
    momentum: float = 0.9
    weight_decay: float = 1e-3
    grad_clip: float = 35.0
    per_class: int | None = DEFAULT_DRAW  # H-B draw per class and iteration; None/0 = all
    beta: float = 0.9999
    seed: int = 2333
    device: str = "auto"
    amp: bool = True  # autocast on CUDA; on the CPU see cpu_bf16
    eval_every: int = 25  # 0 = only at the end
    preview_every: int = 0  # 0 = no previews
    # "best": the state with the best OA on held-out training pixels; "last": the final state
    # (then nothing is held out). The test labels never choose
    keep: str = "best"
    validation_fraction: float = VALIDATION_FRACTION  # of each class's training pixels (best)
    validation_min: int = VALIDATION_MIN  # fewer held-out pixels than this: keep the last state
    # set by the Trainer when it refines a model (init_from): what it started from
    refined_from: dict | None = None
    model_kwargs: dict = field(default_factory=dict)
    # speed (issue 7). The fast path computes the full-resolution head only at the drawn pixels
    # (same loss and gradients as the dense path up to float rounding); ``reference=True`` is
    # the plain dense float32 path, the yardstick for every speed-up.
    reference: bool = False
    # bfloat16 autocast on the CPU, fast path only; None = on with ``amp`` where the CPU has
    # native bf16 (AMX / AVX512-BF16): ~1.6x faster steps there, emulated (slow) elsewhere
    cpu_bf16: bool | None = None
    # a random flip/transpose of the scene each iteration (transforms/dihedral). Off by default: on
    # Indian Pines it slowed convergence at 5 % and helped only within noise at 10 px/class
    augment: bool = False
    # torch.compile backend for the training forward pass ("inductor"), None = eager; falls back
    # to eager with a warning where compiling fails (see compiling.py). Fast path only
    compile: str | None = None
    # on CUDA, replay each iteration's forward/loss/backward as a CUDA graph (see cuda_graph.py):
    # small scenes and windows are launch-bound there. Fast path, bf16 or float32, not with
    # ``compile``; falls back to eager with a warning where capturing fails
    cuda_graph: bool = True
    # windowed training (issue 17, windows.py): a scene larger than ``window`` px either way
    # trains on ``windows_per_batch`` windows per iteration, read lazily, so an iteration costs
    # the same whatever the scene's size; one that fits a window trains whole, exactly as
    # without. None = always whole. A multiple of 16, >= 32. ``windows_per_batch`` None: chosen
    # from the labels (windows.choose_layout: sparse labels train on 3 smaller windows, about
    # the same cost), and the Trainer's config then holds the window and count it chose
    window: int | None = WINDOW
    windows_per_batch: int | None = WINDOWS_PER_BATCH


@dataclass
class TrainEvent:
    """One iteration's progress. ``preview`` holds label values; ``best`` marks a new best.

    ``validation``: metrics on the held-out validation pixels (what ``keep="best"`` chooses
    on); ``test``: metrics on the test labels (reported only). Each None where not scored."""

    iteration: int  # 1-based count of completed iterations
    iterations: int
    loss: float
    lr: float
    train_accuracy: float  # on this iteration's drawn pixels
    elapsed_s: float
    validation: dict | None = None
    preview: np.ndarray | None = None
    best: bool = False
    test: dict | None = None


def poly_lr(base: float, it: int, max_it: int, power: float) -> float:
    """Polynomial decay ``base * (1 - it / max_it) ** power`` for 0-based ``it``."""
    return base * (1.0 - it / max_it) ** power


def _check_config(cfg: TrainConfig) -> None:
    if int(cfg.iterations) != cfg.iterations or cfg.iterations < 1:
        raise TrainingError(f"iterations must be a positive integer, got {cfg.iterations}")
    if not cfg.lr > 0:
        raise TrainingError(f"learning rate must be > 0, got {cfg.lr}")
    if cfg.per_class is not None and (int(cfg.per_class) != cfg.per_class or cfg.per_class < 0):
        raise TrainingError(f"per-class draw must be empty or an integer >= 0, got {cfg.per_class}")
    if cfg.eval_every < 0 or cfg.preview_every < 0:
        raise TrainingError("eval_every and preview_every must be >= 0")
    if cfg.keep not in ("best", "last"):
        raise TrainingError(f"keep must be 'best' or 'last', got {cfg.keep!r}")
    if not 0 <= cfg.validation_fraction < 1:
        raise TrainingError(
            f"validation fraction must be in [0, 1), got {cfg.validation_fraction}")
    try:
        check_window(cfg.window, cfg.windows_per_batch)
    except (TypeError, ValueError) as exc:
        raise TrainingError(str(exc)) from None


def _check_labels(name: str, labels, shape: tuple[int, int]) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape != shape:
        raise TrainingError(
            f"{name} have shape {labels.shape} but the cube's spatial shape is {shape}; "
            "labels must be a (rows, cols) raster the size of the cube"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise TrainingError(f"{name} must be whole numbers (class values, 0 = unlabelled)")
    if np.any(labels < 0):
        raise TrainingError(f"{name} contain negative values; use 0 for unlabelled pixels")
    return labels.astype(np.int64)


def _check_constant_bands(cube: np.ndarray, std: np.ndarray) -> None:
    """Warn naming the bands of ``cube`` that hold one value (they carry no information; the
    normalisation divides them by 1); a cube whose every band is constant is an error.
    ``std``: :func:`band_statistics`' std, 1 where a band is (near) constant."""
    candidates = np.flatnonzero(std == 1.0)  # the floor's value; a real std of 1 is checked
    constant = [int(b) for b in candidates if float(np.std(cube[b], dtype=np.float64)) < STD_FLOOR]
    _report_constant(constant, cube.shape[0])


def _report_constant(constant: list[int], bands: int) -> None:
    """The warning (or, when all are, the error) for the ``constant`` bands of a cube."""
    if not constant:
        return
    if len(constant) == bands:
        raise TrainingError(f"every band of the cube is constant ({bands} bands, each "
                            "one value over all pixels): there is nothing to learn from")
    shown = ", ".join(map(str, constant[:10])) + (", ..." if len(constant) > 10 else "")
    which = "band" if len(constant) == 1 else "bands"
    warnings.warn(f"{len(constant)} of the cube's {bands} bands are constant (one value "
                  f"over all pixels) and carry no information: {which} {shown} (counting from 0)",
                  UserWarning, stacklevel=4)


def _streamed_statistics(source) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(mean, std, messages) of a lazy cube read block by block, with the whole-scene path's
    warnings: NaN/inf (each window fills them with the band mean) and constant bands."""
    mean, std, bad = streaming_band_statistics(source)
    _report_constant([int(b) for b in np.flatnonzero(std < STD_FLOOR)], int(source.shape[0]))
    messages = []
    if bad.any():
        bands = np.flatnonzero(bad)
        messages.append(f"{int(bad.sum())} NaN/inf values in {bands.size} band(s) (first: band "
                        f"{bands[0]}) are replaced by the band mean")
    return mean, floor_std(std), messages


def _band_selection(bands, total: int, init: Classifier | None) -> BandSelection | None:
    """The cube bands to train on as a BandSelection; None: all of them. Without ``bands`` a
    refined model keeps its own selection when the cube is its training cube's size."""
    if bands is None:
        own = None if init is None else init.band_selection
        return own if own is not None and own.source_bands == total else None
    if isinstance(bands, BandSelection):
        if bands.source_bands != total:
            raise TrainingError(f"the band selection is for a cube of {bands.source_bands} bands "
                                f"but this cube has {total}")
        selection = bands
    else:
        try:
            selection = BandSelection(tuple(sorted({int(b) for b in bands})), total)
        except (TypeError, ValueError) as exc:
            raise TrainingError(f"invalid band selection: {exc}") from None
    if len(selection.indices) < 2:
        raise TrainingError(f"the band selection keeps {len(selection.indices)} of {total} "
                            "bands; a model needs at least 2")
    return None if len(selection.indices) == total else selection


def _selected(values, selection: BandSelection | None):
    """Per-band ``values`` (wavelengths, FWHM) of the selected bands; as given when they are
    not one per cube band (the Classifier then ignores them, as before)."""
    if values is None or selection is None or len(values) != selection.source_bands:
        return None if values is None else np.asarray(values)
    return selection.take(values)


def _initial_model(init_from, cfg: TrainConfig) -> Classifier | None:
    """The model to refine (loaded when ``init_from`` is a folder); ``cfg`` is set to its
    architecture and records where it came from."""
    if init_from is None:
        return None
    path = None
    if not isinstance(init_from, Classifier):
        path = str(init_from)
        try:
            init_from = load_classifier(init_from)
        except (OSError, ValueError) as exc:
            raise TrainingError(f"cannot refine from {path}: {exc}") from None
    if getattr(init_from.model, "classifier", None) is None and not isinstance(
            init_from.model, Ensemble):
        raise TrainingError(f"cannot refine a {init_from.model_name} model: it has no "
                            "classifier layer to extend")
    arch = {k: v for k, v in init_from.model_config.items()
            if k not in ("in_channels", "num_classes")}
    cfg.model, cfg.preset, cfg.model_kwargs = init_from.model_name, None, arch
    before = init_from.train_config or {}
    cfg.refined_from = {
        "path": path, "model": init_from.model_name,
        "class_values": [int(v) for v in init_from.class_values],
        "iterations": before.get("iterations"), "seed": init_from.seed,
        "refined_from": before.get("refined_from"),  # the chain of earlier rounds
    }
    return init_from


def _heads(model: torch.nn.Module) -> list[torch.nn.Conv2d]:
    """The final 1x1 classifier conv of a model, or of each ensemble member."""
    members = model.members if isinstance(model, Ensemble) else [model]
    return [m.classifier for m in members]


def _load_refined(model: torch.nn.Module, init: Classifier, values: np.ndarray) -> None:
    """``init``'s weights into ``model`` (same architecture, ``len(values)`` classes): every
    layer as it was; the classifier rows by class value (rows of new classes keep ``model``'s
    fresh initialisation, rows of classes no longer labelled are dropped)."""
    old = init.model
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    head_keys = set()
    for name, module in model.named_modules():
        if any(module is h for h in _heads(model)):
            head_keys |= {f"{name}.weight", f"{name}.bias"}
    state = {k: v for k, v in old.state_dict().items() if k not in head_keys}
    model.load_state_dict({**fresh, **state})  # strict: the same architecture
    old_index = {int(v): i for i, v in enumerate(init.class_values)}
    with torch.no_grad():
        for new_head, old_head in zip(_heads(model), _heads(old), strict=True):
            for row, value in enumerate(values):
                i = old_index.get(int(value))
                if i is None:
                    continue
                new_head.weight[row] = old_head.weight[i]
                if new_head.bias is not None and old_head.bias is not None:
                    new_head.bias[row] = old_head.bias[i]


class Trainer:
    """Trains one model on one scene; ``run()`` yields a :class:`TrainEvent` per iteration."""

    def __init__(
        self,
        cube: np.ndarray,
        train_labels: np.ndarray,
        config: TrainConfig | None = None,
        test_labels: np.ndarray | None = None,
        class_names: dict[int, str] | None = None,
        colors: dict[int, str] | None = None,
        wavelengths: np.ndarray | None = None,
        *,
        init_from: Classifier | str | Path | None = None,
        validation_labels: np.ndarray | None = None,
        bands: BandSelection | Sequence[int] | None = None,
        wavelength_units: str | None = None,
        fwhm: np.ndarray | None = None,
        final_test: bool = True,
    ) -> None:
        """``bands``: the cube bands (counted from 0) to train on, or a BandSelection (its
        ``reasons`` go to ``model.json``); the others are dropped before anything else, and the
        model records the selection so that prediction drops them from a full cube. None: all
        bands (a refined model: its own selection). The file's bad-band flags are not applied
        here: :func:`~napari_ssdgl.workflows.band_selection.band_selection` with ``auto`` does
        that. ``wavelengths``, ``wavelength_units`` and ``fwhm`` are the full cube's (the
        model keeps the selected ones, to resample other sensors' cubes). ``final_test=False``:
        a windowed run never scores its test pixels (it would at the end, a pass over most of
        a big scene's tiles), for a caller that scores the map it predicts next (dock, CLI)."""
        self.config = cfg = copy.deepcopy(config) if config is not None else TrainConfig()
        _check_config(cfg)
        if isinstance(cube, Cube):  # a lazy array stays lazy until it is known to be small
            cube = cube.data
        if not (hasattr(cube, "shape") and hasattr(cube, "ndim")):
            cube = np.asarray(cube)
        if cube.ndim != 3:
            raise TrainingError(f"the cube must be 3-D (bands, rows, cols), got shape {cube.shape}")
        self.init_from = _initial_model(init_from, cfg)
        self.band_selection = _band_selection(bands, cube.shape[0], self.init_from)
        shape = tuple(int(n) for n in cube.shape[1:])
        self.windowed = is_windowed(shape, cfg.window)
        if not self.windowed:
            cube = np.asarray(cube)
        if self.band_selection is not None:  # lazily, window by window, when windowed
            cube = (BandView(cube, self.band_selection.indices) if self.windowed
                    else self.band_selection.take(cube))
        if self.init_from is not None and self.init_from.bands != cube.shape[0]:
            raise TrainingError(
                f"cannot refine: the model was trained on {self.init_from.bands} bands but the "
                f"cube has {cube.shape[0]}{' selected' if self.band_selection else ''}; refine "
                "only with a cube from the same sensor and band set (or Train a new model)")
        self.shape = (int(cube.shape[0]), *shape)
        self.train_labels = _check_labels("training labels", train_labels, shape)
        self.test_labels = (
            None if test_labels is None else _check_labels("test labels", test_labels, shape)
        )
        self.final_test = bool(final_test)
        self.encoder = LabelEncoder.from_labels(self.train_labels)
        if len(self.encoder) == 0:
            raise TrainingError("there are no training labels: paint or load at least 2 classes")
        if len(self.encoder) < 2:
            raise TrainingError(
                f"only one class ({self.encoder.values[0]}) is labelled; "
                "a classifier needs at least 2 classes"
            )
        if self.test_labels is not None and not np.any(self.test_mask):
            warnings.warn("the test labels hold no pixel outside the training set", stacklevel=2)
            self.test_labels = None
        self.fit_labels, self.validation_labels = self._validation_split(validation_labels)
        init = self.init_from
        self._source, self._x = None, None
        if self.windowed:  # never loaded: statistics streamed, windows read per iteration
            self._source = cube
            *own, self.warnings = _streamed_statistics(cube)
            for m in self.warnings:
                warnings.warn(m, stacklevel=2)
        else:
            fill = None if init is None else init.mean
            clean, self.warnings = replace_nonfinite(cube, fill=fill)
            for m in self.warnings:
                warnings.warn(m, stacklevel=2)
            own = band_statistics(clean)
            _check_constant_bands(clean, own[1])
        # a refined model keeps the normalisation its weights were trained with
        self.mean, self.std = tuple(own) if init is None else (init.mean, init.std)
        if not self.windowed:
            self._x = normalize(clean, self.mean, self.std, out=clean)
            del clean
        self.class_names = dict(class_names or {})
        self.colors = dict(colors or {})
        self.wavelengths = _selected(wavelengths, self.band_selection)
        self.fwhm = _selected(fwhm, self.band_selection)
        self.wavelength_units = wavelength_units
        if init is not None:  # what the user does not say now, the refined model said before
            self.class_names = {**init.class_names, **self.class_names}
            self.colors = {**init.colors, **self.colors}
            if self.wavelengths is None and init.wavelengths is not None:
                self.wavelengths = np.asarray(init.wavelengths)
                self.wavelength_units = self.wavelength_units or init.wavelength_units
            if self.fwhm is None and init.fwhm is not None:
                self.fwhm = np.asarray(init.fwhm)
        try:
            self.device = resolve_device(cfg.device)
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
        # only the fitting pixels reach the sampler, the class weights and so the loss
        encoded = self.encoder.encode(self.fit_labels)
        self.sampler = HBSampler(encoded, cfg.per_class, seed=cfg.seed)
        self.class_weights = effective_number_weights(self.sampler.counts, cfg.beta)
        self._targets = torch.from_numpy(encoded.reshape(-1))
        self.windows: WindowSampler | None = None
        self.window_reason: str | None = None  # why this layout, when chosen from the labels
        if self.windowed:
            if cfg.windows_per_batch is None:  # recorded as chosen (model.json, the dock)
                layout = choose_layout(encoded, shape, cfg.window, cfg.seed)
                cfg.window, cfg.windows_per_batch = layout.window, layout.per_batch
                self.window_reason = layout.reason
            size = window_shape(shape, cfg.window)
            self.windows = WindowSampler(encoded, size, cfg.windows_per_batch, cfg.per_class,
                                         seed=cfg.seed)
            # fixed for the run, from their own stream: every calibration sees the same windows
            self._calibration = WindowSampler(encoded, size, cfg.windows_per_batch, None,
                                              seed=cfg.seed, stream=4).origins(CALIBRATION_WINDOWS)
        torch.manual_seed(cfg.seed)
        self.model = self._build_model(cube.shape[0])
        if init is not None:
            _load_refined(self.model, init, self.encoder.values)
        self._stop = threading.Event()
        self._preview = threading.Event()  # request_preview(): one preview, whatever the count
        self._preview_region: tuple[slice, slice] | None = None
        self.best_state: dict | None = None
        self.best_metrics: dict = {}
        self._best_validation_oa: float | None = None
        self.iterations_done = 0
        self.seconds_per_iteration: float | None = None
        self._amp: torch.dtype | None = None
        self._xt: torch.Tensor | None = None
        self._stats: tuple[int, dict] | None = None  # (iteration, calibrated statistics)
        self._calibration_x: torch.Tensor | None = None  # the calibration windows, as input
        self.best_layer_statistics: dict | None = None

    # -- setup -------------------------------------------------------------------------------
    def _validation_split(self, given) -> tuple[np.ndarray, np.ndarray | None]:
        """(fit, validation) labels: the pixels in the loss and those that choose the kept
        state (None: keep the last). Only ``keep="best"`` holds pixels out."""
        cfg, train = self.config, self.train_labels
        if cfg.keep != "best":
            return train, None
        if given is not None:
            given = _check_labels("validation labels", given, train.shape)
            given = np.where(train > 0, 0, given)  # a pixel trains or validates, never both
            return train, (given if np.any(given) else None)
        return hold_out(train, cfg.validation_fraction, cfg.validation_min, seed=cfg.seed)

    @property
    def validation_pixels(self) -> int:
        """How many pixels choose the kept state (0: the last state is kept)."""
        return 0 if self.validation_labels is None else int((self.validation_labels > 0).sum())

    def _build_model(self, bands: int) -> torch.nn.Module:
        cfg = self.config
        try:
            model = build_model(
                cfg.model, bands, len(self.encoder), preset=cfg.preset, **cfg.model_kwargs
            )
        except (ValueError, TypeError) as exc:
            raise TrainingError(f"cannot build model {cfg.model!r}: {exc}") from None
        if isinstance(model, Ensemble) and model.config.get("variant") == "houston":
            raise TrainingError("the Houston variant trains as a single model, not an ensemble")
        return model

    @property
    def test_mask(self) -> np.ndarray | None:
        """The pixels scored as test: labelled in ``test_labels`` and not training pixels (held-out
        validation pixels are training pixels too); None without test labels."""
        if self.test_labels is None:
            return None
        return (self.test_labels > 0) & (self.train_labels == 0)

    @property
    def num_classes(self) -> int:
        return len(self.encoder)

    # -- control -----------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask training to end after the current iteration (safe from any thread)."""
        self._stop.set()

    def request_preview(self, region: tuple[slice, slice] | None = None) -> None:
        """Ask for a class-map preview with the next iteration's event (safe from any thread):
        the dock asks on a clock, so a map shows within seconds however long an iteration
        takes, where ``preview_every`` counts iterations. ``region`` (rows, cols): a windowed
        run maps only the tiles of that part of the scene (the part in view), the rest of the
        preview is 0; a whole preview of a big scene is a pass over all of it."""
        self._preview_region = region
        self._preview.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # -- evaluation --------------------------------------------------------------------------
    def _predict_map(self, needed: np.ndarray | None = None) -> np.ndarray:
        """Class map in float32, as ``Classifier.predict`` makes it by default: the metrics kept
        with a model are the ones its saved weights reproduce (bf16 would flip close calls). A
        windowed run predicts its scene tile by tile from the lazy cube, with the calibrated
        statistics the saved model will carry, and only the tiles holding ``needed`` pixels
        when given (the map is then valid there only)."""
        if self.windowed:
            return self._tiled_map(needed)
        self.model.eval()
        forward = self.model if self.config.reference else partial(logits, self.model)
        with torch.inference_mode():
            idx = forward(self._xt).argmax(dim=1)[0].cpu().numpy()
        self.model.train()
        return self.encoder.decode(idx)

    def _kept_model_test(self) -> dict:
        """Test metrics of the kept state (a windowed run kept mid-run, when the test pixels
        were not scored): its weights and statistics, only the test pixels' tiles."""
        now = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(self.best_state)
        try:
            pred = self._tiled_map(self.test_mask, frozen=self.best_layer_statistics)
        finally:
            self.model.load_state_dict(now)
        return self._evaluate(pred)

    def _tiled_map(self, needed: np.ndarray | None, frozen: dict | None = None,
                   box: tuple[slice, slice] | None = None) -> np.ndarray:
        """The class map from the scene's tiles holding ``needed`` pixels (all without), or of
        the region ``box`` alone on its own grid (a preview; 0 elsewhere)."""
        frozen = frozen if frozen is not None else self.layer_statistics()
        tile = max(int(self.config.window), SCORE_TILE)
        corners = None
        if box is not None:
            rows, cols = (s.indices(n)[:2] for s, n in zip(box, self.train_labels.shape,
                                                           strict=True))
            side = ceil_to(max(rows[1] - rows[0], cols[1] - cols[0])) + 2 * DEFAULT_OVERLAP
            tile = max(tile, min(PREVIEW_TILE, side))
            corners = (*rows, *cols)
        self.model.eval()
        try:
            with torch.inference_mode():
                index = predict_tiled(self.model, self._source, tile, DEFAULT_OVERLAP,
                                      self.device, prepare=tile_preparer(self.mean, self.std),
                                      frozen=frozen, needed=needed, labels=True, box=corners)
        finally:
            self.model.train()
        return self.encoder.decode(index)

    def layer_statistics(self) -> dict | None:
        """A windowed run's pooled-layer statistics for the current weights, calibrated on its
        fixed calibration windows (measured once per iteration, in one pass; the windows are
        read once a run); None for a whole-scene run."""
        if not self.windowed:
            return None
        if self._stats is None or self._stats[0] != self.iterations_done:
            if self._calibration_x is None:
                self._calibration_x = torch.from_numpy(read_windows(
                    self._source, self._calibration, self.windows.window, self.mean,
                    self.std)[0]).to(self.device)
            self._stats = (self.iterations_done, calibrate(self.model, self._calibration_x))
        return self._stats[1]

    def _evaluate(self, pred: np.ndarray) -> dict:
        """Metrics on the test labels (reported, never used to choose)."""
        return classification_metrics(
            pred, self.test_labels, exclude=self.train_labels > 0,
            class_values=self.encoder.values,
        )

    def _validate(self, pred: np.ndarray) -> dict:
        """Metrics on the held-out validation pixels (what ``keep="best"`` chooses on)."""
        return classification_metrics(pred, self.validation_labels,
                                      class_values=self.encoder.values)

    def _scored(self, test: bool = True) -> np.ndarray:
        """The pixels that scoring reads: the validation pixels, and the test pixels with
        ``test``."""
        mask = np.zeros(self.train_labels.shape, bool)
        if self.validation_labels is not None:
            mask |= self.validation_labels > 0
        if test and self.test_labels is not None:
            mask |= self.test_mask
        return mask

    def _scores(self, pred: np.ndarray, test: bool = True) -> tuple[dict | None, dict | None]:
        """(validation, test) metrics of the class map ``pred``, None where there is no set
        (or, without ``test``, for the test set)."""
        validation = None if self.validation_labels is None else self._validate(pred)
        tested = None if self.test_labels is None or not test else self._evaluate(pred)
        return validation, tested

    def _keep(self, validation: dict | None, test: dict | None, force: bool = False) -> bool:
        """Remember the current state if its validation OA is the best so far (a tie keeps the
        later state: it has trained longer), or with ``force``; True when kept. ``test`` is only
        recorded with it."""
        best = self._best_validation_oa
        better = validation is not None and (best is None or validation["oa"] >= best)
        if not (force or better):
            return False
        self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        self.best_layer_statistics = self.layer_statistics()
        self._best_validation_oa = None if validation is None else validation["oa"]
        chosen = (f"held-out training pixels ({self.validation_pixels} px)"
                  if self.validation_labels is not None else "last iteration")
        if self.validation_labels is None and self.config.keep == "best":
            cfg = self.config
            chosen += (f" (too few training pixels to hold out: {cfg.validation_fraction:.0%}"
                       f" of each class is under {cfg.validation_min}, so all of them trained)")
        self.best_metrics = dict(test or {}, iteration=self.iterations_done, selected_on=chosen,
                                 validation_oa=self._best_validation_oa,
                                 validation_pixels=self.validation_pixels)
        return True

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> Iterator[TrainEvent]:
        """Train, yielding one :class:`TrainEvent` per iteration.

        Closing the generator early (``break`` in the consumer) also settles the best model.
        """
        state: dict = {"last_scores": None}
        try:
            yield from self._iterate(state)
        except GeneratorExit:
            self._finish(state["last_scores"])
            raise
        except (RuntimeError, MemoryError) as exc:
            if not is_out_of_memory(exc):
                raise
            self._xt = None
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            bands, rows, cols = self.shape
            first = "train on the CPU" if self.device.type != "cpu" else "free memory"
            if self.windowed:
                (wh, ww), n = self.windows.window, self.config.windows_per_batch
                raise TrainingError(
                    f"out of memory training on {self.device.type.upper()} with {n} window(s) "
                    f"of {wh} x {ww} x {bands} per iteration: {first}, or use a smaller window "
                    "or fewer windows per batch.") from exc
            raise TrainingError(
                f"out of memory training on {self.device.type.upper()} with the {rows} x {cols} "
                f"x {bands} scene: the whole scene goes through the network at once, so its "
                f"activations must fit. {first.capitalize()}, crop or spatially bin the scene, "
                f"or use the smaller model defaults (preset 'none')."
            ) from exc
        self._finish(state["last_scores"])

    def _iterate(self, state: dict) -> Iterator[TrainEvent]:
        cfg, dev = self.config, self.device
        self._amp = amp_dtype(dev) if cfg.amp else None
        if dev.type == "cpu" and not cfg.reference:
            wanted = cfg.amp and cpu_has_native_bf16() if cfg.cpu_bf16 is None else cfg.cpu_bf16
            self._amp = torch.bfloat16 if wanted else None
        scaler = torch.amp.GradScaler("cuda", enabled=self._amp == torch.float16)
        model = self.model.to(dev).train()
        if self.windowed:  # a zero batch of the windows' shape: what compiling is probed on
            x = torch.zeros(cfg.windows_per_batch, self.shape[0], *self.windows.window,
                            device=dev)
        else:
            x = torch.from_numpy(self._x)[None].to(dev)
        targets = self._targets.to(dev)
        weights = self.class_weights.to(dev)
        houston = getattr(model, "config", {}).get("variant") == "houston"
        # Houston needs the dense B-channel map for its reconstruction loss: no sampled head
        sampled = (not cfg.reference and not houston
                   and getattr(model, "supports_sampled_head", False))
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                              weight_decay=cfg.weight_decay)
        self._xt = None if self.windowed else x
        flips = np.random.default_rng([cfg.seed, 1])  # its own stream: draws stay as they were
        h, w = x.shape[-2:]
        start = time.perf_counter()  # compiling counts as training time
        forward = model.sampled_logits if sampled else None
        if sampled and cfg.compile:
            forward = self._compiled(forward, x)
        graphed = None
        if (sampled and cfg.cuda_graph and not cfg.compile and dev.type == "cuda"
                and not scaler.is_enabled()):  # float16's changing loss scale stays eager
            graphed = self._graphed(forward, x, targets, weights)
        for it in range(cfg.iterations):
            if self._stop.is_set():
                break
            lr = poly_lr(cfg.lr, it, cfg.iterations, cfg.power)
            for group in opt.param_groups:
                group["lr"] = lr
            mask = None
            if self.windowed:  # this iteration's windows, read now, and the draw inside them
                batch = self.windows.draw()
                x = torch.from_numpy(read_windows(self._source, batch.origins,
                                                  self.windows.window, self.mean,
                                                  self.std)[0]).to(dev)
                index, target, mask = (torch.from_numpy(a).to(dev)
                                       for a in (batch.index, batch.target, batch.mask))
            else:
                index = torch.from_numpy(self.sampler.draw()).to(dev)
            k = int(flips.integers(8)) if cfg.augment else 0
            if graphed is not None:  # forward, loss and backward in one replay
                loss, hits = (graphed(index, k, x, target, mask) if self.windowed
                              else graphed(index, k))
            else:
                xk, where = dihedral(x, k), dihedral_index(index, k, h, w)
                opt.zero_grad(set_to_none=True)
                with autocast(dev, self._amp):
                    if sampled:
                        picked = forward(xk, where)
                    elif houston:
                        feats = model.features(xk)
                        picked = gather_pixels(model.classifier(feats), where)
                    elif isinstance(model, Ensemble):  # each member's own logits, stacked
                        picked = torch.stack([gather_pixels(m(xk), where) for m in model.members])
                    else:
                        picked = gather_pixels(model(xk), where)
                # the drawn pixels' labels, wherever the flip moved them: nothing else is in
                # the loss (a windowed draw brings its own; its padding has mask 0)
                if not self.windowed:
                    target = targets.index_select(0, index)
                loss = picked_cross_entropy(picked, target, weights, mask)
                if houston:
                    loss = loss + RECONSTRUCTION_WEIGHT * torch.mean((feats.float() - xk) ** 2)
            loss_value = float(loss.detach())
            if not np.isfinite(loss_value):
                raise TrainingError(
                    f"the loss became {loss_value} at iteration {it + 1}; lower the learning rate"
                )
            if graphed is None:
                scaler.scale(loss).backward()
                with torch.no_grad():
                    hits = picked_accuracy(picked, target, mask)
            scaler.unscale_(opt)
            groups = model.clip_groups() if isinstance(model, Ensemble) else [model.parameters()]
            for params in groups:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            acc = float(hits)
            self.iterations_done = done = it + 1
            last = done == cfg.iterations or self._stop.is_set()
            event = TrainEvent(done, cfg.iterations, loss_value, lr, acc,
                               time.perf_counter() - start)
            scored = self.test_labels is not None or self.validation_labels is not None
            # a windowed run scores its test pixels at the end only: mid-run they would cost a
            # pass over most of a big scene's tiles each time (see _finish for the kept model)
            test_now = (last and self.final_test) or not self.windowed
            if not test_now:
                scored = self.validation_labels is not None
            want_eval = scored and (last or (cfg.eval_every and done % cfg.eval_every == 0))
            want_preview = (cfg.preview_every and done % cfg.preview_every == 0) or (
                self._preview.is_set())
            region = None
            if want_preview:
                self._preview.clear()
                region = self._preview_region if self.windowed else None
            pred = None
            if want_eval or want_preview:
                shown = None
                if region is not None:  # a big scene's preview: only the region is shown
                    shown = np.zeros(self.train_labels.shape, bool)
                    shown[region] = True
                if not want_eval:  # a preview alone: the region on its own grid, or the scene
                    pred = (self._predict_map(None) if region is None
                            else self._tiled_map(None, box=region))
                else:  # scoring: the scored pixels' scene tiles, as the saved model predicts them
                    needed = self._scored(test_now)
                    if want_preview:  # and what the preview shows: its tiles, or every one
                        needed = None if region is None else needed | shown
                    pred = self._predict_map(needed)
            if want_eval:
                event.validation, event.test = self._scores(pred, test=test_now)
                event.best = event.validation is not None and self._keep(event.validation,
                                                                         event.test)
            if want_preview:
                event.preview = pred if region is None else np.where(shown, pred, 0)
            state["last_scores"] = (event.validation, event.test) if want_eval else None
            self.seconds_per_iteration = event.elapsed_s / done
            yield event

    def _compiled(self, fn, x: torch.Tensor):
        """``fn`` compiled with the configured backend, tried on every input shape training
        will see (forward and backward, no optimiser step, gradients cleared), else ``fn`` with
        a warning. A new shape means a new compilation, so ``augment`` on a non-square scene
        tries the transposed scene too: a compile that fails there must not end the run later."""
        size = (self.windows or self.sampler).draw_size
        index = torch.zeros(size, dtype=torch.long, device=x.device)
        h, w = x.shape[-2:]
        inputs = [x] + ([dihedral(x, TRANSPOSE)] if self.config.augment and h != w else [])

        def probe(compiled) -> None:
            for xk in inputs:
                with autocast(self.device, self._amp):
                    out = compiled(xk, index)
                out.float().sum().backward()
            self.model.zero_grad(set_to_none=True)

        fn, reason = compiled_or_eager(fn, probe, backend=self.config.compile)
        if reason:
            warnings.warn(f"torch.compile failed, training without it: {reason}", stacklevel=3)
        return fn

    def _graphed(self, forward, x: torch.Tensor, targets: torch.Tensor,
                 weights: torch.Tensor) -> GraphedIteration | None:
        """The iteration captured as CUDA graphs for every view training will draw, or None
        (eager) with a warning when capturing fails. A windowed run's ``x`` is a batch of the
        windows' shape (its values do not matter)."""
        views = list(range(8)) if self.config.augment else [0]
        try:
            if self.windowed:  # warm up on the batch's pixel 0 as class 0: a valid draw
                zeros = torch.zeros(self.windows.draw_size, dtype=torch.long)
                graphed = GraphedWindows(self.model, forward, x, zeros, weights, zeros,
                                         torch.ones(zeros.shape), self._amp)
            else:
                labelled = np.flatnonzero(self._targets.numpy() >= 0)
                warmup = torch.from_numpy(np.resize(labelled, self.sampler.draw_size))
                graphed = GraphedIteration(self.model, forward, x, targets, weights, warmup,
                                           self._amp)
            graphed.capture(views)
        except Exception as exc:  # capture rejects some ops/allocations; train eagerly then
            torch.cuda.synchronize(x.device)
            self.model.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()  # the failed capture's pool (e.g. after running out)
            warnings.warn(f"CUDA graph capture failed, training without it: "
                          f"{short_reason(exc)}", stacklevel=3)
            return None
        return graphed

    def _finish(self, last_scores: tuple | None) -> None:
        """Settle the kept model: score the final state if that was not done (stop between
        iterations) and keep it when its validation OA is the best, or always without
        validation pixels (``keep="last"``, too few painted pixels to hold any out)."""
        if self.iterations_done:
            test = self.final_test or not self.windowed
            scored = (self.test_labels is not None and test) or self.validation_labels is not None
            if last_scores is None and scored:
                last_scores = self._scores(self._predict_map(self._scored(test)), test=test)
            validation, test = last_scores or (None, None)
            self._keep(validation, test, force=self.validation_labels is None)
            if (self.windowed and self.final_test and self.test_labels is not None
                    and self.best_state is not None and "oa" not in self.best_metrics):
                # kept mid-run, before test scoring
                self.best_metrics.update(self._kept_model_test())
        self._xt = self._calibration_x = None  # free the device copies of the scene, windows
        self.model.zero_grad(set_to_none=True)  # and the gradients (fixed ones with CUDA graphs)

    def fit(self) -> Classifier:
        """Run to the end (or until stopped) and return :meth:`result`."""
        for _ in self.run():
            pass
        return self.result()

    # -- outcome -----------------------------------------------------------------------------
    def result(self) -> Classifier:
        """The best model so far as a :class:`Classifier` (weights copied, on the CPU)."""
        model = copy.deepcopy(self.model).cpu().eval()
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        return Classifier(
            model=model,
            model_name=getattr(model, "name", self.config.model),
            model_config=model_config(model),
            mean=self.mean,
            std=self.std,
            class_values=self.encoder.values,
            class_names={int(v): self.class_names[v] for v in self.encoder.values
                         if v in self.class_names},
            colors={int(v): self.colors[v] for v in self.encoder.values if v in self.colors},
            wavelengths=self.wavelengths,
            wavelength_units=self.wavelength_units,
            fwhm=self.fwhm,
            band_selection=self.band_selection,
            train_config=json.loads(json.dumps(asdict(self.config))),  # JSON-safe copy
            seed=self.config.seed,
            metrics=dict(self.best_metrics),
            layer_statistics=self.best_layer_statistics,
        )
