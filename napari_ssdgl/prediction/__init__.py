"""Applying a trained model: the :class:`Classifier` (model + metadata), model files,
whole-scene and tiled inference, and prediction over dask arrays (:mod:`.dask_predict`, needs the
dask extra, so it is not imported here)."""

from napari_ssdgl.prediction.classifier import BandMismatchError, Classifier
from napari_ssdgl.prediction.inference import Prediction, predict_probabilities
from napari_ssdgl.prediction.modelfile import ModelFileError, load_classifier, save_classifier

__all__ = [
    "BandMismatchError",
    "Classifier",
    "ModelFileError",
    "Prediction",
    "load_classifier",
    "predict_probabilities",
    "save_classifier",
]
