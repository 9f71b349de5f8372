"""One band-axis rule for cubes without axis metadata (the README's): two equal axes are rows
and cols and the third holds the bands; otherwise the smallest axis holds the bands. Every
reader and open_lazy follow it, the cube and the napari layer say which axis was taken, and a
``band_axis=`` option chooses another (issue 21, item 7)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import tifffile

from napari_ssdgl._napari._reader import LAZY_BYTES_ENV, get_reader
from napari_ssdgl.io import HSIReadError, read_cube, read_path
from napari_ssdgl.io._common import band_axis_by_size
from napari_ssdgl.io.lazy import open_lazy

RULE = "rule: the smallest axis"


@pytest.fixture
def rcb() -> np.ndarray:
    """(rows, cols, bands) = (40, 50, 30), every value distinct."""
    return np.arange(40 * 50 * 30, dtype=np.float32).reshape(40, 50, 30)


@pytest.mark.parametrize("shape, axis, source", [
    ((40, 50, 30), 2, RULE),
    ((30, 40, 50), 0, RULE),
    ((40, 30, 50), 1, RULE),
    ((145, 145, 200), 2, "rule: two equal axes are rows and cols"),
    ((200, 145, 145), 0, "rule: two equal axes are rows and cols"),
    ((10, 3, 10), 1, "rule: two equal axes are rows and cols"),
    ((6, 6, 6), 0, "rule: all axes equal, bands first"),
])
def test_the_rule(shape, axis, source):
    assert band_axis_by_size(shape) == (axis, source)


def test_npy_40_50_30_opens_as_30_bands(tmp_path, rcb):
    path = tmp_path / "rcb.npy"
    np.save(path, rcb)
    for cube in (read_cube(path), open_lazy(path, tile=16)):
        assert cube.data.shape == (30, 40, 50)
        assert cube.band_axis == 2 and cube.band_axis_source == RULE
        assert cube.stored_shape == (40, 50, 30)
        np.testing.assert_array_equal(np.asarray(cube.data[:, 7, 9]), rcb[7, 9])
        md = cube.metadata()
        assert md["band_axis"] == 2 and md["band_axis_source"] == RULE
        assert md["stored_shape"] == [40, 50, 30]


def test_band_axis_option_chooses_another(tmp_path, rcb):
    path = tmp_path / "rcb.npy"
    np.save(path, rcb)
    for open_ in (read_cube, lambda p, **kw: open_lazy(p, tile=16, **kw)):
        cube = open_(path, band_axis=0)
        assert cube.data.shape == (40, 50, 30) and cube.band_axis == 0
        assert cube.band_axis_source == "option: band_axis"
        np.testing.assert_array_equal(np.asarray(cube.data[:, 3, 4]), rcb[:, 3, 4])
        assert open_(path, band_axis=-1).data.shape == (30, 40, 50)
        for bad in (3, -4, 1.5, True, "2"):
            with pytest.raises(HSIReadError, match="is not an axis of its 3-D array"):
                open_(path, band_axis=bad)


def test_npz_and_tiff_page_stacks_follow_the_same_rule(tmp_path, rcb):
    np.savez(tmp_path / "s.npz", cube=rcb)
    tifffile.imwrite(tmp_path / "pages.tif", rcb, photometric="minisblack", metadata=None)
    for path in (tmp_path / "s.npz", tmp_path / "pages.tif"):
        cube = read_cube(path)
        assert cube.data.shape == (30, 40, 50) and cube.band_axis_source == RULE
        np.testing.assert_array_equal(cube.data[:, 7, 9], rcb[7, 9])
        assert read_cube(path, band_axis=0).data.shape == (40, 50, 30)
    lazy = open_lazy(tmp_path / "pages.tif", tile=16)
    assert lazy.data.shape == (30, 40, 50)
    np.testing.assert_array_equal(lazy.data[:, 7, 9].compute(), rcb[7, 9])
    assert open_lazy(tmp_path / "pages.tif", band_axis=1).data.shape == (50, 40, 30)


def test_file_layouts_are_recorded_and_can_be_overridden(tmp_path, rcb):
    from spectral.io import envi

    small = rcb[:8, :9, :5]  # (rows, cols, bands)
    envi.save_image(str(tmp_path / "e.hdr"), small, interleave="bil", force=True)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(small, 2, 0),
                     photometric="minisblack", planarconfig="separate")
    scipy.io.savemat(tmp_path / "m.mat", {"cube": small})
    expected = {
        "e.hdr": (1, "metadata: ENVI interleave bil"),
        "planar.tif": (0, "metadata: TIFF samples axis"),
        "m.mat": (2, "format: MATLAB arrays are rows x cols x bands"),
    }
    for name, (axis, source) in expected.items():
        path = tmp_path / name
        cubes = [read_cube(path)] + ([] if name == "m.mat" else [open_lazy(path)])
        for cube in cubes:
            assert (cube.band_axis, cube.band_axis_source) == (axis, source), name
            assert cube.data.shape == (5, 8, 9)
            np.testing.assert_array_equal(np.asarray(cube.data[:, 2, 3]), small[2, 3])
    # a MATLAB file holding (bands, rows, cols): the option says so
    scipy.io.savemat(tmp_path / "first.mat", {"cube": np.moveaxis(small, 2, 0)})
    cube = read_cube(tmp_path / "first.mat", band_axis=0)
    assert cube.data.shape == (5, 8, 9) and cube.band_axis_source == "option: band_axis"
    np.testing.assert_array_equal(cube.data[:, 2, 3], small[2, 3])


def test_mat_v73_lazy_band_axis_in_matlab_order(tmp_path, rcb):
    import h5py

    small = rcb[:8, :9, :5]
    with h5py.File(tmp_path / "m.mat", "w") as f:  # column-major, as MATLAB writes it
        f.create_dataset("cube", data=small.T)
        f["cube"].attrs["MATLAB_class"] = np.bytes_("single")
    lazy = open_lazy(tmp_path / "m.mat")
    assert lazy.data.shape == (5, 8, 9) and lazy.band_axis == 2
    np.testing.assert_array_equal(lazy.data[:, 2, 3].compute(), small[2, 3])
    other = open_lazy(tmp_path / "m.mat", band_axis=0)  # MATLAB axis 0 (rows) as the bands
    assert other.data.shape == (8, 9, 5)
    np.testing.assert_array_equal(other.data[:, 2, 3].compute(), small[:, 2, 3])
    np.testing.assert_array_equal(other.data.compute(), read_cube(tmp_path / "m.mat",
                                                                  band_axis=0).data)


def test_the_napari_layer_says_which_axis(tmp_path, rcb, monkeypatch):
    path = tmp_path / "rcb.npy"
    np.save(path, rcb)
    for lazy in ("", "0"):
        if lazy:
            monkeypatch.setenv(LAZY_BYTES_ENV, lazy)
        [(data, kwargs, kind)] = get_reader(str(path))(str(path))
        assert data.shape == (30, 40, 50)
        md = kwargs["metadata"]
        assert (md["band_axis"], md["band_axis_source"]) == (2, RULE)
        assert md["stored_shape"] == [40, 50, 30] and md.get("lazy", False) is bool(lazy)


def test_labels_are_untouched(tmp_path):
    gt = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.save(tmp_path / "gt.npy", gt)
    [labels] = read_path(tmp_path / "gt.npy", band_axis=1)  # no cube: the option is moot
    np.testing.assert_array_equal(labels.data, gt)
