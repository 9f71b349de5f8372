"""Suspect-band detection (analysis.bands) on small cubes with planted bad bands."""

import dask.array as da
import numpy as np
import pytest

from napari_ssdgl.analysis.bands import BandReport, band_noise, band_snr, detect_bad_bands


def clean_cube(bands: int = 12, size: int = 24, seed: int = 0) -> np.ndarray:
    """Smooth spatial structure (a gradient plus two blocks) in every band, scaled per band,
    with a little pixel noise: every band has a high signal-to-noise ratio."""
    rng = np.random.default_rng(seed)
    r, c = np.mgrid[0:size, 0:size] / size
    base = np.sin(3 * r) + np.cos(2 * c)
    base[4:12, 4:12] += 1.5
    base[14:22, 10:20] -= 1.0
    scale = 1.0 + 0.5 * np.sin(np.arange(bands))
    cube = scale[:, None, None] * base + rng.normal(scale=0.05, size=(bands, size, size))
    return cube.astype(np.float32)


def test_clean_cube_flags_nothing():
    report = detect_bad_bands(clean_cube())
    assert report.reasons == {}
    assert report.indices == []
    assert report.summary() == "no suspect bands among 12"
    assert np.all(report.snr > 5)


def test_each_kind_of_planted_bad_band_is_found_with_its_reason():
    cube = clean_cube(bands=12)
    rng = np.random.default_rng(1)
    cube[1] = rng.normal(size=cube.shape[1:])  # pure noise: low SNR
    cube[3] = 7.0  # constant
    cube[4] = 7.0 + rng.normal(scale=1e-7, size=cube.shape[1:])  # near-constant
    cube[6, :3] = np.nan  # 3 of 24 rows: 12.5 % non-finite
    cube[7] = np.inf
    flags = np.zeros(12, bool)
    flags[9] = True
    wl = np.linspace(1300, 1500, 12)  # bands 3..8 lie in the 1350-1450 nm window
    report = detect_bad_bands(cube, wl, "nm", flags)
    window = "water absorption 1350-1450 nm"
    in_window = set(np.flatnonzero((wl >= 1350) & (wl <= 1450)))
    assert in_window == {3, 4, 5, 6, 7, 8}
    assert report.reasons[9] == ("flagged bad by the file",)
    assert report.reasons[3] == (window, "constant")
    assert report.reasons[4] == (window, "near-constant")
    assert report.reasons[6] == (window, "non-finite in 12% of pixels")
    assert report.reasons[7][:2] == (window, "no finite values")
    assert report.reasons[1][0].startswith("low SNR (")
    assert report.reasons[5] == (window,) and report.reasons[8] == (window,)
    assert set(report.indices) == {1, 3, 4, 5, 6, 7, 8, 9}
    assert report.summary().startswith("8 suspect bands of 12: 1 low SNR")


def test_micrometre_wavelengths_and_flags_alone():
    cube = clean_cube(bands=6)
    report = detect_bad_bands(cube, [1.0, 1.2, 1.4, 1.6, 1.85, 2.1], "micrometers")
    assert report.indices == [2, 4]
    assert report.reasons[4] == ("water absorption 1800-1950 nm",)
    # no units: values under 30 are micrometres
    assert detect_bad_bands(cube, [1.0, 1.2, 1.4, 1.6, 1.85, 2.1]).indices == [2, 4]
    # wavelengths of the wrong length are ignored, not misread
    assert detect_bad_bands(cube, [1400.0, 1900.0]).indices == []


def test_dask_cube_reads_only_the_central_window_and_agrees_with_numpy():
    cube = clean_cube(bands=8, size=40)
    cube[2] = np.random.default_rng(2).normal(size=cube.shape[1:])
    lazy = da.from_array(cube, chunks=(8, 10, 10))
    a = detect_bad_bands(cube, window=16)
    b = detect_bad_bands(lazy, window=16)
    assert a.reasons == b.reasons and a.indices == [2]
    np.testing.assert_allclose(a.snr, b.snr)


def test_noise_estimate_matches_the_planted_noise_and_ignores_edges():
    rng = np.random.default_rng(3)
    image = np.zeros((64, 64))
    image[:, 32:] = 10.0  # one sharp edge
    noisy = image + rng.normal(scale=0.5, size=image.shape)
    assert band_noise(noisy) == pytest.approx(0.5, rel=0.1)
    snr, std = band_snr(noisy[None])
    assert snr[0] == pytest.approx(np.sqrt(std[0] ** 2 - 0.25) / 0.5, rel=0.15)
    assert snr[0] > 8


def test_summary_merges_runs_of_the_same_kinds_of_reason():
    report = BandReport(10, {0: ("low SNR (1.6)",), 1: ("low SNR (1.5)",),
                             3: ("water absorption 1350-1450 nm", "low SNR (0.5)"),
                             4: ("water absorption 1350-1450 nm", "low SNR (0.8)"),
                             5: ("water absorption 1350-1450 nm",),
                             7: ("non-finite in 12% of pixels",)})
    assert report.summary() == (
        "6 suspect bands of 10: 0-1 low SNR (1.5-1.6); 3-4 water absorption 1350-1450 nm, "
        "low SNR (0.5-0.8); 5 water absorption 1350-1450 nm; 7 non-finite in 12% of pixels")
