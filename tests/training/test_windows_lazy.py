"""Windowed training from lazy cubes (issue 17): never materialised, windows read as needed,
band statistics streamed."""

import numpy as np
import pytest

import napari_ssdgl.transforms.normalize as normalize
from napari_ssdgl.training import TrainConfig, Trainer
from napari_ssdgl.transforms.normalize import (
    band_statistics,
    floor_std,
    streaming_band_statistics,
)
from tests.conftest import TINY, Recording, toy_scene

BANDS, SIZE = 8, 320  # larger than a scoring tile (256 px)
BOXES = ((8, 120, 8, 300, 1), (140, 300, 8, 140, 2), (140, 300, 180, 312, 3))




@pytest.fixture
def small_blocks(monkeypatch):
    """Streamed statistics in blocks of a few rows (the default budget, 64 MiB, would read a
    cube this small in one block)."""
    monkeypatch.setattr(normalize, "STREAM_BYTES", BANDS * SIZE * 4 * 16)


def config(**kw) -> TrainConfig:
    base = {"iterations": 4, "lr": 0.01, "eval_every": 0, "device": "cpu", "model_kwargs": TINY,
            "window": 32, "windows_per_batch": 2, "per_class": 10}
    return TrainConfig(**(base | kw))


def test_training_never_reads_the_whole_scene(small_blocks):
    cube, gt = toy_scene(BANDS, SIZE, boxes=BOXES)
    train = np.where(np.random.default_rng(0).random(gt.shape) < 0.01, gt, 0)
    source = Recording(cube)
    trainer = Trainer(source, train, config(keep="best", validation_min=5))
    assert trainer.windowed and trainer.validation_labels is not None
    clf = trainer.fit()  # 4 iterations, calibration and one scoring pass over tiles
    assert source.reads
    # no read covers the scene; none is larger than a scoring tile
    assert all(r[1] < SIZE or r[2] < SIZE for r in source.reads), source.reads
    assert max(r[1] * r[2] for r in source.reads) <= 256 * 256
    assert (BANDS, 32, 32) in source.reads  # training windows
    assert any(r[1] == 16 for r in source.reads)  # statistics blocks
    # the band statistics are the scene's, streamed
    mean, std = band_statistics(cube)
    np.testing.assert_allclose(clf.mean, mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(clf.std, std, rtol=1e-5)
    assert clf.layer_statistics is not None


@pytest.mark.parametrize("kind", ["memmap", "zarr", "dask"])
def test_lazy_cube_kinds_train(kind, tmp_path):
    cube, gt = toy_scene(BANDS, 64, boxes=((2, 30, 2, 60, 1), (34, 62, 2, 30, 2),
                                          (34, 62, 34, 62, 3)))
    train = np.where(np.random.default_rng(0).random(gt.shape) < 0.05, gt, 0)
    if kind == "memmap":
        np.save(tmp_path / "c.npy", cube)
        source = np.load(tmp_path / "c.npy", mmap_mode="r")
    elif kind == "zarr":
        import zarr

        source = zarr.open_array(tmp_path / "c.zarr", mode="w", shape=cube.shape,
                                 chunks=(BANDS, 16, 16), dtype=cube.dtype)
        source[:] = cube
    else:
        import dask.array as da

        source = da.from_array(cube, chunks=(BANDS, 16, 16))
    trainer = Trainer(source, train, config(keep="last"))
    assert trainer.windowed and trainer._x is None
    clf = trainer.fit()
    assert clf.layer_statistics is not None
    assert clf.predict(cube, device="cpu").labels.shape == (64, 64)


def test_streaming_statistics_match_the_in_memory_ones():
    rng = np.random.default_rng(0)
    cube = (rng.normal(size=(5, 37, 23)) * [[[1]], [[10]], [[0.1]], [[3]], [[1]]]
            + 1000).astype(np.float32)
    cube[4] = 7.0  # constant
    mean, std, bad = streaming_band_statistics(cube, rows=5)
    ref_mean, ref_std = band_statistics(cube)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-6)
    np.testing.assert_allclose(floor_std(std), ref_std, rtol=1e-4)
    assert std[4] == 0.0 and floor_std(std)[4] == 1.0 and not bad.any()
    cube[1, :3, :4] = np.nan
    cube[2, 0, 0] = np.inf
    cube[3] = np.nan
    mean, std, bad = streaming_band_statistics(cube, rows=4)
    assert bad.tolist() == [0, 12, 1, 37 * 23, 0]
    finite = cube[1][np.isfinite(cube[1])]
    assert mean[1] == pytest.approx(finite.mean(dtype=np.float64), rel=1e-6)
    assert std[1] == pytest.approx(finite.std(dtype=np.float64), rel=1e-4)
    assert mean[3] == 0.0 and floor_std(std)[3] == 1.0  # nothing finite: 0, divided by 1


