"""Unit tests for the viewing maths (no napari)."""

import numpy as np
import pytest

from napari_ssdgl.analysis import spectra
from napari_ssdgl.datasets import make_synthetic_scene


def test_nearest_bands_from_wavelengths():
    wl = np.linspace(400, 2500, 48)  # ~44.7 nm spacing
    bands, how = spectra.default_rgb_bands(48, wl, "nm")
    assert how == "wavelengths"
    assert bands == tuple(int(np.argmin(np.abs(wl - t))) for t in (640, 545, 460))
    assert bands == (5, 3, 1)


def test_micrometre_wavelengths_are_converted():
    wl = np.linspace(0.4, 2.5, 48)
    assert spectra.default_rgb_bands(48, wl, "micrometers") == ((5, 3, 1), "wavelengths")
    assert spectra.default_rgb_bands(48, wl, None) == ((5, 3, 1), "wavelengths")  # guessed


@pytest.mark.parametrize(
    ("wl", "units"),
    [
        (None, None),
        (np.linspace(400, 2500, 47), "nm"),  # wrong length
        (np.linspace(1000, 2500, 48), "nm"),  # SWIR only: visible targets out of range
        (np.linspace(400, 2500, 48), "cm-1"),  # units we cannot convert
    ],
)
def test_fallbacks(wl, units):
    assert spectra.default_rgb_bands(48, wl, units, fallback=[43, 21, 11]) == (
        (43, 21, 11), "metadata")
    assert spectra.default_rgb_bands(48, wl, units) == ((35, 24, 12), "spaced")
    assert spectra.default_rgb_bands(48, wl, units, fallback=[99, 1, 2])[1] == "spaced"


def test_bands_in_window():
    wl = np.arange(400.0, 1000.0, 10.0)
    np.testing.assert_array_equal(spectra.bands_in_window(wl, 700, 40), [28, 29, 30, 31, 32])
    np.testing.assert_array_equal(spectra.bands_in_window(wl, 703, 0), [30])


def test_rgb_composite_stretches_each_channel():
    rng = np.random.default_rng(0)
    cube = rng.normal(size=(6, 20, 30)).astype(np.float32)
    cube[0] *= 100  # very different ranges per band
    cube[2, 0, 0] = np.nan
    rgb = spectra.rgb_composite(cube, [0, 2, [4, 5]])
    assert rgb.shape == (20, 30, 3) and rgb.dtype == np.uint8
    for ch in range(3):  # 2-98 % stretch: ~2 % at each end saturates
        assert 0.005 < np.mean(rgb[..., ch] == 0) < 0.05
        assert 0.005 < np.mean(rgb[..., ch] == 255) < 0.05
    assert rgb[0, 0, 1] == 0
    f = spectra.rgb_composite(cube, [0, 1, 2], dtype="float32")
    assert f.dtype == np.float32 and 0 <= f.min() and f.max() <= 1
    assert spectra.percentile_limits(np.ones((4, 4))) == (1.0, 2.0)  # constant band: no /0


def test_band_image_is_a_view():
    cube = np.zeros((4, 5, 5), dtype=np.float32)
    assert np.shares_memory(spectra.band_image(cube, 2), cube)
    assert spectra.band_image(cube, [1, 2]).shape == (5, 5)


def test_spectrum_at():
    cube = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    np.testing.assert_array_equal(spectra.spectrum_at(cube, 2, 3), cube[:, 2, 3])
    assert spectra.spectrum_at(cube, 4, 0) is None and spectra.spectrum_at(cube, 0, -1) is None


def test_band_axis():
    x, label = spectra.band_axis(3, [1.0, 2.0, 3.0], "µm")
    assert label == "wavelength (µm)" and list(x) == [1, 2, 3]
    x, label = spectra.band_axis(3, [1.0, 2.0], "nm")
    assert label == "band" and list(x) == [0, 1, 2]


def test_class_spectra_match_numpy():
    scene = make_synthetic_scene(size=32, bands=12, n_classes=4)
    cube, gt = scene.cube.data.copy(), scene.gt.data
    cube[3, gt == 2] = np.nan  # one band of one class has a NaN pixel... all of them
    cube[5, 0, 0] = np.inf
    res = spectra.class_spectra(cube, gt, max_elements=2000)  # several band blocks
    assert list(res.values) == sorted(set(np.unique(gt)) - {0})
    for i, v in enumerate(res.values):
        pix = cube[:, gt == v].astype(np.float64)
        assert res.count[i] == pix.shape[1]
        for b in range(cube.shape[0]):
            good = pix[b][np.isfinite(pix[b])]
            if good.size == 0:
                assert np.isnan(res.mean[i, b])
                continue
            np.testing.assert_allclose(res.mean[i, b], good.mean(), rtol=1e-9)
            np.testing.assert_allclose(res.std[i, b], good.std(), rtol=1e-6, atol=1e-12)


def test_class_spectra_edge_cases():
    cube = np.ones((3, 4, 4))
    empty = spectra.class_spectra(cube, np.zeros((4, 4), int))
    assert empty.mean.shape == (0, 3)
    with pytest.raises(ValueError, match="do not match"):
        spectra.class_spectra(cube, np.zeros((4, 5), int))


def test_class_spectra_precision_with_large_offset():
    rng = np.random.default_rng(1)
    cube = 1e6 + 1e-3 * rng.standard_normal((2, 50, 50))  # tiny spread on a big offset
    labels = rng.integers(0, 3, (50, 50))
    res = spectra.class_spectra(cube, labels)
    for i, v in enumerate(res.values):
        np.testing.assert_allclose(res.std[i], cube[:, labels == v].std(1), rtol=1e-4)
