"""Every cube format round-trips with the right axis order, values and wavelengths."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io
import tifffile

from napari_ssdgl.io import Cube, LabelMap, read_cube, read_labels, read_path

BANDS, ROWS, COLS = 5, 7, 9
WL = np.array([450.0, 550.0, 650.0, 750.0, 850.0])
PIXEL = (3, 6)  # (row, col) checked in every test


@pytest.fixture
def cube() -> np.ndarray:
    """Bands-first cube whose every value is distinct: value = 100*band + 10*row + col/10."""
    b, r, c = np.meshgrid(np.arange(BANDS), np.arange(ROWS), np.arange(COLS), indexing="ij")
    return (100.0 * b + 10.0 * r + c / 10.0).astype(np.float32)


@pytest.fixture
def gt() -> np.ndarray:
    g = np.zeros((ROWS, COLS), dtype=np.uint8)
    g[1:3, 2:5] = 1
    g[4:6, 1:3] = 2
    return g


def _check(c: Cube, cube: np.ndarray, *, wavelengths=True) -> None:
    assert c.data.shape == (BANDS, ROWS, COLS)
    np.testing.assert_array_equal(c.data[:, PIXEL[0], PIXEL[1]], cube[:, PIXEL[0], PIXEL[1]])
    np.testing.assert_array_equal(c.data, cube)
    if wavelengths:
        np.testing.assert_allclose(c.wavelengths, WL)
    assert c.warnings == []


def _matlab(cube: np.ndarray) -> np.ndarray:
    return np.moveaxis(cube, 0, -1)  # (rows, cols, bands) as MATLAB holds it


def test_mat_v5_cube_gt_and_wavelengths(tmp_path, cube, gt):
    path = tmp_path / "scene.mat"
    train = (gt == 1).astype(np.int32)
    variables = {"data": _matlab(cube), "train": train, "gt": gt, "wavelength": WL, "note": "hi"}
    scipy.io.savemat(path, variables)
    items = read_path(path)
    assert [type(i) for i in items] == [Cube, LabelMap, LabelMap]
    assert [i.name for i in items] == ["scene", "scene_train", "scene_gt"]
    c = read_cube(path)
    _check(c, cube)
    assert c.name == "scene" and c.dtype == "float32" and c.source == str(path)
    lm = read_labels(path)
    np.testing.assert_array_equal(lm.data, gt)
    assert lm.name == "scene_gt"


def test_mat_v5_largest_cube_wins_and_double_gt(tmp_path, cube, gt):
    path = tmp_path / "two.mat"
    small = np.ones((2, 2, 2))
    scipy.io.savemat(path, {"a_small": small, "cube": _matlab(cube), "lambda": WL[:, None]})
    _check(read_cube(path), cube)
    gt_path = tmp_path / "Scene_gt.mat"
    scipy.io.savemat(gt_path, {"scene_gt": gt.astype(np.float64)})
    lm = read_labels(gt_path)
    assert lm.name == "Scene_gt" and lm.data.dtype.kind in "iu"
    np.testing.assert_array_equal(lm.data, gt)
    assert [type(i) for i in read_path(gt_path)] == [LabelMap]


def test_mat_v73_transposed_layout(tmp_path, cube, gt):
    path = tmp_path / "big.mat"
    with h5py.File(path, "w") as f:  # MATLAB writes column-major: h5py sees axes reversed
        f.create_dataset("indian_pines", data=_matlab(cube).T)
        f["indian_pines"].attrs["MATLAB_class"] = np.bytes_("single")
        f.create_dataset("gt", data=gt.T)
        f.create_dataset("wl", data=WL[None, :].T)
        f.create_dataset("label", data=np.frombuffer(b"abc", np.uint8)[:, None])
        f["label"].attrs["MATLAB_class"] = np.bytes_("char")
    c = read_cube(path)
    _check(c, cube)
    np.testing.assert_array_equal(read_labels(path).data, gt)


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
def test_envi_interleaves(tmp_path, cube, interleave):
    from spectral.io import envi

    hdr = tmp_path / f"scene_{interleave}.hdr"
    md = {"wavelength": list(WL), "wavelength units": "Nanometers"}
    envi.save_image(str(hdr), _matlab(cube), interleave=interleave, metadata=md, force=True)
    c = read_cube(hdr)
    _check(c, cube)
    assert c.wavelength_units == "Nanometers"
    assert c.name == f"scene_{interleave}"
    # the data file works as an entry point too
    _check(read_cube(tmp_path / f"scene_{interleave}.img"), cube)


def test_envi_classification_is_labels(tmp_path, gt):
    from spectral.io import envi

    hdr = tmp_path / "classes.hdr"
    envi.save_classification(
        str(hdr),
        gt,
        class_names=["Unclassified", "corn", "soy"],
        class_colors=[[0, 0, 0], [255, 0, 0], [0, 128, 255]],
        force=True,
    )
    lm = read_labels(hdr)
    np.testing.assert_array_equal(lm.data, gt)
    assert lm.class_names == {1: "corn", 2: "soy"}
    assert lm.colors == {1: "#ff0000", 2: "#0080ff"}


@pytest.mark.parametrize(
    "layout",
    [
        ("pages", lambda c: c, {"photometric": "minisblack"}),
        ("pages_nometa", lambda c: c, {"photometric": "minisblack", "metadata": None}),
        ("planar", lambda c: c, {"photometric": "minisblack", "planarconfig": "separate"}),
        ("contig", _matlab, {"photometric": "minisblack", "planarconfig": "contig"}),
        (
            "contig_nometa",
            _matlab,
            {"photometric": "minisblack", "planarconfig": "contig", "metadata": None},
        ),
    ],
    ids=lambda x: x[0],
)
def test_tiff_band_axis(tmp_path, cube, layout):
    name, arrange, kwargs = layout
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, arrange(cube), **kwargs)
    c = read_cube(path)
    _check(c, cube, wavelengths=False)
    assert c.geo is None


def test_tiff_bands_last_pages_clearly_smallest(tmp_path):
    """A bands-last array written as one page per row: the clearly smallest axis is bands."""
    data = np.arange(20 * 30 * 4, dtype=np.uint16).reshape(20, 30, 4)
    path = tmp_path / "naive.tif"
    tifffile.imwrite(path, data, photometric="minisblack")
    c = read_cube(path)
    assert c.data.shape == (4, 20, 30)
    np.testing.assert_array_equal(c.data[:, 5, 7], data[5, 7])
    square = np.arange(10 * 10 * 12, dtype=np.uint16).reshape(10, 10, 12)  # Indian Pines-like
    tifffile.imwrite(tmp_path / "square.tif", square, photometric="minisblack")
    c = read_cube(tmp_path / "square.tif")
    assert c.data.shape == (12, 10, 10)
    np.testing.assert_array_equal(c.data[:, 5, 7], square[5, 7])


def test_geotiff_tags_kept(tmp_path, cube):
    tags = [
        (33550, "d", 3, (30.0, 30.0, 0.0), True),
        (33922, "d", 6, (0.0, 0.0, 0.0, 500000.0, 4000000.0, 0.0), True),
        (34735, "H", 8, (1, 1, 0, 1, 1024, 0, 1, 1), True),
        (34737, "s", 0, "WGS 84|", True),
        (42113, "s", 0, "-9999", True),
    ]
    path = tmp_path / "geo.tif"
    tifffile.imwrite(path, cube, photometric="minisblack", planarconfig="separate", extratags=tags)
    c = read_cube(path)
    _check(c, cube, wavelengths=False)
    assert c.geo == {
        33550: [30.0, 30.0, 0.0],
        33922: [0.0, 0.0, 0.0, 500000.0, 4000000.0, 0.0],
        34735: [1, 1, 0, 1, 1024, 0, 1, 1],
        34737: "WGS 84|",
        42113: "-9999",
    }
    import json

    json.dumps(c.metadata())  # JSON-friendly


def test_npy_bands_first_and_bands_last(tmp_path, cube, gt):
    path = tmp_path / "cube.npy"
    np.save(path, cube)
    _check(read_cube(path), cube, wavelengths=False)
    wide = np.random.default_rng(0).random((3, 16, 12)).astype(np.float32)
    np.save(tmp_path / "last.npy", np.moveaxis(wide, 0, -1))  # (16, 12, 3): 3 is clearly smallest
    np.testing.assert_array_equal(read_cube(tmp_path / "last.npy").data, wide)
    square = np.random.default_rng(1).random((12, 10, 10)).astype(np.float32)
    np.save(tmp_path / "square.npy", np.moveaxis(square, 0, -1))  # (10, 10, 12) bands last
    np.testing.assert_array_equal(read_cube(tmp_path / "square.npy").data, square)
    np.save(tmp_path / "square_first.npy", square)
    np.testing.assert_array_equal(read_cube(tmp_path / "square_first.npy").data, square)
    np.save(tmp_path / "gt.npy", gt.astype(np.int64))
    np.testing.assert_array_equal(read_labels(tmp_path / "gt.npy").data, gt)


def test_npz_cube_labels_wavelengths(tmp_path, cube, gt):
    path = tmp_path / "scene.npz"
    np.savez(path, cube=cube, labels=gt, w=WL)
    items = read_path(path)
    assert [type(i) for i in items] == [Cube, LabelMap]
    _check(items[0], cube)
    np.testing.assert_array_equal(items[1].data, gt)


def test_png_labels_with_palette(tmp_path, gt):
    from PIL import Image

    img = Image.fromarray(gt, mode="P")
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
    path = tmp_path / "labels.png"
    img.save(path)
    lm = read_labels(path)
    np.testing.assert_array_equal(lm.data, gt)
    assert lm.colors == {1: "#ff0000", 2: "#00ff00"}
    Image.fromarray(gt).save(tmp_path / "grey.png")
    np.testing.assert_array_equal(read_labels(tmp_path / "grey.png").data, gt)


def test_tif_labels(tmp_path, gt):
    path = tmp_path / "gt.tif"
    tifffile.imwrite(path, gt)
    lm = read_labels(path)
    assert isinstance(lm, LabelMap) and lm.name == "gt"
    np.testing.assert_array_equal(lm.data, gt)
