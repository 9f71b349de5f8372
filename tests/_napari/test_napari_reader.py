"""The npe2 reader: cubes open as one bands-first Image layer; foreign files get None."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.io

from napari_ssdgl._napari._reader import get_reader, robust_limits

WL = [400.0, 500.0, 600.0, 700.0, 800.0]


def _cube() -> np.ndarray:
    return np.arange(5 * 7 * 9, dtype=np.float32).reshape(5, 7, 9)


def _write_mat(path, *, gt: bool = False):
    variables = {"cube": np.moveaxis(_cube(), 0, -1), "wavelengths": np.array(WL)}
    if gt:
        variables["gt"] = (np.arange(63).reshape(7, 9) % 3).astype(np.uint8)
    scipy.io.savemat(path, variables)
    return path


def test_get_reader_returns_none_for_foreign_files(tmp_path):
    text = tmp_path / "notes.npy"
    text.write_text("not numpy at all\n")
    other = tmp_path / "cube.xyz"
    other.write_bytes(b"\x00\x01")
    empty = tmp_path / "empty.mat"
    empty.touch()
    flat = tmp_path / "flat.npy"
    np.save(flat, np.random.default_rng(0).random((7, 9)))  # 2-D float: not ours
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # foreign files are rejected silently
        for p in (text, other, empty, tmp_path / "missing.tif", tmp_path):
            assert get_reader(str(p)) is None
        assert get_reader([str(_write_mat(tmp_path / "ok.mat")), str(text)]) is None
        assert get_reader(None) is None
        assert get_reader([]) is None
        assert get_reader(str(flat)) is None  # left to napari's own .npy reader


def test_get_reader_truncated_mat_warns_and_returns_none(tmp_path):
    raw = _write_mat(tmp_path / "full.mat").read_bytes()
    cut = tmp_path / "cut.mat"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.warns(UserWarning, match="truncated or corrupt"):
        assert get_reader(str(cut)) is None


def test_layer_data_for_cube_and_labels(tmp_path):
    path = _write_mat(tmp_path / "scene.mat", gt=True)
    reader = get_reader(str(path))
    assert callable(reader)
    (data, kw, kind), (gt, gkw, gkind) = reader(str(path))
    assert kind == "image" and gkind == "labels"
    np.testing.assert_array_equal(data, _cube())
    assert kw["name"] == "scene" and kw["rgb"] is False
    assert kw["metadata"]["wavelengths"] == WL
    lo, hi = kw["contrast_limits"]
    assert 0 <= lo < hi <= data.max()
    assert gt.shape == (7, 9) and gkw["name"] == "scene_gt"
    assert len(get_reader([str(path), str(path)])(None)) == 4


def test_robust_limits_ignores_nan_and_constant():
    a = np.full((2, 3, 3), 5.0)
    a[0, 0, 0] = np.nan
    assert robust_limits(a) == [5.0, 6.0]
    assert robust_limits(np.full((1, 2, 2), np.nan)) is None


@pytest.mark.gui
def test_open_cube_in_viewer(make_napari_viewer, tmp_path):
    from napari.layers import Image, Labels

    viewer = make_napari_viewer()
    path = _write_mat(tmp_path / "scene.mat")
    viewer.open(str(path), plugin="napari-ssdgl")
    assert len(viewer.layers) == 1
    layer = viewer.layers[0]
    assert isinstance(layer, Image)
    assert layer.data.shape == (5, 7, 9)
    assert layer.rgb is False
    assert layer.metadata["wavelengths"] == WL
    np.testing.assert_array_equal(np.asarray(layer.data)[:, 3, 6], _cube()[:, 3, 6])

    both = _write_mat(tmp_path / "both.mat", gt=True)
    viewer.open(str(both), plugin="napari-ssdgl")
    assert isinstance(viewer.layers[-1], Labels) and viewer.layers[-1].data.shape == (7, 9)


def test_auto_rgb_setting_adds_the_colour_view(tmp_path, monkeypatch):
    path = _write_mat(tmp_path / "scene.mat")
    assert [kind for *_, kind in get_reader(str(path))(str(path))] == ["image"]
    monkeypatch.setenv("NAPARI_SSDGL_AUTO_RGB", "1")
    layers = get_reader(str(path))(str(path))
    (cube, _, _), (rgb, kwargs, kind) = layers
    assert kind == "image" and kwargs["rgb"] and rgb.shape == (7, 9, 3)
    # 5 bands 100 nm apart cannot give three distinct visible bands: evenly spaced ones instead
    assert kwargs["metadata"]["rgb_bands"] == [[3], [2], [1]]


def test_napari_saves_a_class_map_as_envi_with_its_grid(make_napari_viewer, tmp_path):
    """File > Save Selected Layers with a .hdr name: an ENVI classification that keeps the
    class names and the map grid (as 'map info'), read back by this plugin."""
    from napari_ssdgl.io import read_labels
    from napari_ssdgl.io.geo import geo_tags, tags_geotransform

    viewer = make_napari_viewer()
    cmap = np.arange(7 * 9).reshape(7, 9) % 3
    geo = geo_tags((500000.0, 30.0, 0.0, 4000000.0, 0.0, -30.0), 32633)
    viewer.add_labels(cmap, name="prediction",
                      metadata={"geo": geo, "class_names": {1: "corn", 2: "soy"}})
    [written] = viewer.layers.save(str(tmp_path / "map.hdr"), plugin="napari-ssdgl")
    assert written == str(tmp_path / "map.hdr") and (tmp_path / "map.img").is_file()
    back = read_labels(written)
    np.testing.assert_array_equal(back.data, cmap)
    assert back.class_names[1] == "corn" and back.class_names[2] == "soy"
    assert tags_geotransform(back.geo) == pytest.approx(tags_geotransform(geo))
