"""Patch-free hyperspectral segmentation networks: SSDGL and its FreeNet baseline."""

from .ensemble import Ensemble
from .freenet import FreeNet
from .presets import MODELS, PRESETS, build_model, model_config
from .ssdgl import SSDGL

__all__ = ["MODELS", "PRESETS", "SSDGL", "Ensemble", "FreeNet", "build_model", "model_config"]
