"""Patch-free hyperspectral segmentation networks: SSDGL and its FreeNet baseline."""

from napari_ssdgl.models.ensemble import Ensemble
from napari_ssdgl.models.freenet import FreeNet
from napari_ssdgl.models.presets import MODELS, PRESETS, build_model, model_config
from napari_ssdgl.models.ssdgl import SSDGL

__all__ = ["MODELS", "PRESETS", "SSDGL", "Ensemble", "FreeNet", "build_model", "model_config"]
