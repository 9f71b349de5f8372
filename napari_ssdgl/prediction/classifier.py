"""A trained model together with everything needed to apply it to a new cube."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import torch

from napari_ssdgl.io.base import pixels
from napari_ssdgl.prediction.inference import Prediction, predict_probabilities
from napari_ssdgl.prediction.spectral import BandMismatchError, BandPlan, BandSelection, plan_bands
from napari_ssdgl.prediction.tiling import DEFAULT_OVERLAP, tile_preparer
from napari_ssdgl.transforms.normalize import clean_and_normalize

__all__ = ["BandMismatchError", "BandSelection", "Classifier", "Prediction"]

Array = TypeVar("Array")  # numpy or dask: ``check`` returns the same kind (``tiles``: or a view)


MIN_SIZE = 2  # rows and cols: a label raster (io.read_labels) has at least 2 of each


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
    # the bands the model takes: their centres' units and FWHM (for resampling another
    # sensor's cube), and which bands of the training cube they are (when some were excluded)
    wavelength_units: str | None = None
    fwhm: np.ndarray | None = None
    band_selection: BandSelection | None = None
    # a window-trained model's fixed statistics of its pooled layers (GroupNorm, attention
    # pools; ``SceneStatistics.export_frozen`` form, measured on training windows): prediction
    # uses them everywhere, so tiles need no statistics passes. None: whole-scene statistics
    layer_statistics: dict | None = None

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

    def plan(self, bands: int, wavelengths=None, units: str | None = None, *, flags=None,
             data=None) -> BandPlan:
        """How a cube of ``bands`` bands (with ``wavelengths`` in ``units``, when known) becomes
        this model's input: as it is, through the model's band selection, or resampled
        (:func:`~.spectral.plan_bands`; a resampling first drops the bands its ``flags`` mark
        bad and those of ``data`` without usable values); a BandMismatchError says why it
        cannot."""
        return plan_bands(bands, self.bands, wavelengths=wavelengths, units=units,
                          model_wavelengths=self.wavelengths, model_units=self.wavelength_units,
                          model_fwhm=self.fwhm, selection=self.band_selection, flags=flags,
                          data=data)

    def plan_for(self, cube) -> BandPlan:
        """:meth:`plan` for a Cube (its wavelengths, units, bad-band flags and data) or a bare
        array (band count and data)."""
        data = pixels(cube)
        if getattr(data, "ndim", 0) != 3:
            raise ValueError(f"a cube must be 3-D (bands, rows, cols), got shape "
                             f"{getattr(data, 'shape', None)}")
        return self.plan(int(data.shape[0]), getattr(cube, "wavelengths", None),
                         getattr(cube, "wavelength_units", None),
                         flags=getattr(cube, "bad_bands", None), data=data)

    def check(self, data: Array, plan: BandPlan | None = None, *, tiles: bool = False
              ) -> Array:
        """``data``, a (bands, rows, cols) array of any kind (numpy, dask), in the model's bands
        (``plan``, by default :meth:`plan` from the band count alone: as it is or through the
        band selection), after checking its shape, bands and size (at least ``MIN_SIZE`` x
        ``MIN_SIZE`` pixels): the one check of every prediction path, in memory, tiled or
        dask. A dask array stays lazy; a numpy one is itself when its bands are the model's,
        else a copy. ``tiles``: for reading tile by tile (:meth:`BandPlan.view`): a lazy array
        (dask, zarr, HDF5, a memory map) is only looked at (shape), its bands selected or
        resampled as each tile is read."""
        if data.ndim != 3:
            raise ValueError(f"a cube must be 3-D (bands, rows, cols), got shape {data.shape}")
        plan = plan or self.plan(int(data.shape[0]))
        data = plan.view(data) if tiles else plan.apply(data)
        rows, cols = data.shape[1:]
        if min(rows, cols) < MIN_SIZE:
            raise ValueError(f"the cube is {rows} x {cols} pixels; a class map needs at least "
                             f"{MIN_SIZE} x {MIN_SIZE} (rows x cols)")
        return data

    def _check(self, cube, plan: BandPlan | None = None) -> np.ndarray:
        """The numpy array of ``cube`` (ndarray or Cube; no copy unless its bands change),
        checked."""
        return self.check(np.asarray(pixels(cube)), plan)

    def prepare(self, cube, plan: BandPlan | None = None) -> np.ndarray:
        """Normalised float32 copy of ``cube`` (ndarray or Cube) in the model's bands."""
        clean, messages = clean_and_normalize(self._check(cube, plan), self.mean, self.std)
        for m in messages:
            warnings.warn(m, stacklevel=3)
        return clean

    def predict(
        self,
        cube,
        *,
        tile_size: int | None = None,
        overlap: int = DEFAULT_OVERLAP,
        device: str | torch.device = "auto",
        scene_stats: bool = True,
        amp: bool = False,
        tta: bool = False,
        bands: BandPlan | None = None,
    ) -> Prediction:
        """Class map, probabilities, entropy and margin for a (bands, rows, cols) cube.

        ``tile_size`` predicts in overlapping tiles with bounded memory; with ``scene_stats`` the
        tiles share the scene-wide normalisation statistics, so the result matches the
        whole-scene prediction closely (several passes; see :mod:`.tiling`). Tiled,
        the cube is normalised window by window and never copied whole (it may be a memory
        map), so the memory beyond the cube is one window's work plus the outputs. ``amp``:
        bfloat16 where the hardware has it (faster, slightly different probabilities).
        ``tta``: average over the 8 flips/transposes of the scene, for a model trained with
        ``augment`` (see :func:`~.inference.predict_probabilities`).

        ``bands``: how the cube's bands become the model's (:meth:`plan`); by default planned
        from ``cube`` (a Cube's wavelengths, else the band count), with a warning when that
        resamples it. An in-memory cube whose bands are selected or resampled is copied in the
        model's bands first, also when tiled (float32 for resampling). Tiled, a lazy cube (a
        dask, zarr or HDF5 array, a memory map, or a Cube of one) is never read whole: each
        tile is read, its bands selected or resampled (NaN/inf then replaced by the tile's
        band means), cleaned and z-scored alone.
        """
        if bands is None:
            bands = self.plan_for(cube)
            if bands.warning:
                warnings.warn(bands.warning, stacklevel=2)
        if tile_size is None:
            probs = predict_probabilities(self.model, self.prepare(cube, bands), overlap=overlap,
                                          device=device, scene_stats=scene_stats, amp=amp,
                                          tta=tta, frozen=self.layer_statistics)
            return Prediction.from_probabilities(probs, self.class_values)
        replaced: list[str] = []
        data = pixels(cube)
        if not (hasattr(data, "shape") and hasattr(data, "__getitem__")):
            data = np.asarray(data)  # nested lists and the like
        probs = predict_probabilities(
            self.model, self.check(data, bands, tiles=True), tile_size=tile_size,
            overlap=overlap, device=device, scene_stats=scene_stats,
            prepare=tile_preparer(self.mean, self.std, replaced), amp=amp, tta=tta,
            frozen=self.layer_statistics,
        )
        if replaced:
            warnings.warn("NaN/inf values in the cube were replaced by the band mean",
                          stacklevel=2)
        return Prediction.from_probabilities(probs, self.class_values)
