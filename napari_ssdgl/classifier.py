"""A trained model together with everything needed to apply it to a new cube."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from .inference import Prediction, predict_probabilities
from .training.preprocess import normalize, replace_nonfinite

__all__ = ["BandMismatchError", "Classifier", "Prediction"]


class BandMismatchError(ValueError):
    """The cube has a different number of bands from the one the model was trained on."""


@dataclass
class Classifier:
    """Model + normalisation + class table. ``predict`` returns a :class:`Prediction`."""

    model: torch.nn.Module
    model_name: str
    model_config: dict
    mean: np.ndarray  # (bands,) float32, from the training scene
    std: np.ndarray  # (bands,) float32
    class_values: np.ndarray  # (K,) label value of each output channel
    class_names: dict[int, str] = field(default_factory=dict)
    colors: dict[int, str] = field(default_factory=dict)
    wavelengths: np.ndarray | None = None
    train_config: dict = field(default_factory=dict)
    seed: int | None = None
    metrics: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float32)
        self.std = np.asarray(self.std, dtype=np.float32)
        self.class_values = np.asarray(self.class_values, dtype=np.int64)

    @property
    def bands(self) -> int:
        return int(self.mean.size)

    @property
    def num_classes(self) -> int:
        return int(self.class_values.size)

    def prepare(self, cube) -> np.ndarray:
        """Normalised float32 copy of ``cube`` (ndarray or Cube); checks the band count."""
        data = np.asarray(getattr(cube, "data", cube))
        if data.ndim != 3:
            raise ValueError(f"a cube must be 3-D (bands, rows, cols), got shape {data.shape}")
        if data.shape[0] != self.bands:
            raise BandMismatchError(
                f"the cube has {data.shape[0]} bands but the model was trained on {self.bands}; "
                "apply it only to cubes from the same sensor and band set"
            )
        clean, messages = replace_nonfinite(data, fill=self.mean)
        for m in messages:
            warnings.warn(m, stacklevel=3)
        return normalize(clean, self.mean, self.std)

    def predict(
        self,
        cube,
        *,
        tile_size: int | None = None,
        overlap: int = 64,
        device: str | torch.device = "auto",
        scene_stats: bool = True,
    ) -> Prediction:
        """Class map, probabilities, entropy and margin for a (bands, rows, cols) cube.

        ``tile_size`` predicts in overlapping tiles with bounded memory; with ``scene_stats`` the
        tiles share the scene-wide normalisation statistics, so the result matches the
        whole-scene prediction closely (several passes; see :mod:`napari_ssdgl.tiling`).
        """
        x = self.prepare(cube)
        probs = predict_probabilities(
            self.model, x, tile_size=tile_size, overlap=overlap, device=device,
            scene_stats=scene_stats,
        )
        return Prediction.from_probabilities(probs, self.class_values)
