"""The sample-data contributions open in a real viewer (run under Xvfb)."""

import importlib.util

import numpy as np
import pytest

from napari_ssdgl.datasets import DatasetError, make_synthetic_scene


@pytest.mark.gui
def test_open_synthetic_sample(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-ssdgl", "synthetic")
    scene = make_synthetic_scene()
    assert [layer._type_string for layer in viewer.layers] == ["image", "labels"]
    image, labels = viewer.layers
    assert image.data.shape == (48, 64, 64) and not image.rgb
    assert image.metadata["wavelengths"][0] == 400 and image.metadata["rgb_bands"] == list(
        scene.rgb_bands
    )
    lo, hi = image.contrast_limits
    assert float(image.data.min()) <= lo < hi <= float(image.data.max())
    assert labels.data.shape == (64, 64)
    assert labels.name == "Synthetic scene ground truth"
    assert labels.metadata["class_names"] == scene.gt.class_names
    for value, hexcolour in scene.gt.colors.items():
        rgba = labels.colormap.map(np.array([value]))[0]
        expected = [int(hexcolour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        np.testing.assert_allclose(rgba[:3], expected, atol=1e-3)
        assert rgba[3] == 1
    assert labels.colormap.map(np.array([0]))[0][3] == 0  # unlabelled stays transparent


@pytest.mark.skipif(importlib.util.find_spec("tensorly") is None, reason="tensorly not installed")
def test_indian_pines_layer_data():
    from napari_ssdgl._napari._sample_data import indian_pines

    (cube, img_kw, img_type), (gt, lab_kw, lab_type) = indian_pines()
    assert (img_type, lab_type) == ("image", "labels")
    assert cube.shape == (200, 145, 145) and gt.shape == (145, 145)
    assert img_kw["name"] == "Indian Pines" and lab_kw["name"] == "Indian Pines ground truth"
    assert img_kw["metadata"]["rgb_bands"] == [43, 21, 11]
    assert len(lab_kw["metadata"]["class_names"]) == 16
    assert lab_kw["colormap"].map(np.array([16]))[0][3] == 1


def test_unpinned_sample_raises_dataset_error(monkeypatch, tmp_path):
    from napari_ssdgl._napari._sample_data import salinas

    monkeypatch.delenv("NAPARI_SSDGL_ALLOW_UNPINNED", raising=False)
    monkeypatch.setenv("NAPARI_SSDGL_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="NAPARI_SSDGL_ALLOW_UNPINNED"):
        salinas()
