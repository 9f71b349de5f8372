"""Streamed band statistics read a chunked cube chunk by chunk: each storage chunk is decoded
once, however wide the scene, and the statistics are those of the whole cube."""

import numpy as np
import pytest

import napari_ssdgl.transforms.normalize as normalize
from napari_ssdgl.transforms.normalize import (
    band_statistics,
    stream_blocks,
    streaming_band_statistics,
)
from tests.conftest import Recording


def cube(bands=6, rows=70, cols=90):
    rng = np.random.default_rng(1)
    return (rng.normal(size=(bands, rows, cols)) * np.arange(1, bands + 1)[:, None, None]
            + 5000).astype(np.float32)


def test_blocks_of_a_chunked_cube_are_whole_chunks_side_by_side(monkeypatch):
    zarr = pytest.importorskip("zarr")
    data = cube()
    z = zarr.create_array(store={}, shape=data.shape, chunks=(6, 16, 20), dtype="f4")
    z[:] = data
    monkeypatch.setattr(normalize, "STREAM_BYTES", 6 * 16 * 40 * 4)  # two chunks a block
    blocks = stream_blocks(z)
    assert blocks[0] == (slice(0, 16), slice(0, 40)) and blocks[1] == (slice(0, 16), slice(40, 80))
    # every block starts on a chunk corner and covers whole chunks (the scene's edge aside)
    assert all(r.start % 16 == 0 and c.start % 20 == 0 and (c.stop - c.start) % 20 == 0
               for r, c in blocks)
    covered = np.zeros(data.shape[1:], int)
    for r, c in blocks:
        covered[r, c] += 1
    assert (covered == 1).all()
    mean, std, bad = streaming_band_statistics(z)
    ref_mean, ref_std = band_statistics(data)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-6)
    np.testing.assert_allclose(std, ref_std, rtol=1e-5)
    assert not bad.any()


def test_a_chunk_larger_than_a_block_and_no_chunks_read_in_strips(monkeypatch):
    data = cube()
    monkeypatch.setattr(normalize, "STREAM_BYTES", 6 * 90 * 4 * 8)  # 8 full-width rows
    source = Recording(data)  # a numpy-like array: no chunks
    streaming_band_statistics(source)
    assert set(source.reads) == {(6, 8, 90), (6, 6, 90)}  # 8 strips of 8 rows, then 6
    da = pytest.importorskip("dask.array")
    one_chunk = da.from_array(data, chunks=data.shape)  # one chunk, larger than a block
    assert stream_blocks(one_chunk) == stream_blocks(data)
    assert stream_blocks(data, rows=5)[:2] == [(slice(0, 5), slice(0, 90)),
                                               (slice(5, 10), slice(0, 90))]
