"""Spectral resampling matrices (transforms.resample)."""

import numpy as np
import pytest

from napari_ssdgl.transforms.resample import (
    FWHM_TO_SIGMA,
    CoverageError,
    apply_matrix,
    check_coverage,
    gaussian_weights,
    largest_gap,
    linear_weights,
    resampling_matrix,
)


def test_linear_weights_interpolate_and_hold_at_the_ends():
    src = np.array([400.0, 410.0, 430.0])
    np.testing.assert_allclose(linear_weights(src, 405.0), [0.5, 0.5, 0.0])
    np.testing.assert_allclose(linear_weights(src, 425.0), [0.0, 0.25, 0.75])
    np.testing.assert_allclose(linear_weights(src, 410.0), [0.0, 1.0, 0.0])
    np.testing.assert_allclose(linear_weights(src, 395.0), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(linear_weights(src, 440.0), [0.0, 0.0, 1.0])
    # unsorted source: the weights follow the bands, not their order
    np.testing.assert_allclose(linear_weights(src[::-1], 405.0), [0.0, 0.5, 0.5])


def test_linear_matrix_reproduces_a_linear_spectrum():
    src = np.linspace(400, 2500, 211)
    dst = np.array([401.0, 1234.5, 2499.0])
    w, method = resampling_matrix(src, dst)
    assert method == "linear" and w.shape == (3, 211) and w.dtype == np.float32
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)
    spectrum = 0.1 + 2e-4 * src
    np.testing.assert_allclose(w @ spectrum, 0.1 + 2e-4 * dst, rtol=1e-5)


def test_gaussian_weights_follow_the_response_and_the_band_shares():
    src = np.arange(400.0, 600.0, 1.0)
    w = gaussian_weights(src, 500.0, 10.0)
    assert w.sum() == pytest.approx(1.0)
    sigma = 10.0 * FWHM_TO_SIGMA
    expected = np.exp(-0.5 * ((src - 500.0) / sigma) ** 2)
    expected[expected < 1e-6 * expected.max()] = 0
    np.testing.assert_allclose(w, expected / expected.sum(), atol=1e-12)
    # half the weight at +-FWHM/2 (the definition of the FWHM)
    assert w[105] / w[100] == pytest.approx(0.5, rel=1e-6)
    assert w[0] == 0.0  # far tails are exact zeros
    # an uneven grid: a band covering twice the axis weighs twice
    uneven = np.array([490.0, 498.0, 500.0, 502.0, 510.0])
    wu = gaussian_weights(uneven, 500.0, 1000.0)  # flat response
    np.testing.assert_allclose(wu / wu[2], [4.0, 2.5, 1.0, 2.5, 4.0], rtol=1e-3)


def test_gaussian_of_a_band_response_averages_the_spectrum():
    src = np.arange(400.0, 1000.0, 2.0)
    dst = np.array([500.0, 700.0])
    spectrum = np.where(src < 600, 1.0, 3.0)
    w, method = resampling_matrix(src, dst, np.array([20.0, 20.0]))
    assert method == "Gaussian"
    np.testing.assert_allclose(w @ spectrum, [1.0, 3.0], rtol=1e-5)
    # at the step the response sees half of each side
    w, _ = resampling_matrix(src, np.array([599.0]), np.array([20.0]))
    assert (w @ spectrum)[0] == pytest.approx(2.0, abs=0.05)


def test_fwhm_narrower_than_the_cube_spacing_falls_back_to_linear():
    src = np.arange(400.0, 1000.0, 10.0)
    w, method = resampling_matrix(src, np.array([455.0, 700.0]), np.array([5.0, 30.0]))
    assert method == "Gaussian/linear"
    np.testing.assert_allclose(w[0, 5:7], [0.5, 0.5])
    assert np.count_nonzero(w[1]) > 2
    _, method = resampling_matrix(src, np.array([455.0]), np.array([np.nan]))
    assert method == "linear"


def test_coverage_refuses_targets_outside_the_source_range():
    src = np.arange(400.0, 1001.0, 10.0)
    check_coverage(src, np.array([396.0, 1004.0]))  # within half a spacing of the ends
    with pytest.raises(CoverageError, match=r"cover 400-1000 nm but the model's span 400-2500 nm"
                       r" \(2 of its 3 bands outside\)"):
        check_coverage(src, np.array([400.0, 1500.0, 2500.0]), unit=" nm")
    with pytest.raises(CoverageError):
        resampling_matrix(np.array([500.0]), np.array([500.0]))


def test_largest_gap_is_the_widest_interval_holding_a_target():
    src = np.array([400.0, 410.0, 420.0, 500.0, 510.0])
    gap = largest_gap(src, np.array([405.0, 450.0, 505.0]))
    assert (gap.target, gap.below, gap.above, gap.width) == (450.0, 420.0, 500.0, 80.0)
    on_bands = largest_gap(src, src)
    assert on_bands.width == 0.0


def test_apply_matrix_on_a_cube():
    rng = np.random.default_rng(0)
    cube = rng.normal(size=(5, 3, 4))
    w = rng.random((2, 5)).astype(np.float32)
    out = apply_matrix(w, cube)
    assert out.shape == (2, 3, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 1, 2], w @ cube[:, 1, 2], rtol=1e-5)
