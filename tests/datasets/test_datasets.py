"""Sample scenes: the synthetic generator, the registry, Indian Pines offline (tensorly)."""

import importlib.util
import re
import time

import numpy as np
import pytest

from napari_ssdgl.datasets import (
    DatasetError,
    Scene,
    list_scenes,
    load_scene,
    make_synthetic_scene,
    registry,
)
from napari_ssdgl.datasets._synthetic import _prototypes


def test_synthetic_is_deterministic_and_shaped():
    a, b = make_synthetic_scene(seed=3), make_synthetic_scene(seed=3)
    assert isinstance(a, Scene) and a.key == "synthetic"
    np.testing.assert_array_equal(a.cube.data, b.cube.data)
    np.testing.assert_array_equal(a.gt.data, b.gt.data)
    assert not np.array_equal(a.cube.data, make_synthetic_scene(seed=4).cube.data)
    assert a.cube.data.shape == (48, 64, 64) and a.cube.data.dtype == np.float32
    assert a.gt.data.shape == (64, 64)
    assert a.cube.wavelengths[0] == 400 and a.cube.wavelengths[-1] == 2500
    assert all(0 <= i < 48 for i in a.rgb_bands)
    assert np.isfinite(a.cube.data).all()
    small = make_synthetic_scene(size=32, bands=16, n_classes=8)
    assert small.cube.data.shape == (16, 32, 32)
    assert set(np.unique(small.gt.data)) == set(range(9))


def test_synthetic_classes_are_spectral_and_learnable():
    s = make_synthetic_scene()
    gt = s.gt.data
    values = sorted(set(np.unique(gt)) - {0})
    assert len(values) >= 5 and values == sorted(s.gt.class_names) == sorted(s.gt.colors)
    assert 0.8 < (gt > 0).mean() < 0.97  # 0 only on thin field borders
    x = s.cube.data.reshape(s.cube.bands, -1).T
    y = gt.ravel()
    means = np.stack([x[y == v].mean(0) for v in values])
    stds = np.stack([x[y == v].std(0) for v in values])
    assert (stds.mean(1) > 0.003).all()  # pixels vary within a class
    dist = np.linalg.norm(means[:, None] - means[None], axis=-1)
    assert dist[~np.eye(len(values), dtype=bool)].min() > 5 * stds.mean()
    # spectral-angle nearest centroid from 5% of pixels already separates the classes
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    train = (y > 0) & (np.random.default_rng(0).random(y.size) < 0.05)
    cent = np.stack([xn[train & (y == v)].mean(0) for v in values])
    pred = np.asarray(values)[np.argmax(xn @ cent.T, axis=1)]
    test = (y > 0) & ~train
    assert (pred[test] == y[test]).mean() > 0.9


def test_synthetic_is_fast_and_validates():
    make_synthetic_scene()
    t = time.perf_counter()
    make_synthetic_scene(seed=1)
    assert time.perf_counter() - t < 0.2
    with pytest.raises(ValueError):
        make_synthetic_scene(n_classes=9)
    with pytest.raises(ValueError):
        make_synthetic_scene(size=8)


def test_registry_is_consistent():
    reg = registry()
    assert list_scenes() == [
        "synthetic", "indian_pines", "pavia_university", "salinas", "houston2013"
    ]
    hexcolour = re.compile(r"^#[0-9a-f]{6}$")
    for key, info in reg["scenes"].items():
        names, colors = info["class_names"], info["colors"]
        assert len(names) == len(colors) == len(set(names)), key
        assert len(set(colors)) == len(colors), key
        assert all(hexcolour.match(c) for c in colors), key
        assert len(info["shape"]) == 3 and info["sensor"] and info["title"]
        bands = info["shape"][0]
        assert all(0 <= b < bands for b in info.get("rgb_bands", [0, 0, 0])), key
        for src in info.get("download", {}).values():
            assert src["url"].startswith("https://") and src["variable"] and src["file"]
            assert src["sha256"] is None or re.match(r"^[0-9a-f]{64}$", src["sha256"])
    assert len(reg["scenes"]["indian_pines"]["class_names"]) == 16
    assert len(reg["scenes"]["pavia_university"]["class_names"]) == 9
    assert len(reg["scenes"]["salinas"]["class_names"]) == 16
    assert len(_prototypes(np.linspace(400, 2500, 10))) == len(
        reg["scenes"]["synthetic"]["class_names"]
    )


def test_unknown_scene_is_a_clear_error():
    with pytest.raises(DatasetError, match="indian_pines"):
        load_scene("houston")


@pytest.mark.skipif(importlib.util.find_spec("tensorly") is None, reason="tensorly not installed")
def test_indian_pines_offline_from_tensorly(tmp_path):
    s = load_scene("indian_pines", cache_dir=tmp_path)  # empty cache: must not download
    assert s.cube.data.shape == (200, 145, 145)
    assert s.gt.data.shape == (145, 145)
    assert set(np.unique(s.gt.data)) == set(range(17))
    assert s.gt.class_names[1] == "Alfalfa" and s.gt.class_names[16] == "Stone-Steel-Towers"
    assert len(s.gt.colors) == 16 and s.rgb_bands == (43, 21, 11)
    assert "tensorly" in s.cube.source and list(tmp_path.iterdir()) == []


def test_real_scene_without_pinned_hash_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("NAPARI_SSDGL_ALLOW_UNPINNED", raising=False)
    with pytest.raises(DatasetError, match="NAPARI_SSDGL_ALLOW_UNPINNED") as err:
        load_scene("salinas", cache_dir=tmp_path)
    assert "salinas" in str(err.value) and "allow_unpinned=True" in str(err.value)


def test_houston_needs_user_files():
    with pytest.raises(DatasetError, match="registration"):
        load_scene("houston2013")
