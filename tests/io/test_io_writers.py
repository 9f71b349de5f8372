"""Class maps written by write_class_map read back identically, with geo tags and classes."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_ssdgl.io import read_cube, read_labels, write_class_map
from napari_ssdgl.io.writers import geo_extratags

GEO = {
    33550: [30.0, 30.0, 0.0],
    33922: [0.0, 0.0, 0.0, 500000.0, 4000000.0, 0.0],
    34735: [1, 1, 0, 2, 1024, 0, 1, 1, 3072, 0, 1, 32633],
    34736: [6378137.0],
    34737: "WGS 84 / UTM zone 33N|",
    42113: "0",
}


@pytest.fixture
def labels() -> np.ndarray:
    return np.arange(7 * 9).reshape(7, 9) % 4


def test_tif_round_trip_with_geo_and_classes(tmp_path, labels):
    names = {1: "water", 2: "trees", 3: "roads"}
    colors = {1: "#0000ff", 2: "#00ff00", 3: "#808080"}
    path = write_class_map(tmp_path / "map.tif", labels, geo=GEO, class_names=names, colors=colors)
    with tifffile.TiffFile(path) as tf:
        assert tf.pages[0].dtype == np.uint8
        assert tf.pages[0].tags[33550].value == (30.0, 30.0, 0.0)
    lm = read_labels(path)
    np.testing.assert_array_equal(lm.data, labels)
    assert lm.class_names == names and lm.colors == colors


def test_geo_survives_cube_to_map(tmp_path):
    cube = np.random.default_rng(0).random((4, 6, 8)).astype(np.float32)
    src = tmp_path / "cube.tif"
    tifffile.imwrite(
        src, cube, photometric="minisblack", planarconfig="separate", extratags=geo_extratags(GEO)
    )
    c = read_cube(src)
    assert c.geo == GEO
    out = write_class_map(tmp_path / "out.tif", np.ones((6, 8), np.int64), geo=c.geo)
    with tifffile.TiffFile(out) as tf:
        from napari_ssdgl.io.tiff import read_geo_tags

        assert read_geo_tags(tf.pages[0]) == GEO


def test_geo_with_string_keys(tmp_path, labels):
    """geo that went through JSON has string keys; it still writes."""
    out = write_class_map(tmp_path / "s.tif", labels, geo={str(k): v for k, v in GEO.items()})
    with tifffile.TiffFile(out) as tf:
        assert tf.pages[0].tags[34737].value == GEO[34737]


def test_dtype_fits_values(tmp_path):
    big = np.zeros((3, 3), np.int64)
    big[1, 1] = 300
    write_class_map(tmp_path / "big.tif", big)
    assert tifffile.imread(tmp_path / "big.tif").dtype == np.uint16
    write_class_map(tmp_path / "big.npy", big)
    arr = np.load(tmp_path / "big.npy")
    assert arr.dtype == np.uint16 and arr[1, 1] == 300


def test_npy_and_envi_round_trip(tmp_path, labels):
    write_class_map(tmp_path / "m.npy", labels)
    np.testing.assert_array_equal(read_labels(tmp_path / "m.npy").data, labels)
    hdr = write_class_map(tmp_path / "m.hdr", labels, class_names={1: "a"}, colors={2: "#ff0000"})
    lm = read_labels(hdr)
    np.testing.assert_array_equal(lm.data, labels)
    assert lm.class_names[1] == "a" and lm.colors[2] == "#ff0000"


def test_bad_class_maps(tmp_path):
    with pytest.raises(ValueError, match="2-D integer"):
        write_class_map(tmp_path / "f.tif", np.full((3, 3), 0.5))
    with pytest.raises(ValueError, match="negative"):
        write_class_map(tmp_path / "n.tif", np.full((3, 3), -1))
    with pytest.raises(ValueError, match="cannot write"):
        write_class_map(tmp_path / "x.jpg", np.ones((3, 3), int))


def test_napari_writer(tmp_path, labels):
    from napari_ssdgl._napari._writer import write_labels

    meta = {"metadata": {"geo": GEO, "class_names": {1: "a"}, "class_colors": {1: "#123456"}}}
    out = write_labels(str(tmp_path / "layer.tif"), labels, meta)
    assert out == [str(tmp_path / "layer.tif")]
    lm = read_labels(out[0])
    np.testing.assert_array_equal(lm.data, labels)
    assert lm.class_names == {1: "a"} and lm.colors == {1: "#123456"}
    with tifffile.TiffFile(out[0]) as tf:
        assert 33922 in tf.pages[0].tags
    out = write_labels(str(tmp_path / "layer.npy"), labels, {})
    np.testing.assert_array_equal(np.load(out[0]), labels)
