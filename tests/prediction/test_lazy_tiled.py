"""Tiled prediction of a lazy cube (issue 17): a dask, zarr or HDF5 array, a memory map or a
Cube of one is never read whole; each tile is read, its bands selected or resampled, cleaned
and z-scored alone, and the result is the in-memory cube's tiled result."""

import dataclasses

import dask.array as da
import numpy as np
import pytest

from napari_ssdgl.io.base import Cube
from napari_ssdgl.prediction.spectral import BandView
from napari_ssdgl.training import TrainConfig, Trainer
from tests.conftest import TINY, Recording, tiny_classifier, toy_scene

BANDS, SIZE = 12, 64  # larger than a tile: a 48 px window never spans the scene
TILE = {"tile_size": 48, "overlap": 16, "device": "cpu"}
NAN_NOTE = "NaN/inf values in the cube were replaced by the band mean"


@pytest.fixture(scope="module")
def scene():
    return toy_scene(bands=BANDS, size=SIZE)


@pytest.fixture(scope="module")
def clf(scene):
    return tiny_classifier(*scene)


@pytest.fixture(scope="module")
def selected(scene):
    """A model trained on bands 3-11 of the 12: a full cube goes in through its selection."""
    cfg = TrainConfig(iterations=20, lr=0.01, eval_every=0, device="cpu", model_kwargs=TINY)
    return Trainer(*scene, cfg, bands=range(3, BANDS)).fit()


def lazy(kind: str, data: np.ndarray, tmp_path):
    """``data`` as a lazy array of ``kind``."""
    if kind == "dask":
        return da.from_array(data, chunks=(data.shape[0], 32, 32))
    if kind == "cube of dask":
        return Cube(data=da.from_array(data, chunks=data.shape))
    if kind == "memmap":
        np.save(tmp_path / "cube.npy", data)
        return np.load(tmp_path / "cube.npy", mmap_mode="r")
    if kind == "zarr":
        import zarr

        z = zarr.open_array(str(tmp_path / "cube.zarr"), mode="w", shape=data.shape,
                            chunks=(data.shape[0], 16, 16), dtype=data.dtype)
        z[...] = data
        return z
    import h5py

    return h5py.File(tmp_path / "cube.h5", "w").create_dataset("cube", data=data)


def assert_read_in_tiles(source: Recording) -> None:
    """Every read was at most a tile (48 px each way), none the scene's whole extent."""
    assert source.reads, "nothing was read"
    assert max(max(r[1:]) for r in source.reads) <= TILE["tile_size"], sorted(set(source.reads))


KINDS = ["dask", "cube of dask", "memmap", "zarr", "h5py"]


@pytest.mark.parametrize("kind", KINDS)
def test_tiled_predict_of_a_lazy_cube_is_the_in_memory_one(clf, scene, kind, tmp_path):
    cube = scene[0]
    expected = clf.predict(cube, **TILE).probabilities
    np.testing.assert_array_equal(clf.predict(lazy(kind, cube, tmp_path), **TILE).probabilities,
                                  expected)


@pytest.mark.parametrize("kind", KINDS)
def test_a_band_selected_model_takes_its_bands_from_a_lazy_cube(selected, scene, kind,
                                                                 tmp_path):
    cube = scene[0]
    expected = selected.predict(cube, **TILE).probabilities
    got = selected.predict(lazy(kind, cube, tmp_path), **TILE).probabilities
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("model", ["clf", "selected"])
@pytest.mark.parametrize("wrap", ["bare", "dask"])
def test_a_lazy_cube_is_read_tile_by_tile_never_whole(model, wrap, scene, request):
    """A source that refuses to be read whole (Recording) and records every read, bare or
    under a one-chunk dask array (whose fancy band indexing would read the chunk whole)."""
    m = request.getfixturevalue(model)
    source = Recording(scene[0])
    cube = source if wrap == "bare" else da.from_array(source, chunks=source.shape)
    got = m.predict(cube, **TILE).probabilities
    np.testing.assert_array_equal(got, m.predict(scene[0], **TILE).probabilities)
    assert_read_in_tiles(source)


def test_tta_on_a_lazy_cube_reads_flipped_tiles(clf, scene):
    source = Recording(scene[0])
    got = clf.predict(source, tta=True, **TILE).probabilities
    np.testing.assert_allclose(got, clf.predict(scene[0], tta=True, **TILE).probabilities,
                               atol=1e-6)
    assert_read_in_tiles(source)


def test_a_nan_in_a_lazy_cube_is_replaced_with_a_warning_as_in_memory(clf, scene):
    cube = scene[0].copy()
    cube[2, 5, 7] = np.nan
    with pytest.warns(UserWarning, match=NAN_NOTE):
        expected = clf.predict(cube, **TILE).probabilities
    source = Recording(cube)
    with pytest.warns(UserWarning, match=NAN_NOTE):
        got = clf.predict(da.from_array(source, chunks=source.shape), **TILE).probabilities
    np.testing.assert_array_equal(got, expected)
    assert np.isfinite(got).all()
    assert_read_in_tiles(source)


def test_a_lazy_cube_of_another_sensor_is_resampled_tile_by_tile(clf, scene):
    model = dataclasses.replace(clf, wavelengths=np.linspace(450.0, 950.0, BANDS),
                                wavelength_units="nm")
    other = np.linspace(400.0, 1000.0, 16)
    rng = np.random.default_rng(1)
    cube = rng.normal(size=(16, SIZE, SIZE)).astype(np.float32)
    plan = model.plan(16, other, "nm")
    assert plan.kind == "resample"
    source = Recording(cube)
    assert isinstance(plan.view(source), BandView)
    got = model.predict(source, bands=plan, **TILE).probabilities
    expected = model.predict(cube, bands=plan, **TILE).probabilities
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert_read_in_tiles(source)


def test_band_plan_view_keeps_numpy_as_apply_makes_it(selected, scene, tmp_path):
    cube = scene[0]
    plan = selected.plan(BANDS)
    assert plan.kind == "select"
    np.testing.assert_array_equal(plan.view(cube), plan.apply(cube))  # a numpy copy, as before
    view = plan.view(lazy("memmap", cube, tmp_path))
    assert isinstance(view, BandView) and view.shape == (BANDS - 3, SIZE, SIZE)
    np.testing.assert_array_equal(view[:, 4:20, 8:30], cube[3:, 4:20, 8:30])
