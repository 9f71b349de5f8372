"""Bad input ends in one HSIReadError that names the file and the problem."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io
import tifffile

from napari_ssdgl.io import HSIReadError, can_read, read_cube, read_labels, read_path


def _raises(path, match: str, reader=read_path) -> HSIReadError:
    with pytest.raises(HSIReadError, match=match) as info:
        reader(path)
    assert str(path) in str(info.value)
    return info.value


def test_missing_and_empty(tmp_path):
    _raises(tmp_path / "nope.mat", "not found")
    for ext in (".mat", ".npy", ".tif", ".hdr", ".npz", ".png"):
        empty = tmp_path / f"empty{ext}"
        empty.touch()
        _raises(empty, "empty")
        assert not can_read(empty)


def test_directory(tmp_path):
    d = tmp_path / "folder.mat"
    d.mkdir()
    _raises(d, "directory")


def test_unsupported_extension(tmp_path):
    path = tmp_path / "cube.xyz"
    path.write_bytes(b"\x00" * 10)
    _raises(path, "unsupported file type '.xyz'")
    assert not can_read(path)


def test_truncated_mat_v5(tmp_path):
    full = tmp_path / "full.mat"
    scipy.io.savemat(full, {"cube": np.random.default_rng(0).random((7, 9, 5))})
    raw = full.read_bytes()
    cut = tmp_path / "cut.mat"
    cut.write_bytes(raw[: len(raw) // 2])
    _raises(cut, "truncated or corrupt MATLAB")


def test_truncated_mat_v73(tmp_path):
    full = tmp_path / "full73.mat"
    with h5py.File(full, "w") as f:
        f.create_dataset("cube", data=np.random.default_rng(0).random((5, 9, 7)))
    raw = full.read_bytes()
    cut = tmp_path / "cut73.mat"
    cut.write_bytes(raw[: len(raw) // 2])
    _raises(cut, "corrupt MATLAB v7.3")


def test_text_file_named_mat(tmp_path):
    path = tmp_path / "notes.mat"
    path.write_text("these are my field notes\nnot a matlab file\n" * 5)
    _raises(path, "not a MATLAB .mat file")
    assert not can_read(path)


def test_text_file_named_npy_tif_hdr(tmp_path):
    for ext, match in ((".npy", "not a NumPy"), (".tif", "not a TIFF"), (".hdr", "not an ENVI")):
        path = tmp_path / f"text{ext}"
        path.write_text("hello world\n" * 5)
        _raises(path, match)
        assert not can_read(path)


def test_2d_image_where_cube_expected(tmp_path):
    img = np.random.default_rng(1).random((7, 9))
    np.save(tmp_path / "img.npy", img)
    _raises(tmp_path / "img.npy", "no 3-D cube", read_cube)
    tifffile.imwrite(tmp_path / "img.tif", img.astype(np.float32))
    _raises(tmp_path / "img.tif", "neither a 3-D cube", read_cube)
    # integer 2-D: a label raster, still not a cube
    scipy.io.savemat(tmp_path / "x_gt.mat", {"gt": np.ones((7, 9), np.uint8)})
    _raises(tmp_path / "x_gt.mat", "expected a 3-D cube", read_cube)


def test_cube_where_labels_expected(tmp_path):
    np.save(tmp_path / "cube.npy", np.zeros((3, 4, 5), np.float32))
    _raises(tmp_path / "cube.npy", "expected a 2-D integer label raster", read_labels)


def test_non_numeric(tmp_path):
    np.save(tmp_path / "words.npy", np.array([["a", "b"], ["c", "d"]]))
    _raises(tmp_path / "words.npy", "non-numeric")
    np.save(tmp_path / "objs.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _raises(tmp_path / "objs.npy", "non-numeric")
    scipy.io.savemat(tmp_path / "strs.mat", {"name": "indian pines", "c": np.array([["x"]])})
    _raises(tmp_path / "strs.mat", "non-numeric|no 3-D cube")


def test_nan_inf_loaded_with_warning(tmp_path):
    cube = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    cube[0, 1, 2] = np.nan
    cube[2, 3, 4] = np.inf
    np.save(tmp_path / "holes.npy", cube)
    with pytest.warns(UserWarning, match="2 non-finite"):
        c = read_cube(tmp_path / "holes.npy")
    assert c.data.shape == (3, 4, 5) and np.isnan(c.data[0, 1, 2])
    assert len(c.warnings) == 1 and "2 non-finite" in c.warnings[0]
    assert c.metadata()["warnings"] == c.warnings


def test_wavelength_count_mismatch_is_noted(tmp_path):
    cube = np.zeros((7, 9, 5))
    scipy.io.savemat(tmp_path / "wl.mat", {"cube": cube, "wavelength": np.arange(4.0)})
    c = read_cube(tmp_path / "wl.mat")
    assert c.wavelengths is None  # a 4-vector for 5 bands is not picked up


def test_envi_missing_data_file(tmp_path):
    from spectral.io import envi

    hdr = tmp_path / "scene.hdr"
    envi.save_image(str(hdr), np.zeros((4, 5, 3), np.float32), force=True)
    (tmp_path / "scene.img").unlink()
    _raises(hdr, "cannot read ENVI data")


def test_png_colour_image_is_not_labels(tmp_path):
    from PIL import Image

    rgb = np.zeros((6, 6, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    _raises(tmp_path / "photo.png", "colour image")


def test_read_error_survives_pickling():
    """Workers (dask.distributed) send exceptions to the client by pickling them."""
    import pickle

    err = pickle.loads(pickle.dumps(HSIReadError("a/b.mat", "truncated")))
    assert isinstance(err, HSIReadError) and str(err) == "a/b.mat: truncated"
