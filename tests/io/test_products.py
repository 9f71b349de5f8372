"""Mission product readers open files of each product's real structure: shape, wavelengths,
FWHM, bad-band flags, georeferencing; damaged product files end in a clear HSIReadError."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from napari_ssdgl.io import HSIReadError, can_read, read_cube
from napari_ssdgl.io.emit import read_emit
from napari_ssdgl.io.enmap import read_enmap
from napari_ssdgl.io.lazy import open_lazy
from napari_ssdgl.io.prisma import read_prisma
from tests.io.products import write_aviris_ng, write_emit, write_enmap, write_prisma

pytestmark = pytest.mark.filterwarnings("ignore:.*non-finite:UserWarning")


def _raises(path, match: str, reader=read_cube, **kw) -> None:
    with pytest.raises(HSIReadError, match=match) as info:
        reader(path, **kw)
    assert str(path) in str(info.value) or "METADATA" in str(info.value)


# -- EMIT ---------------------------------------------------------------------------------------
def test_emit_swath(tmp_path):
    path = tmp_path / "EMIT_L2A_RFL_001_20230101T000000_2300100_001.nc"
    ref = write_emit(path)
    assert can_read(path)
    cube = read_cube(path)
    assert cube.data.shape == (8, 6, 5) and cube.data.dtype == np.float32
    np.testing.assert_allclose(cube.data[:, 3, 2], ref["refl"][3, 2, :])
    assert np.isnan(cube.data[:, 0, 0]).all()  # -9999 -> NaN
    np.testing.assert_allclose(cube.wavelengths, ref["wl"], rtol=1e-6)
    np.testing.assert_allclose(cube.fwhm, ref["fwhm"], rtol=1e-6)
    assert np.flatnonzero(cube.bad_bands).tolist() == [2, 5]
    assert cube.wavelength_units == "nm" and cube.geo is None
    assert any("orthorectify=True" in w for w in cube.warnings)


def test_emit_orthorectified_on_the_glt_grid(tmp_path):
    path = tmp_path / "emit.nc"
    ref = write_emit(path)
    cube = read_emit(path, orthorectify=True)[0]
    assert cube.data.shape == (8, 7, 6)  # the GLT's grid
    assert np.isnan(cube.data[:, 0, 0]).all()  # GLT 0: no pixel
    for i, j in ((3, 4), (6, 5), (1, 2)):
        y, x = ref["glt_y"][i, j] - 1, ref["glt_x"][i, j] - 1
        np.testing.assert_allclose(cube.data[:, i, j], ref["refl"][y, x, :])
    gt = ref["gt"]
    assert cube.geo[33922] == [0.0, 0.0, 0.0, gt[0], gt[3], 0.0]
    assert cube.geo[33550] == [gt[1], -gt[5], 0.0]
    assert cube.geo[34735][-1] == 4326 and cube.geo[34735][-4] == 2048  # geographic WGS-84
    assert cube.metadata()["bad_bands"][2] is True


def test_emit_and_prisma_lazy_match_the_in_memory_readers(tmp_path):
    write_emit(tmp_path / "e.nc")
    write_prisma(tmp_path / "p.he5")
    for name in ("e.nc", "p.he5"):
        eager, lazy = read_cube(tmp_path / name), open_lazy(tmp_path / name, tile=2)
        assert lazy.data.chunksize[0] == lazy.bands  # all bands in one chunk
        np.testing.assert_allclose(np.asarray(lazy.data), eager.data, rtol=1e-6)
        assert lazy.data.dtype == eager.data.dtype == np.float32
        for key in ("wavelengths", "fwhm", "bad_bands", "geo", "wavelength_units"):
            assert lazy.metadata().get(key) == eager.metadata().get(key), key


def _scrambled_glt(path, rows: int = 30, cols: int = 24, seed: int = 0) -> None:
    """An EMIT file whose GLT sends a 33 x 27 grid to swath pixels in a rotated, shuffled
    order with empty cells, as a real orbit's lookup table does (not the shifted identity)."""
    write_emit(path, rows=rows, cols=cols)
    rng = np.random.default_rng(seed)
    i, j = np.meshgrid(np.arange(33), np.arange(27), indexing="ij")
    gy = np.clip((i * 0.8 + j * 0.5).astype(np.int64), 0, rows - 1) + 1  # rotated swath
    gx = np.clip((j * 0.9 - i * 0.3 + 8).astype(np.int64), 0, cols - 1) + 1
    swap = rng.random(gy.shape) < 0.1  # neighbours swapped here and there
    gy[swap] = np.roll(gy, 1, axis=0)[swap]
    empty = rng.random(gy.shape) < 0.15
    gx[empty] = gy[empty] = 0
    with h5py.File(path, "a") as f:
        del f["location/glt_x"], f["location/glt_y"]
        f["location/glt_x"], f["location/glt_y"] = gx.astype(np.int32), gy.astype(np.int32)


