"""Exports: GeoTIFF keeps the input's georeferencing, ENVI re-opens with spectral, PNG legend."""

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_ssdgl.cli import main
from napari_ssdgl.io import read_cube, read_labels
from napari_ssdgl.io.exports import (
    class_palette,
    export_class_map,
    georeferencing,
    write_float_tiff,
    write_png,
)
from napari_ssdgl.io.geo import pixel_area_ha, tags_geotransform
from tests.conftest import toy_scene

TINY = {"widths": (16, 16, 16, 16), "decoder_width": 8, "groups": 4}
GEOKEYS = (1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32615)
GEO_EXTRATAGS = [
    (33550, "d", 3, (30.0, 30.0, 0.0), True),  # ModelPixelScale
    (33922, "d", 6, (0.0, 0.0, 0.0, 500000.0, 4100000.0, 0.0), True),  # ModelTiepoint
    (34735, "H", len(GEOKEYS), GEOKEYS, True),  # GeoKeyDirectory: UTM 15N
    (34737, "s", 0, "WGS 84 / UTM zone 15N|", True),  # GeoAsciiParams
    (42113, "s", 0, "-9999", True),  # GDAL_NODATA of the cube
]
GEO_CODES = (33550, 33922, 34735, 34737)
NAMES = {1: "Meadow", 2: "Water", 4: "Road"}
COLORS = {1: "#00ff00", 2: "#0000ff", 4: "#808080"}


def make_scene(rows=20, cols=24, bands=8, seed=0):
    boxes = ((1, 9, 1, 23, 1), (11, 19, 1, 11, 2), (11, 19, 13, 23, 4))
    return toy_scene(bands, rows, seed, cols=cols, boxes=boxes, dtype=np.uint8)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from napari_ssdgl.prediction.modelfile import save_classifier
    from napari_ssdgl.training import TrainConfig, Trainer

    cube, gt = make_scene()
    cfg = TrainConfig(iterations=2, device="cpu", model_kwargs=TINY, eval_every=0)
    clf = Trainer(cube, gt, cfg, class_names=NAMES, colors=COLORS).fit()
    return save_classifier(clf, tmp_path_factory.mktemp("model") / "m")


@pytest.fixture(scope="module")
def geo_cube(tmp_path_factory):
    path = tmp_path_factory.mktemp("geo") / "scene.tif"
    cube, _ = make_scene()
    tifffile.imwrite(path, cube, photometric="minisblack", planarconfig="separate",
                     extratags=GEO_EXTRATAGS)
    assert read_cube(path).geo  # the reader sees the tags
    return path


def tags_of(path) -> dict:
    with tifffile.TiffFile(path) as tf:
        return {code: tf.pages[0].tags[code].value for code in tf.pages[0].tags.keys()}


def test_geotiff_exports_keep_georeferencing(model_dir, geo_cube, tmp_path):
    rc = main(["predict", str(model_dir), str(geo_cube), "--out-dir", str(tmp_path),
               "--format", "tif,npy", "--probabilities", "--uncertainty", "--quiet",
               "--device", "cpu"])
    assert rc == 0
    source = tags_of(geo_cube)
    for name in ("scene.tif", "scene_probabilities.tif", "scene_uncertainty.tif"):
        tags = tags_of(tmp_path / name)
        for code in GEO_CODES:
            assert np.array_equal(np.asarray(tags[code]), np.asarray(source[code])), (name, code)
        assert 42113 not in tags  # the cube's nodata is not a class value or a probability
    labels = read_labels(tmp_path / "scene.tif")
    assert np.array_equal(labels.data, np.load(tmp_path / "scene.npy"))
    assert labels.class_names == NAMES and labels.colors == COLORS
    probs = tifffile.imread(tmp_path / "scene_probabilities.tif")
    assert probs.dtype == np.float32 and probs.shape == (3, 20, 24)
    assert np.allclose(probs.sum(axis=0), 1, atol=1e-4)
    assert np.array_equal(np.array([1, 2, 4])[probs.argmax(0)], labels.data)
    unc = tifffile.imread(tmp_path / "scene_uncertainty.tif")
    assert unc.dtype == np.float32 and unc.shape == (2, 20, 24)
    assert read_cube(tmp_path / "scene_probabilities.tif").bands == 3  # GDAL-style bands


def test_envi_export_reopens_with_spectral(model_dir, geo_cube, tmp_path):
    import spectral

    rc = main(["predict", str(model_dir), str(geo_cube), "--out", str(tmp_path / "map.hdr"),
               "--quiet", "--device", "cpu"])
    assert rc == 0
    img = spectral.open_image(str(tmp_path / "map.hdr"))
    assert img.metadata["file type"] == "ENVI Classification"
    names = img.metadata["class names"]
    assert names[1] == "Meadow" and names[2] == "Water" and names[4] == "Road"
    lut = [int(v) for v in img.metadata["class lookup"]]
    assert lut[3:6] == [0, 255, 0] and lut[12:15] == [128, 128, 128]
    data = np.asarray(img.load())[..., 0]
    assert data.shape == (20, 24) and set(np.unique(data)) <= {1, 2, 4}
    assert img.metadata["map info"][0] == "UTM"  # the cube's grid and CRS, read back:
    cube, written = read_cube(geo_cube).geo, read_labels(tmp_path / "map.hdr").geo
    assert tags_geotransform(written) == tags_geotransform(cube)
    assert pixel_area_ha(written, 20) == pixel_area_ha(cube, 20) == (pytest.approx(0.09), None)


def test_png_class_map_with_legend(tmp_path):
    labels = np.zeros((30, 50), np.uint8)
    labels[:, :20], labels[:, 20:] = 3, 7
    path = write_png(tmp_path / "map.png", labels, class_names={3: "Corn"}, class_values=[3, 5, 7])
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        w, h = im.size
        rgb = np.asarray(im.convert("RGB"))
    assert h >= 30 * 8 and w > 50 * 8  # scaled up so pixels show, plus the legend
    palette = class_palette([3, 5, 7])
    assert len(set(palette.values())) == 3
    # the map's colours are in the image
    red, green, blue = (int(palette[3][i:i + 2], 16) for i in (1, 3, 5))
    assert np.any(np.all(rgb == (red, green, blue), axis=-1))


def test_export_class_map_by_suffix_and_georeferencing(tmp_path):
    labels = np.array([[1, 2], [2, 1]], np.uint8)
    geo = {33550: [1.0, 1.0, 0.0], 42113: "0"}
    assert georeferencing(geo) == {33550: [1.0, 1.0, 0.0]}
    assert georeferencing({42113: "0"}) is None and georeferencing(None) is None
    for suffix in ("tif", "npy", "hdr", "png"):
        assert export_class_map(tmp_path / f"m.{suffix}", labels, geo=geo).is_file()
    assert read_labels(tmp_path / "m.tif").colors  # colours filled in when none were given
    assert np.array_equal(np.load(tmp_path / "m.npy"), labels)
    path = write_float_tiff(tmp_path / "f.tif", np.ones((4, 5), np.float64), geo=geo)
    assert tifffile.imread(path).dtype == np.float32 and 33550 in tags_of(path)
