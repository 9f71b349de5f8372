"""Lazy cubes: every reader returns a dask array without reading the whole file, and zarr
conversion is chunked (all bands x spatial tiles) and atomic.

"Never loads the whole array" is asserted with tracemalloc (numpy reports its allocations to it;
a memory map or a few chunks allocate little) and, for zarr, by counting the values read.
"""

import tracemalloc

import dask.array as da
import h5py
import numpy as np
import pytest
import tifffile
import zarr

from napari_ssdgl.io import HSIReadError
from napari_ssdgl.io.lazy import open_lazy, sample_contrast_limits
from napari_ssdgl.io.zarr_store import IncompleteOutputError, open_zarr_cube, write_zarr_cube
from napari_ssdgl.workflows.convert import convert

BANDS, ROWS, COLS = 16, 256, 320  # 5.2 MB of float32: big next to what a lazy read may allocate
LIMIT = 1_000_000  # bytes a lazy open plus one spectrum may allocate


@pytest.fixture(scope="module")
def cube() -> np.ndarray:
    return np.random.default_rng(0).random((BANDS, ROWS, COLS), dtype=np.float32)


def _write(kind: str, path, cube):
    if kind == "envi":
        from spectral.io import envi

        envi.save_image(str(path / "c.hdr"), np.moveaxis(cube, 0, -1), interleave="bil",
                        force=True, metadata={"wavelength": list(range(400, 400 + BANDS))})
        return path / "c.hdr"
    if kind == "tiff":  # tiled: read through tifffile's zarr store
        tifffile.imwrite(path / "c.tif", cube, planarconfig="separate", tile=(64, 64))
        return path / "c.tif"
    if kind == "tiff-contiguous":  # tifffile's default layout: memory-mapped
        tifffile.imwrite(path / "c.tif", cube, planarconfig="separate")
        return path / "c.tif"
    if kind == "mat73":
        with h5py.File(path / "c.mat", "w") as f:  # MATLAB (rows, cols, bands), column-major
            f.create_dataset("img", data=cube.transpose(0, 2, 1), chunks=(BANDS, 64, 64))
            f["img"].attrs["MATLAB_class"] = b"single"
            f.create_dataset("wavelength", data=np.arange(BANDS, dtype=float)[:, None])
        return path / "c.mat"
    if kind == "npy":
        np.save(path / "c.npy", np.moveaxis(cube, 0, -1))
        return path / "c.npy"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["envi", "tiff", "tiff-contiguous", "mat73", "npy"])
def test_lazy_readers_do_not_load_the_whole_array(kind, cube, tmp_path):
    from napari_ssdgl.io import lazy as lazy_module

    if kind == "tiff" and int(zarr.__version__.split(".")[0]) < 3:
        pytest.skip("recent tifffile serves tiled TIFFs as a zarr store only to zarr >= 3")
    path = _write(kind, tmp_path, cube)
    open_lazy(path, tile=64).data[:, 0, 0].compute(scheduler="sync")  # imports happen here
    lazy_module._OPEN.clear()  # but the file is opened afresh below
    tracemalloc.start()
    try:
        lazy = open_lazy(path, tile=64)
        spectrum = lazy.data[:, 100, 200].compute(scheduler="sync")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(lazy.data, da.Array) and lazy.data.shape == cube.shape
    assert lazy.data.chunksize[0] == BANDS and max(lazy.data.chunksize[1:]) <= 64
    assert peak < LIMIT, f"{kind}: {peak} bytes allocated for one spectrum"
    assert np.array_equal(spectrum, cube[:, 100, 200])
    assert np.array_equal(lazy.data[:, 30:90, 250:].compute(), cube[:, 30:90, 250:])
    if kind in ("envi", "mat73"):
        assert lazy.wavelengths is not None and lazy.wavelengths.size == BANDS


def test_zarr_reads_only_the_chunks_it_needs(cube, tmp_path, monkeypatch):
    write_zarr_cube(open_lazy(_write("envi", tmp_path, cube)), tmp_path / "c.zarr", tile=64)
    read = []
    original = zarr.Array.__getitem__

    def counting(self, key):
        out = original(self, key)
        read.append(np.asarray(out).size)
        return out

    monkeypatch.setattr(zarr.Array, "__getitem__", counting)
    lazy = open_lazy(tmp_path / "c.zarr")
    assert sum(read) == 0  # opening reads nothing (dask may take a 0-size slice for meta)
    assert np.array_equal(lazy.data[:, 10, 20].compute(scheduler="sync"), cube[:, 10, 20])
    assert sum(read) <= BANDS * 64 * 64  # one chunk, not the cube
    assert lazy.wavelengths.tolist() == list(range(400, 400 + BANDS))


def test_convert_writes_band_complete_spatial_chunks(cube, tmp_path):
    src = _write("tiff-contiguous", tmp_path, cube)
    out = convert(src, tmp_path / "out.zarr", tile=64)
    z = zarr.open_array(str(out), mode="r")
    assert z.chunks == (BANDS, 64, 64) and z.attrs["complete"] is True
    assert np.array_equal(z[:], cube)
    assert np.array_equal(open_zarr_cube(out).data.compute(), cube)
    with pytest.raises(FileExistsError):
        convert(src, out)
    import scipy.io  # MATLAB v5 cannot be memory-mapped: read whole, then written in chunks

    scipy.io.savemat(tmp_path / "v5.mat", {"x": np.moveaxis(cube[:, :32, :40], 0, -1)})
    v5 = open_lazy(convert(tmp_path / "v5.mat", tmp_path / "v5.zarr")).data
    assert np.array_equal(v5.compute(), cube[:, :32, :40])


def test_failed_conversion_leaves_nothing_that_looks_complete(cube, tmp_path):
    def boom(block):
        raise OSError("disk on fire")

    bad = open_lazy(_write("npy", tmp_path, cube), tile=64)
    bad.data = bad.data.map_blocks(boom, dtype=bad.data.dtype)
    with pytest.raises(OSError, match="disk on fire"):
        write_zarr_cube(bad, tmp_path / "bad.zarr", tile=64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npy"]
    z = zarr.open_array(str(tmp_path / "half.zarr"), mode="w", shape=(2, 4, 4), dtype="f4")
    z.attrs["complete"] = False  # as a killed run of an older writer might leave it
    with pytest.raises(IncompleteOutputError, match="did not finish"):
        open_zarr_cube(tmp_path / "half.zarr")


def test_lazy_errors_name_the_file(tmp_path):
    with pytest.raises(HSIReadError, match="file not found"):
        open_lazy(tmp_path / "missing.hdr")
    (tmp_path / "x.png").write_bytes(b"\x89PNG")
    with pytest.raises(HSIReadError, match="no lazy reader"):
        open_lazy(tmp_path / "x.png")


def test_contrast_limits_read_a_few_chunks_only(cube, tmp_path, monkeypatch):
    write_zarr_cube(open_lazy(_write("envi", tmp_path, cube)), tmp_path / "c.zarr", tile=64)
    read = []
    original = zarr.Array.__getitem__
    monkeypatch.setattr(zarr.Array, "__getitem__",
                        lambda self, key: read.append(1) or original(self, key))
    lo, hi = sample_contrast_limits(open_lazy(tmp_path / "c.zarr").data, blocks=4)
    assert 0 <= lo < 0.05 and 0.95 < hi <= 1  # uniform [0, 1) data, 1st / 99th percentile
    assert len(read) <= 4 + 1  # four chunks (+ dask's 0-size meta probe) of 20