@pytest.mark.parametrize("tile", [4, 7, 256])
def test_emit_orthorectified_lazily_matches_the_in_memory_grid(tmp_path, tile, monkeypatch):
    import pickle

    monkeypatch.setattr("napari_ssdgl.io.emit.GRID_TILE", tile)  # in memory: tiles of it too
    _scrambled_glt(tmp_path / "emit.nc")
    with h5py.File(tmp_path / "emit.nc", "r") as f:  # the grid gathered here, by hand
        refl = f["reflectance"][()].astype(np.float32)
        gx, gy = f["location/glt_x"][()], f["location/glt_y"][()]
    refl[refl == -9999.0] = np.nan
    expected = np.full((8, *gx.shape), np.nan, np.float32)
    for i, j in zip(*np.nonzero(gx > 0), strict=True):
        expected[:, i, j] = refl[gy[i, j] - 1, gx[i, j] - 1]
    eager = read_emit(tmp_path / "emit.nc", orthorectify=True)[0]
    np.testing.assert_array_equal(eager.data, expected)
    lazy = open_lazy(tmp_path / "emit.nc", tile=tile, orthorectify=True)
    assert lazy.data.shape == eager.data.shape == (8, 33, 27)
    assert lazy.data.chunksize == (8, min(tile, 33), min(tile, 27))
    np.testing.assert_array_equal(np.asarray(lazy.data), eager.data)
    for key in ("wavelengths", "fwhm", "bad_bands", "geo", "wavelength_units", "stored_shape"):
        assert lazy.metadata().get(key) == eager.metadata().get(key), key
    assert not any("swath" in w for w in lazy.warnings)
    window = pickle.loads(pickle.dumps(lazy.data))[:, 5:12, 3:20]  # as a dask worker gets it
    np.testing.assert_array_equal(np.asarray(window), eager.data[:, 5:12, 3:20])


@pytest.mark.parametrize("index", [
    (0,), (3, slice(2, 9), slice(None)), (slice(None), 5, slice(1, 20, 3)), (2, [1, 4, 9], 7),
    (Ellipsis, 4), (-1, slice(None), [0, 26]), (1, slice(30, 2, -3), 4),
    (slice(None), slice(0, 0), slice(None))])
def test_the_lazy_grid_indexes_as_numpy_does(tmp_path, index):
    """dask pushes a band, a row or an index list into the source (napari's band slider
    does), so the source answers any basic index, and one index list, as numpy would."""
    from napari_ssdgl.io.lazy import GLTSource

    _scrambled_glt(tmp_path / "emit.nc")
    eager = read_emit(tmp_path / "emit.nc", orthorectify=True)[0].data
    graph = open_lazy(tmp_path / "emit.nc", tile=8, orthorectify=True).data.__dask_graph__()
    [source] = {id(v): v for v in dict(graph).values() if isinstance(v, GLTSource)}.values()
    np.testing.assert_array_equal(source[index], eager[index])
    with pytest.raises(IndexError, match="one index array"):
        source[[0, 1], [2, 3]]


