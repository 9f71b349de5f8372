"""Live mode (issue 18): a per-pixel spectral classifier fast enough to refit after every stroke.

A small MLP (bands -> ``hidden`` -> classes, ReLU) on z-scored spectra, trained full-batch with
Adam and class-balanced cross-entropy on the painted pixels only, then applied to every pixel
of the scene. It sees no spatial context (``smooth`` averages the probabilities over a small
window, a cheap spatial prior), so it is a first map while painting, not a substitute for
SSDGL: SSDGL is the refining pass. :class:`LiveScene` z-scores the cube once and keeps its
spectra as one ``(pixels, bands)`` matrix, so each refit costs only the fit and one matrix
product over the scene. It runs on the CPU with torch's current thread count.

The result, :class:`LiveClassifier`, predicts like a :class:`~..prediction.Classifier`
(``predict(cube)`` gives a :class:`~..prediction.Prediction`; ``class_values``, ``class_names``,
``colors``), so the same output code can show it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from napari_ssdgl.io.base import pixels
from napari_ssdgl.prediction.inference import Prediction
from napari_ssdgl.training.errors import TrainingError
from napari_ssdgl.training.sampling import LabelEncoder
from napari_ssdgl.transforms.normalize import band_statistics, normalize, replace_nonfinite

HIDDEN = 64
STEPS = 150
LR = 0.01
WEIGHT_DECAY = 1e-3
NOISE = 0.1  # std of the Gaussian noise added to the z-scored training spectra each step
# half-width of the probability smoothing window (0 = none). Indian Pines, 10 px per class,
# 3 seeds: OA 54 % without, 65 % (3x3), 68 % (5x5), 70 % (7x7); 5x5 blurs edges less
SMOOTH = 2


def _mlp(bands: int, hidden: int, classes: int) -> nn.Module:
    return nn.Sequential(nn.Linear(bands, hidden), nn.ReLU(), nn.Linear(hidden, classes))


@dataclass
class LiveClassifier:
    """A fitted live model: MLP + the normalisation and class table of its scene."""

    model: nn.Module
    mean: np.ndarray
    std: np.ndarray
    class_values: np.ndarray
    class_names: dict[int, str] = field(default_factory=dict)
    colors: dict[int, str] = field(default_factory=dict)
    smooth: int = SMOOTH
    fit_seconds: float = 0.0
    model_name: str = "live-mlp"

    @property
    def bands(self) -> int:
        return int(np.asarray(self.mean).size)

    @property
    def num_classes(self) -> int:
        return int(np.asarray(self.class_values).size)

    def predict_pixels(self, pixels: torch.Tensor, shape: tuple[int, int]) -> Prediction:
        """Prediction of z-scored ``(rows*cols, bands)`` spectra laid out as ``shape``."""
        self.model.eval()
        with torch.inference_mode():
            probs = torch.softmax(self.model(pixels), dim=1).T.reshape(-1, *shape)
            if self.smooth:
                k = 2 * int(self.smooth) + 1
                probs = nn.functional.avg_pool2d(probs[None], k, stride=1, padding=self.smooth,
                                                 count_include_pad=False)[0]
        return Prediction.from_probabilities(probs.numpy(), self.class_values)

    def predict(self, cube) -> Prediction:
        """Class map and probabilities of a (bands, rows, cols) cube (or a :class:`LiveScene`)."""
        bands = cube.bands if isinstance(cube, LiveScene) else np.shape(getattr(cube, "data",
                                                                               cube))[0]
        if bands != self.bands:
            raise TrainingError(f"the cube has {bands} bands but the live model was fitted on "
                                f"{self.bands}")
        scene = cube if isinstance(cube, LiveScene) else LiveScene(cube, self.mean, self.std)
        return self.predict_pixels(scene.pixels, scene.shape)


class LiveScene:
    """One cube's z-scored spectra, made once for many live fits (``fit``) and maps."""

    def __init__(self, cube, mean: np.ndarray | None = None, std: np.ndarray | None = None):
        cube = np.asarray(pixels(cube))
        if cube.ndim != 3:
            raise TrainingError(f"the cube must be 3-D (bands, rows, cols), got shape {cube.shape}")
        clean, _ = replace_nonfinite(cube, fill=mean)
        if mean is None or std is None:
            mean, std = band_statistics(clean)
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        x = normalize(clean, self.mean, self.std, out=clean)
        self.bands, self.shape = int(cube.shape[0]), tuple(cube.shape[1:])
        self.pixels = torch.from_numpy(np.ascontiguousarray(x.reshape(self.bands, -1).T))

    def fit(self, labels: np.ndarray, *, hidden: int = HIDDEN, steps: int = STEPS,
            lr: float = LR, weight_decay: float = WEIGHT_DECAY, noise: float = NOISE,
            smooth: int = SMOOTH, seed: int = 0, class_names: dict | None = None,
            colors: dict | None = None) -> LiveClassifier:
        """Fit the MLP on the painted pixels of ``labels`` ((rows, cols), 0 = unlabelled)."""
        start = time.perf_counter()
        labels = np.asarray(labels)
        if labels.shape != self.shape:
            raise TrainingError(f"labels have shape {labels.shape} but the cube is {self.shape}")
        flat = labels.reshape(-1).astype(np.int64)
        where = np.flatnonzero(flat > 0)
        encoder = LabelEncoder.from_labels(flat[where])
        if len(encoder) < 2:
            raise TrainingError("live mode needs painted pixels of at least 2 classes")
        y = torch.from_numpy(encoder.encode(flat[where]))
        x = self.pixels[torch.from_numpy(where)]
        counts = torch.bincount(y, minlength=len(encoder)).float()
        weights = counts.sum() / (len(encoder) * counts)  # balanced: rare classes count as much
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        model = _mlp(self.bands, hidden, len(encoder))
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        loss_fn = nn.CrossEntropyLoss(weight=weights)
        model.train()
        for _ in range(int(steps)):
            xi = x + noise * torch.randn(x.shape, generator=gen) if noise else x
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xi), y)
            loss.backward()
            opt.step()
        names, cols = dict(class_names or {}), dict(colors or {})
        values = encoder.values
        return LiveClassifier(
            model.eval(), self.mean, self.std, values,
            class_names={int(v): names[v] for v in values if v in names},
            colors={int(v): cols[v] for v in values if v in cols},
            smooth=int(smooth), fit_seconds=time.perf_counter() - start)


def fit_pixels(cube, labels: np.ndarray, **options) -> LiveClassifier:
    """Fit a live model on the painted pixels of ``labels`` over ``cube`` (see
    :meth:`LiveScene.fit` for ``options``)."""
    return LiveScene(cube).fit(labels, **options)
