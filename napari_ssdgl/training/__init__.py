"""Training engine: label sampling, the weighted loss and the global (patch-free) trainer."""

from napari_ssdgl.training.errors import TrainingError
from napari_ssdgl.training.loss import effective_number_weights, weighted_cross_entropy
from napari_ssdgl.training.sampling import (
    DEFAULT_DRAW,
    HBSampler,
    LabelEncoder,
    split_by_fraction,
    split_per_class,
)
from napari_ssdgl.training.trainer import TrainConfig, Trainer, TrainEvent

__all__ = [
    "DEFAULT_DRAW",
    "HBSampler",
    "LabelEncoder",
    "TrainConfig",
    "TrainEvent",
    "Trainer",
    "TrainingError",
    "effective_number_weights",
    "split_by_fraction",
    "split_per_class",
    "weighted_cross_entropy",
]