def test_a_lazy_grid_tile_reads_only_its_patch_of_the_swath(tmp_path, monkeypatch):
    from napari_ssdgl.io.lazy import LazySource

    _scrambled_glt(tmp_path / "emit.nc")
    lazy = open_lazy(tmp_path / "emit.nc", tile=8, orthorectify=True)
    reads, original = [], LazySource.__getitem__

    def recording(self, index):
        block = original(self, index)
        if self.key == "reflectance":
            reads.append(block.shape)
        return block

    monkeypatch.setattr(LazySource, "__getitem__", recording)
    lazy.data.blocks[0, 1, 1].compute(scheduler="sync")
    [(bands, rows, cols)] = reads
    assert bands == 8 and rows * cols < 30 * 24 / 4  # a patch, not the swath


def test_emit_orthorectified_lazily_is_checked_and_only_for_emit(tmp_path):
    path = tmp_path / "emit.nc"
    write_emit(path)
    with h5py.File(path, "a") as f:
        f["location/glt_y"][3, 3] = 99  # beyond the swath
    _raises(path, "GLT points outside", open_lazy, orthorectify=True)
    write_prisma(tmp_path / "p.he5")
    for reader in (open_lazy, read_cube):
        _raises(tmp_path / "p.he5", "only an EMIT", reader, orthorectify=True)
    write_emit(tmp_path / "no_glt.nc")
    with h5py.File(tmp_path / "no_glt.nc", "a") as f:
        del f["location"]
    _raises(tmp_path / "no_glt.nc", "cannot orthorectify", open_lazy, orthorectify=True)


def test_class_map_from_a_product_is_on_its_grid(tmp_path):
    import tifffile

    from napari_ssdgl.io import write_class_map
    from napari_ssdgl.io.tiff import read_geo_tags

    write_emit(tmp_path / "e.nc")
    cube = read_emit(tmp_path / "e.nc", orthorectify=True)[0]
    out = write_class_map(tmp_path / "map.tif", np.ones(cube.spatial_shape, np.uint8),
                          geo=cube.geo)
    with tifffile.TiffFile(out) as tf:
        assert read_geo_tags(tf.pages[0]) == cube.geo


def test_emit_declared_size_is_checked_before_reading(tmp_path):
    path = tmp_path / "huge.nc"
    write_emit(path)
    with h5py.File(path, "a") as f:
        del f["reflectance"]
        f.create_dataset("reflectance", shape=(200_000, 1242, 8), dtype="f4")  # nothing stored
    _raises(path, "declares")
    _raises(path, "declares", open_lazy)


