"""A file replaced at the same path is read afresh: open_lazy's per-process cache, the dask
tokens and the napari hook (with ``NAPARI_SSDGL_LAZY_BYTES=0``) are keyed on each file's
identity (resolved path, size, modification time), and a lazy cube whose file changed under it
refuses to read rather than mix two files (issue 21, item 6)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from napari_ssdgl._napari._reader import LAZY_BYTES_ENV, get_reader
from napari_ssdgl.io import Cube
from napari_ssdgl.io.lazy import open_lazy
from napari_ssdgl.io.zarr_store import ChunkReadError, write_zarr_cube


def _cube(value: float, shape=(4, 6, 5)) -> np.ndarray:
    return np.full(shape, value, np.float32)


def _replace(path, write) -> None:
    """Write a new file at ``path`` whose modification time surely differs from the old one."""
    old = path.stat().st_mtime_ns if path.exists() else 0
    write()
    os.utime(path, ns=(old + 10**9, old + 10**9))


@pytest.mark.parametrize("same_size", [True, False])
def test_open_lazy_reads_a_replaced_npy_afresh(tmp_path, same_size):
    path = tmp_path / "c.npy"
    np.save(path, _cube(1.0))
    first = open_lazy(path)
    assert float(first.data.max().compute()) == 1.0
    shape = (4, 6, 5) if same_size else (4, 7, 5)
    _replace(path, lambda: np.save(path, _cube(2.0, shape)))
    second = open_lazy(path)
    assert second.data.shape == shape and float(second.data.max().compute()) == 2.0
    assert second.data.name != first.data.name  # new dask keys: no cached result is reused
    with pytest.raises(ChunkReadError, match="changed since it was opened"):
        first.data.compute()


def test_open_lazy_reads_a_replaced_envi_data_file_afresh(tmp_path):
    from spectral.io import envi

    hdr = tmp_path / "e.hdr"
    envi.save_image(str(hdr), _cube(1.0, (6, 5, 4)), force=True, interleave="bip")
    assert float(open_lazy(hdr).data.max().compute()) == 1.0
    img = tmp_path / "e.img"
    _replace(img, lambda: img.write_bytes(_cube(3.0, (6, 5, 4)).tobytes()))  # header unchanged
    assert float(open_lazy(hdr).data.max().compute()) == 3.0


def test_rewritten_zarr_cube_gets_new_keys_and_data(tmp_path):
    path = tmp_path / "c.zarr"
    write_zarr_cube(Cube(_cube(1.0)), path)
    first = open_lazy(path)
    write_zarr_cube(Cube(_cube(5.0)), path, overwrite=True)
    second = open_lazy(path)
    assert second.data.name != first.data.name
    assert float(second.data.max().compute()) == 5.0


def test_the_napari_hook_reads_a_replaced_file_afresh(tmp_path, monkeypatch):
    monkeypatch.setenv(LAZY_BYTES_ENV, "0")  # every cube lazily, through open_lazy's cache
    path = tmp_path / "c.npy"
    for value in (1.0, 2.0, 7.0):
        _replace(path, lambda v=value: np.save(path, _cube(v)))
        [(data, kwargs, _)] = get_reader(str(path))(str(path))
        assert kwargs["metadata"]["lazy"] is True
        assert float(np.asarray(data).max()) == value


def test_the_cache_keeps_only_the_current_version(tmp_path):
    from napari_ssdgl.io import lazy

    path = tmp_path / "c.npy"
    for value in range(5):
        _replace(path, lambda v=value: np.save(path, _cube(float(v))))
        open_lazy(path)
    assert [k for k in lazy._OPEN if k[1] == str(path)] == [
        ("npy", str(path), "", lazy.file_identity(path))]
