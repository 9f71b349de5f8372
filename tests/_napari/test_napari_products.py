"""napari's reader opens mission products through the registry (EMIT .nc, PRISMA .he5, an
EnMAP folder or its XML, an AVIRIS-NG data file); the layer metadata carries FWHM and bad
bands; a damaged product is explained, not raised."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from napari_ssdgl._napari._reader import LAZY_BYTES_ENV, get_reader
from napari_ssdgl.io.emit import read_emit
from tests.io.products import write_aviris_ng, write_emit, write_enmap, write_prisma

pytestmark = pytest.mark.filterwarnings("ignore:.*non-finite:UserWarning")


def _layer(path):
    reader = get_reader(str(path))
    assert reader is not None, path
    (data, kwargs, kind), *_ = reader(str(path))
    assert kind == "image"
    return data, kwargs["metadata"]


def test_products_open_as_cube_layers(tmp_path):
    write_emit(tmp_path / "emit.nc")
    write_prisma(tmp_path / "prisma.he5")
    enmap = write_enmap(tmp_path / "enmap")
    aviris = write_aviris_ng(tmp_path / "aviris")
    for path, bands, bad in ((tmp_path / "emit.nc", 8, [2, 5]),
                             (tmp_path / "prisma.he5", 9, [1]),
                             (tmp_path / "enmap", 4, None), (enmap["xml"], 4, None),
                             (aviris["data"], 5, [1])):
        data, md = _layer(path)
        assert data.shape[0] == bands and len(md["wavelengths"]) == bands
        assert len(md["fwhm"]) == bands
        if bad is None:
            assert "bad_bands" not in md
        else:
            assert np.flatnonzero(md["bad_bands"]).tolist() == bad


def test_big_products_open_lazily(tmp_path, monkeypatch):
    monkeypatch.setenv(LAZY_BYTES_ENV, "0")
    write_emit(tmp_path / "emit.nc")
    write_prisma(tmp_path / "prisma.he5")
    for name in ("emit.nc", "prisma.he5"):
        data, md = _layer(tmp_path / name)
        assert isinstance(data, da.Array) and md["lazy"] is True and "fwhm" in md


def test_damaged_product_is_explained(tmp_path):
    write_emit(tmp_path / "emit.nc")
    raw = (tmp_path / "emit.nc").read_bytes()
    cut = tmp_path / "cut.nc"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.warns(UserWarning, match="could not read .*cut.nc"):
        assert get_reader(str(cut)) is None


@pytest.mark.gui
def test_the_dock_reopens_an_emit_swath_on_its_map_grid(make_napari_viewer, tmp_path, notes,
                                                        monkeypatch):
    from napari_ssdgl._napari._widget import SSDGLWidget
    from napari_ssdgl.io.geo import pixel_area_ha

    monkeypatch.setenv(LAZY_BYTES_ENV, "0")  # a big granule: the swath opens lazily
    write_emit(tmp_path / "emit.nc", rows=6, cols=5)
    write_aviris_ng(tmp_path / "aviris")
    viewer = make_napari_viewer()
    other = viewer.open(str(tmp_path / "aviris" / "ang20200712t201415_rfl_v2y1_img.hdr"),
                        plugin="napari-ssdgl")[0]
    layer = viewer.open(str(tmp_path / "emit.nc"), plugin="napari-ssdgl")[0]
    w = SSDGLWidget(viewer)
    box = w.data.orthorectify
    w.data.cube_picker.value = other
    assert not box.isVisibleTo(w)  # only an EMIT cube has the choice
    w.data.cube_picker.value = layer
    assert box.isVisibleTo(w) and not box.isChecked()
    assert isinstance(layer.data, da.Array) and "geo" not in layer.metadata  # the swath
    painted = w.data.new_labels_layer()
    box.click()  # tick: the GLT grid, georeferenced; a big granule stays lazy
    assert box.isChecked() and layer.data.shape == (8, 7, 6)
    assert isinstance(layer.data, da.Array) and layer.metadata.get("lazy")
    np.testing.assert_array_equal(np.asarray(layer.data), read_emit(
        tmp_path / "emit.nc", orthorectify=True)[0].data)
    assert pixel_area_ha(layer.metadata["geo"], 7)[0] == pytest.approx(0.2932, abs=1e-4)
    carried = viewer.layers[f"{painted.name} (map grid)"]  # painted on the swath: carried
    assert carried.data.shape == (7, 6) and w.data.labels_picker.value is carried
    assert not painted.visible and painted.data.shape == (6, 5)  # the original, kept
    assert any("carried onto it" in m for m in notes.infos)
    assert w.data.set_band_axis(layer, 2) and layer.data.shape == (8, 7, 6)  # stays on grid
    box.click()  # untick: the swath again, as the reader opens it
    assert not box.isChecked() and layer.data.shape == (8, 6, 5)
    assert isinstance(layer.data, da.Array) and "geo" not in layer.metadata
    assert not notes.errors
    assert not w.data.set_orthorectified(other, True)  # not EMIT: refused, unchanged
    assert "geo" in other.metadata and any("Only an EMIT" in e for e in notes.errors)


@pytest.mark.gui
def test_a_small_emit_granule_is_orthorectified_in_memory(make_napari_viewer, tmp_path):
    from napari_ssdgl._napari._widget import SSDGLWidget

    write_emit(tmp_path / "emit.nc", rows=6, cols=5)
    viewer = make_napari_viewer()
    layer = viewer.open(str(tmp_path / "emit.nc"), plugin="napari-ssdgl")[0]
    w = SSDGLWidget(viewer)
    w.data.cube_picker.value = layer
    w.data.orthorectify.click()
    assert isinstance(layer.data, np.ndarray) and not layer.metadata.get("lazy")
    assert layer.data.shape == (8, 7, 6) and "geo" in layer.metadata


@pytest.mark.gui
def test_labels_follow_an_emit_cube_onto_its_grid_and_back(make_napari_viewer, tmp_path,
                                                           notes):
    """Painted labels and a loaded ground truth are carried through the GLT each way as new
    layers; the plugin's outputs are not; the originals stay as they were."""
    from napari_ssdgl._napari._layers import ROLE
    from napari_ssdgl._napari._widget import SSDGLWidget
    from napari_ssdgl.io.emit import read_glt

    write_emit(tmp_path / "emit.nc", rows=6, cols=5)
    viewer = make_napari_viewer()
    layer = viewer.open(str(tmp_path / "emit.nc"), plugin="napari-ssdgl")[0]
    w = SSDGLWidget(viewer)
    w.data.cube_picker.value = layer
    painted = w.data.new_labels_layer()
    painted.data[1:3, 1:4] = 2
    painted.data[4, 0] = 3
    truth = viewer.add_labels(np.arange(30, dtype=np.int32).reshape(6, 5) % 4, name="truth")
    w.data.gt_picker.value = truth
    viewer.add_labels(np.ones((6, 5), np.int32), name="old prediction",
                      metadata={ROLE: "prediction"})
    before = np.array(painted.data)
    w.data.orthorectify.click()
    gx, gy = read_glt(tmp_path / "emit.nc")
    grid = viewer.layers[f"{painted.name} (map grid)"].data
    for i, j in zip(*np.nonzero(gx > 0), strict=True):  # each cell: its swath pixel's label
        assert grid[i, j] == before[gy[i, j] - 1, gx[i, j] - 1]
    assert grid[0, 0] == 0  # no pixel there
    assert w.data.gt_picker.value is viewer.layers["truth (map grid)"]
    assert "old prediction (map grid)" not in viewer.layers  # an output is not carried
    np.testing.assert_array_equal(painted.data, before)  # the original, untouched
    w.data.orthorectify.click()  # back to the swath: the grid's labels come back
    back = viewer.layers[f"{painted.name} (swath)"]
    np.testing.assert_array_equal(back.data, before)
    assert w.data.labels_picker.value is back and not notes.errors