def test_emit_damaged(tmp_path):
    path = tmp_path / "emit.nc"
    write_emit(path)
    raw = path.read_bytes()
    cut = tmp_path / "cut.nc"
    cut.write_bytes(raw[: len(raw) // 2])
    _raises(cut, "EMIT")
    other = tmp_path / "other.nc"
    with h5py.File(other, "w") as f:
        f["temperature"] = np.zeros((3, 3))
    _raises(other, "no 'reflectance' variable")
    text = tmp_path / "text.nc"
    text.write_text("netcdf3 or notes\n" * 4)
    _raises(text, "no HDF5 signature")
    assert not can_read(text)
    wrong = tmp_path / "wrong.nc"
    write_emit(wrong)
    with h5py.File(wrong, "a") as f:
        del f["sensor_band_parameters/fwhm"]
        f["sensor_band_parameters/fwhm"] = np.ones(3)
        f["location/glt_x"][2, 2] = 99  # beyond the swath
    _raises(wrong, "'sensor_band_parameters/fwhm' has 3 values for 8 bands")
    with h5py.File(wrong, "a") as f:
        del f["sensor_band_parameters/fwhm"]
    assert read_cube(wrong).fwhm is None
    _raises(wrong, "GLT points outside", read_emit, orthorectify=True)


# -- PRISMA -------------------------------------------------------------------------------------
def test_prisma_l2d_joined_by_wavelength(tmp_path):
    path = tmp_path / "PRS_L2D_STD_20230101101010_20230101101014_0001.he5"
    ref = write_prisma(path)
    assert can_read(path)
    cube = read_cube(path)
    # 5 VNIR + 4 SWIR bands with a centre; sorted, overlap 940-980 nm kept from both
    np.testing.assert_allclose(cube.wavelengths,
                               [450, 550, 700, 940, 960, 980, 1000, 1600, 2400])
    np.testing.assert_allclose(cube.fwhm, [8, 9, 10, 11.5, 11, 12, 11, 10.5, 10])
    assert np.flatnonzero(cube.bad_bands).tolist() == [1]  # 550 nm: flag 0
    assert cube.data.shape == (9, 4, 5)
    # 450 nm is stored VNIR band 4; 1600 nm SWIR band 1 (scale 0..0.5)
    np.testing.assert_allclose(cube.data[0], ref["vnir"][:, 4, :] / 65535.0, rtol=1e-6)
    np.testing.assert_allclose(cube.data[7], ref["swir"][:, 1, :] * 0.5 / 65535.0, rtol=1e-6)
    assert cube.geo[33922] == [0.0, 0.0, 0.0, 500000.0, 4600030.0, 0.0]
    assert cube.geo[33550] == [30.0, 30.0, 0.0] and cube.geo[34735][-1] == 32633
    assert any("kept from both" in w for w in cube.warnings)


@pytest.mark.parametrize(("overlap", "expected"), [
    ("vnir", [450, 550, 700, 940, 960, 980, 1000, 1600, 2400][:6] + [1000, 1600, 2400]),
    ("swir", [450, 550, 700, 940, 1000, 1600, 2400]),
])
def test_prisma_overlap_from_one_spectrometer(tmp_path, overlap, expected):
    path = tmp_path / "p.he5"
    write_prisma(path)
    cube = read_prisma(path, overlap=overlap)[0]
    if overlap == "vnir":  # SWIR 940 dropped (inside VNIR's range), SWIR 1000 kept
        expected = [450, 550, 700, 960, 980, 1000, 1600, 2400]
    np.testing.assert_allclose(cube.wavelengths, expected)
    assert cube.data.shape[0] == len(expected)


def test_prisma_swath_level_has_no_grid(tmp_path):
    path = tmp_path / "PRS_L2C.he5"
    write_prisma(path, level="L2C")
    cube = read_cube(path)
    assert cube.geo is None and any("swath geometry" in w for w in cube.warnings)


def test_prisma_damaged(tmp_path):
    path = tmp_path / "p.he5"
    write_prisma(path)
    raw = path.read_bytes()
    cut = tmp_path / "cut.he5"
    cut.write_bytes(raw[: len(raw) // 2])
    _raises(cut, "PRISMA")
    for attr, match in (("L2ScaleSwirMax", "no 'L2ScaleSwirMax' attribute"),
                        ("List_Cw_Vnir", "no 'List_Cw_Vnir'")):
        bad = tmp_path / f"no_{attr}.he5"
        write_prisma(bad)
        with h5py.File(bad, "a") as f:
            del f.attrs[attr]
        _raises(bad, match)
    empty = tmp_path / "empty.he5"
    with h5py.File(empty, "w") as f:
        f.create_group("HDFEOS/SWATHS/PRS_L1_HCO")
    _raises(empty, "no HDFEOS/SWATHS/PRS_L2")


# -- EnMAP --------------------------------------------------------------------------------------
def test_enmap_by_image_xml_and_folder(tmp_path):
    ref = write_enmap(tmp_path / "product")
    for path in (ref["image"], ref["xml"], tmp_path / "product"):
        assert can_read(path)
        cube = read_cube(path)
        assert cube.data.shape == (4, 5, 6) and cube.data.dtype == np.float32
        np.testing.assert_allclose(cube.wavelengths, ref["wl"])
        np.testing.assert_allclose(cube.fwhm, ref["fwhm"])
        expected = ref["dn"][3, 2, 4] * 1e-4 + 0.01
        np.testing.assert_allclose(cube.data[3, 2, 4], expected, rtol=1e-5)
        assert np.isnan(cube.data[:, 0, 0]).all()  # nodata -32768
        assert cube.geo[33922][3:5] == [600000.0, 5300000.0] and cube.geo[34735][-1] == 32632


def test_plain_tif_is_not_enmap(tmp_path):
    ref = write_enmap(tmp_path / "product")
    ref["xml"].unlink()  # an image without its XML is a plain GeoTIFF
    cube = read_cube(ref["image"])
    assert cube.wavelengths is None and cube.data.dtype == np.int16


def test_enmap_damaged(tmp_path):
    ref = write_enmap(tmp_path / "product")
    text = ref["xml"].read_text()
    ref["xml"].write_text(text[: len(text) // 2])
    _raises(ref["image"], "corrupt or truncated XML", read_enmap)
    ref["xml"].write_text(text.replace("<FWHMOfBand>6.5</FWHMOfBand>",
                                       "<FWHMOfBand>x</FWHMOfBand>"))
    _raises(ref["image"], "must be numbers", read_enmap)
    ref["xml"].write_text(text.replace('<bandID number="4">', '<bandID number="9">'))
    _raises(ref["image"], "not consecutive", read_enmap)
    three = (text[: text.index('<bandID number="4">')]
             + "</bandCharacterisation></specific></level_X>")
    ref["xml"].write_text(three)
    _raises(ref["image"], "describes 3 bands but the image", read_enmap)
    ref["xml"].write_text(text)
    raw = ref["image"].read_bytes()
    ref["image"].write_bytes(raw[: len(raw) // 3])
    _raises(ref["image"], "TIFF", read_enmap)


# -- AVIRIS-NG / AVIRIS-3 ENVI ------------------------------------------------------------------
@pytest.mark.parametrize("interleave", ["bil", "bip", "bsq"])
def test_aviris_ng_envi(tmp_path, interleave):
    ref = write_aviris_ng(tmp_path, interleave=interleave)
    assert can_read(ref["data"])  # the data file without extension, its '.hdr' beside it
    for cube in (read_cube(ref["hdr"]), read_cube(ref["data"]), open_lazy(ref["hdr"])):
        data = np.asarray(cube.data)
        assert data.shape == (5, 4, 3)
        np.testing.assert_array_equal(data[:, 2, 1], ref["cube"][:, 2, 1])
        assert np.isnan(data[:, 0, 0]).all()  # data ignore value -9999
        np.testing.assert_allclose(cube.wavelengths, ref["wl"], rtol=1e-6)
        np.testing.assert_allclose(cube.fwhm, ref["fwhm"])
        assert cube.bad_bands.tolist() == [False, True, False, False, False]
        assert cube.wavelength_units == "Nanometers"
        assert cube.geo[33922] == [0.0, 0.0, 0.0, 724522.127, 4074620.759, 0.0]
        assert cube.geo[33550] == [5.0, 5.0, 0.0] and cube.geo[34735][-1] == 32611


def test_envi_map_info_rotation_and_reference_pixel_as_gdal_reads_them():
    from napari_ssdgl.io.geo import envi_map_info, geo_tags

    values = ["UTM", "2", "3", "1000", "5000", "4", "4", "33", "South", "WGS-84",
              "units=Meters", "rotation=30"]
    transform, epsg = envi_map_info(values)
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    np.testing.assert_allclose(transform, (996.0, 4 * c, -4 * s, 5008.0, -4 * s, -4 * c))
    assert epsg == 32733
    assert set(geo_tags(transform, epsg)) == {34264, 34735}  # rotated: a transformation
    assert envi_map_info(["Geographic Lat/Lon", "1", "1", "-120", "36", "0.1", "0.1",
                          "WGS-84"])[1] == 4326
    assert envi_map_info(["Arbitrary", "1", "1", "0", "0", "1", "1"])[1] is None
    assert envi_map_info("not a list") is None


def test_aviris_header_without_units_in_micrometres(tmp_path):
    ref = write_aviris_ng(tmp_path, units=False)
    cube = read_cube(ref["hdr"])
    assert cube.wavelength_units == "Micrometers"
    assert any("taken as micrometers" in w for w in cube.warnings)
    np.testing.assert_allclose(cube.wavelengths, ref["wl"], rtol=1e-6)