def test_band_selection_of_a_lazy_cube_is_read_window_by_window(small_blocks):
    """Excluded bands are dropped as each window is read: the scene is never loaded, and the
    model takes only the kept bands."""
    cube, gt = toy_scene(BANDS, SIZE, boxes=BOXES)
    train = np.where(np.random.default_rng(0).random(gt.shape) < 0.01, gt, 0)
    source = Recording(cube)
    keep = [0, 2, 3, 5, 7]
    trainer = Trainer(source, train, config(), bands=keep)
    clf = trainer.fit()
    assert all(r[1] < SIZE or r[2] < SIZE for r in source.reads), source.reads
    assert clf.bands == len(keep) and clf.band_selection.indices == tuple(keep)
    mean, std = band_statistics(cube[keep])
    np.testing.assert_allclose(clf.mean, mean, rtol=1e-4, atol=1e-4)


def test_a_windowed_preview_of_a_region_maps_only_its_tiles():
    """request_preview(region): the trainer maps only that part of a big scene (a whole
    preview is a pass over it), in one window of its own size here; outside it the preview is
    0, inside it equals the whole preview."""
    cube, gt = toy_scene(BANDS, SIZE, boxes=BOXES)
    train = np.where(np.random.default_rng(0).random(gt.shape) < 0.01, gt, 0)
    source = Recording(cube)
    trainer = Trainer(source, train, config(iterations=3))
    region = (slice(40, 100), slice(200, 300))
    for event in trainer.run():
        if event.iteration == 1:
            trainer.request_preview(region)
            source.reads.clear()
        elif event.iteration == 2:
            part, reads = event.preview, list(source.reads)
            whole = trainer._predict_map(None)  # the same weights, every tile
    assert part.shape == gt.shape and not part[:40].any() and not part[:, :200].any()
    assert part[region].all()  # every pixel of the region mapped (classes are > 0)
    np.testing.assert_array_equal(part[region], whole[region])
    windows = [r for r in reads if r[1:] != (32, 32)]  # leave the training windows out
    assert len(windows) == 1, reads  # one window around the region, not the 4 tiles it meets


def test_a_windowed_run_scores_its_test_pixels_at_the_end_only(monkeypatch):
    """Mid-run scoring reads only the validation pixels' tiles (the test set would cost a pass
    over most of a big scene); the last iteration scores both, and a model kept mid-run gets
    its own test metrics at the end, those its saved weights reproduce."""
    from napari_ssdgl.analysis.metrics import classification_metrics

    cube, gt = toy_scene(BANDS, SIZE, boxes=BOXES)
    rng = np.random.default_rng(0)
    train = np.where(rng.random(gt.shape) < 0.02, gt, 0)
    test = np.where(train > 0, 0, gt)
    trainer = Trainer(Recording(cube), train, config(iterations=4, eval_every=1, keep="best",
                                                     validation_min=5), test_labels=test)
    assert trainer.validation_labels is not None
    oas = iter([0.9, 0.5, 0.4, 0.3])  # the first state stays the best: kept mid-run
    real = trainer._validate
    monkeypatch.setattr(trainer, "_validate", lambda pred: {**real(pred), "oa": next(oas)})
    events = list(trainer.run())
    assert [e.test is None for e in events] == [True, True, True, False]
    assert all(e.validation is not None for e in events)
    kept = trainer.best_metrics
    assert kept["iteration"] == 1 and "oa" in kept  # the test metrics of the kept state
    clf = trainer.result()
    pred = clf.predict(cube, device="cpu", tile_size=256).labels
    again = classification_metrics(pred, test, exclude=train > 0, class_values=clf.class_values)
    assert kept["oa"] == pytest.approx(again["oa"], abs=2e-3)


def test_a_windowed_run_without_final_test_never_scores_its_test_pixels(monkeypatch):
    """``final_test=False`` (the dock and the CLI score the map they make next): only the
    validation pixels' tiles are ever mapped, never the test set's."""
    cube, gt = toy_scene(BANDS, SIZE, boxes=BOXES)
    rng = np.random.default_rng(0)
    train = np.where(rng.random(gt.shape) < 0.02, gt, 0)
    test = np.where(train > 0, 0, gt)
    trainer = Trainer(Recording(cube), train, config(iterations=3, eval_every=1, keep="best",
                                                     validation_min=5), test_labels=test,
                      final_test=False)
    needed = []
    real = trainer._tiled_map
    monkeypatch.setattr(trainer, "_tiled_map", lambda mask, **kw: (needed.append(mask),
                                                                   real(mask, **kw))[1])
    events = list(trainer.run())
    assert all(e.test is None and e.validation is not None for e in events)
    assert "oa" not in trainer.best_metrics and trainer.best_metrics["iteration"] >= 1
    validation = trainer.validation_labels > 0
    assert needed and all(np.array_equal(m, validation) for m in needed)
