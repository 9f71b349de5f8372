"""Deprecated alias of :mod:`napari_ssdgl.io.lazy` (lazy readers moved into ``io``); removed in
the next release."""

import warnings

from napari_ssdgl.io.lazy import can_open_lazy, is_zarr_dir, open_lazy, sample_contrast_limits

warnings.warn("napari_ssdgl.lazy is deprecated: import from napari_ssdgl.io.lazy instead",
              DeprecationWarning, stacklevel=2)

__all__ = ["can_open_lazy", "is_zarr_dir", "open_lazy", "sample_contrast_limits"]
