"""A small synthetic hyperspectral scene that needs no download.

Fields (a jittered Voronoi partition) each hold one land-cover class. Class spectra are smooth
reflectance curves (vegetation red edge and leaf-water bands, soil continuum with a clay
feature, dark water, ...). Three vegetation classes differ only in shape, not in kind, and a
smooth illumination field plus sub-pixel soil mixing vary brightness within fields, so a
classifier must use the spectral shape, yet it can reach high accuracy. Field borders are mixed
pixels and unlabelled (0), as in real ground truth.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from napari_ssdgl.datasets._registry import class_tables, scene_info
from napari_ssdgl.datasets._scene import Scene
from napari_ssdgl.io.base import Cube, LabelMap

_BARE_SOIL = 3  # row of the bare-soil prototype: the one class that gets no soil mixed in


def _gauss(wl: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((wl - centre) / width) ** 2)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _water_bands(wl: np.ndarray, depth: float) -> np.ndarray:
    """Multiplicative liquid-water absorption (970, 1200, 1450, 1940 nm)."""
    absorb = (
        0.12 * _gauss(wl, 970, 35)
        + 0.2 * _gauss(wl, 1200, 45)
        + 0.5 * _gauss(wl, 1450, 60)
        + 0.75 * _gauss(wl, 1940, 80)
    )
    return 1.0 - depth * absorb


def _vegetation(wl, green, red, nir, edge, swir_drop, water):
    plateau = red + (nir - red) * _sigmoid((wl - edge) / 14.0)
    plateau = plateau * (1.0 - swir_drop * _sigmoid((wl - 1350.0) / 140.0))
    return (plateau + green * _gauss(wl, 550, 30)) * _water_bands(wl, water)


def _soil(wl):
    x = (wl - 400.0) / 2100.0
    cont = 0.1 + 0.28 * np.sqrt(x) - 0.05 * _sigmoid((600.0 - wl) / 40.0)
    return cont * (1.0 - 0.15 * _gauss(wl, 2200, 40)) * _water_bands(wl, 0.3)


def _prototypes(wl: np.ndarray) -> np.ndarray:
    """Class reflectance spectra, one row per class in registry order (value 1 first)."""
    x = (wl - 400.0) / 2100.0
    meadow = _vegetation(wl, 0.07, 0.04, 0.45, 718, 0.50, 1.0)
    forest = _vegetation(wl, 0.04, 0.03, 0.33, 726, 0.62, 1.2)
    cropland = _vegetation(wl, 0.10, 0.06, 0.52, 710, 0.42, 0.8)
    water = 0.07 * np.exp(-(wl - 400.0) / 220.0) + 0.012 + 0.01 * _gauss(wl, 560, 40)
    asphalt = (0.07 + 0.05 * x) * (1.0 - 0.08 * _gauss(wl, 1730, 30) - 0.1 * _gauss(wl, 2310, 40))
    roof = (0.06 + 0.3 * _sigmoid((wl - 580.0) / 30.0)) * (1.0 - 0.2 * _gauss(wl, 2200, 50))
    roof = roof * _water_bands(wl, 0.2)
    sand = (0.28 + 0.2 * np.sqrt(x)) * _water_bands(wl, 0.15)
    return np.stack([meadow, forest, cropland, _soil(wl), water, asphalt, roof, sand])


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Spatially smooth noise with zero mean and unit standard deviation."""
    n = gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return (n - n.mean()) / n.std()


def make_synthetic_scene(seed: int = 0, size: int = 64, bands: int = 48, n_classes: int = 6
                         ) -> Scene:
    """A deterministic ``(bands, size, size)`` float32 reflectance scene with ``n_classes`` classes.

    The same seed always gives the same scene. ``n_classes`` is 2..8; wavelengths span
    400-2500 nm.
    """
    info = scene_info("synthetic")
    if not 2 <= n_classes <= len(info["class_names"]):
        raise ValueError(f"n_classes must be 2..{len(info['class_names'])}, got {n_classes}")
    if size < 16 or bands < 8:
        raise ValueError(f"size must be >= 16 and bands >= 8, got size={size}, bands={bands}")
    rng = np.random.default_rng(seed)
    wl = np.linspace(400.0, 2500.0, bands)
    protos = _prototypes(wl)[:n_classes]

    # Fields: one seed per cell of a g x g grid, so fields have similar sizes.
    g = max(int(np.ceil(np.sqrt(2 * n_classes))), round(size / 16))
    cell = size / g
    ij = np.stack(np.meshgrid(np.arange(g), np.arange(g), indexing="ij"), -1).reshape(-1, 2)
    seeds = (ij + rng.uniform(0.15, 0.85, ij.shape)) * cell
    field_class = rng.permutation(np.resize(rng.permutation(n_classes), len(seeds)))
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    dist = np.hypot(yy[None] - seeds[:, 0, None, None], xx[None] - seeds[:, 1, None, None])
    order = np.argsort(dist, axis=0)[:2]
    d = np.take_along_axis(dist, order, axis=0)
    border = (d[1] - d[0]) < 1.0  # 1-px-wide strips between fields
    cls1, cls2 = field_class[order[0]], field_class[order[1]]

    # Field-level spectral variability (each field is its own "crop lot") and soil mixing.
    field_gain = 1.0 + 0.04 * rng.standard_normal((len(seeds), bands)).cumsum(1) / np.sqrt(bands)
    spectra = protos[cls1] * field_gain[order[0]]
    spectra[border] = 0.5 * (spectra[border] + (protos[cls2] * field_gain[order[1]])[border])
    soil_frac = 0.15 * np.clip(0.5 + 0.3 * _smooth_noise(rng, size, 3), 0, 1)
    soil_frac[cls1 == _BARE_SOIL] = 0.0
    spectra = (1 - soil_frac[..., None]) * spectra + soil_frac[..., None] * _soil(wl)
    illum = np.clip(1.0 + 0.15 * _smooth_noise(rng, size, 8), 0.6, 1.4)
    illum = illum * (1.0 + 0.03 * rng.standard_normal((size, size)))
    spectra = spectra * illum[..., None] + 0.004 * rng.standard_normal(spectra.shape)

    data = np.ascontiguousarray(np.moveaxis(spectra, -1, 0), dtype=np.float32)
    gt = np.where(border, 0, cls1 + 1).astype(np.int32)
    names, colors = class_tables(info, n_classes)
    source = f"synthetic:seed={seed},size={size},bands={bands},n_classes={n_classes}"
    cube = Cube(data, wavelengths=wl, wavelength_units="nm", source=source, name=info["title"])
    labels = LabelMap(gt, source=source, name=f"{info['title']} ground truth",
                      class_names=names, colors=colors)
    rgb = tuple(int(np.argmin(np.abs(wl - w))) for w in info["rgb_wavelengths_nm"])
    return Scene("synthetic", cube, labels, rgb)
