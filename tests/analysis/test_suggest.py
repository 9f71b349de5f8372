"""Suggested pixels: most uncertain first, spread out, never on labelled pixels."""

import numpy as np
import pytest

from napari_ssdgl.analysis.suggest import default_min_distance, suggest_pixels


def _blob(shape=(64, 64), center=(20, 30), sigma=4.0):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.exp(-((yy - center[0]) ** 2 + (xx - center[1]) ** 2) / (2 * sigma**2))


def test_first_point_is_the_maximum_and_points_are_spread():
    u = _blob() + 0.5 * _blob(center=(50, 10))
    pts = suggest_pixels(u, 8)
    assert pts.shape == (8, 2)
    assert tuple(pts[0]) == (20, 30)
    d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
    d[np.diag_indices(len(pts))] = np.inf
    assert d.min() >= default_min_distance(u.shape, 8)
    # the second blob gets a point although the first blob has many pixels above it
    assert any(np.hypot(r - 50, c - 10) < 3 for r, c in pts)


def test_excluded_and_nan_pixels_are_never_suggested():
    u = _blob()
    exclude = np.zeros(u.shape, bool)
    exclude[15:26, 25:36] = True
    u[0, 0] = np.nan
    pts = suggest_pixels(u, 5, exclude=exclude)
    assert not exclude[pts[:, 0], pts[:, 1]].any()
    assert not any((r, c) == (0, 0) for r, c in pts)


def test_returns_k_points_when_the_scene_is_crowded():
    u = np.random.default_rng(0).random((6, 6))
    pts = suggest_pixels(u, 30)
    assert len(pts) == 30
    assert len({tuple(p) for p in pts}) == 30


def test_fewer_candidates_than_k_and_edge_cases():
    u = np.ones((3, 3))
    exclude = np.ones((3, 3), bool)
    exclude[1, 1] = False
    assert suggest_pixels(u, 4, exclude=exclude).tolist() == [[1, 1]]
    assert suggest_pixels(u, 0).shape == (0, 2)
    assert suggest_pixels(np.full((4, 4), np.nan), 3).shape == (0, 2)
    with pytest.raises(ValueError):
        suggest_pixels(np.ones((2, 2, 2)), 1)
    with pytest.raises(ValueError):
        suggest_pixels(u, 1, exclude=np.ones((2, 2), bool))


def test_deterministic_and_fast_on_a_large_scene():
    import time

    u = np.random.default_rng(1).random((610, 340)).astype(np.float32)
    t = time.perf_counter()
    a = suggest_pixels(u, 50)
    assert time.perf_counter() - t < 5
    np.testing.assert_array_equal(a, suggest_pixels(u, 50))
