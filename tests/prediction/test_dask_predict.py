"""Prediction over dask cubes: equal to whole-scene prediction away from the border, the same on
a two-worker LocalCluster as on threads, and failures that never leave a complete-looking output.

Tiny model (widths 16, decoder 8) and scenes of at most 96 x 96 px: the point is the plumbing and
the statistics, not the network.
"""

import sys

import dask.array as da
import numpy as np
import pytest
import torch
import zarr

from napari_ssdgl.io import Cube
from napari_ssdgl.io.zarr_store import write_zarr_cube
from napari_ssdgl.models import build_model
from napari_ssdgl.prediction.classifier import BandMismatchError, Classifier
from napari_ssdgl.prediction.dask_predict import iter_label_blocks, predict_dask
from napari_ssdgl.prediction.inference import predict_probabilities
from napari_ssdgl.workflows.dask_run import DaskPredictionError, predict_to_file

BANDS = 8
CLASSES = [1, 2, 5, 7]


@pytest.fixture(scope="module")
def clf() -> Classifier:
    torch.manual_seed(0)
    model = build_model("ssdgl", BANDS, len(CLASSES), widths=(16, 16, 16, 16), decoder_width=8,
                        groups=4)
    return Classifier(model, "ssdgl", model.config, mean=np.full(BANDS, 1.0),
                      std=np.full(BANDS, 2.0), class_values=CLASSES)


def _scene(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """Smooth blobs plus noise, so that the classes form regions as in a real scene."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:rows, :cols] / 12.0
    base = np.stack([np.sin(yy * (b % 3 + 1)) + np.cos(xx * (b % 2 + 1)) for b in range(BANDS)])
    return (1 + 2 * base + 0.3 * rng.normal(size=base.shape)).astype(np.float32)


def test_dask_equals_whole_scene_away_from_the_border(clf):
    cube = _scene(96, 88)
    whole = predict_probabilities(clf.model, clf.prepare(cube), device="cpu")
    pred = predict_dask(clf, da.from_array(cube, chunks=(BANDS, 32, 32)), tile_size=128,
                        overlap=48, device="cpu")
    probs = pred.probabilities.compute(scheduler="threads")
    assert probs.shape == whole.shape and probs.dtype == np.float32
    inner = (slice(None), slice(16, -16), slice(16, -16))
    assert np.abs(probs - whole)[inner].max() < 0.01
    labels = pred.labels.compute()
    expected = np.asarray(CLASSES)[whole.argmax(0)]
    assert labels.dtype == np.uint8 and (labels == expected)[16:-16, 16:-16].mean() > 0.99
    entropy, margin = pred.entropy.compute(), pred.margin.compute()
    assert entropy.shape == margin.shape == labels.shape
    assert np.all((margin >= 0) & (margin <= 1)) and np.all(entropy >= 0)


def test_an_ensemble_on_dask_equals_its_whole_scene_prediction():
    torch.manual_seed(0)
    model = build_model("ssdgl", BANDS, len(CLASSES), members=2, widths=(16, 16, 16, 16),
                        decoder_width=8, groups=4)
    ens = Classifier(model, "ssdgl", model.config, mean=np.full(BANDS, 1.0),
                     std=np.full(BANDS, 2.0), class_values=CLASSES)
    cube = _scene(96, 88, seed=1)
    whole = predict_probabilities(ens.model, ens.prepare(cube), device="cpu")
    first = predict_probabilities(ens.model.members[0], ens.prepare(cube), device="cpu")
    probs = predict_dask(ens, da.from_array(cube, chunks=(BANDS, 32, 32)), tile_size=128,
                         overlap=48, device="cpu").probabilities.compute(scheduler="threads")
    inner = (slice(None), slice(16, -16), slice(16, -16))
    assert np.abs(probs - whole)[inner].max() < 0.01
    assert np.abs(probs - first)[inner].max() > 0.05  # both members count


def test_tta_equals_whole_scene_tta_and_keeps_one_block_per_window(clf):
    cube = _scene(64, 56, seed=2)  # non-square: 2 x 2 windows, transposed 2 x 2 others
    whole = predict_probabilities(clf.model, clf.prepare(cube), device="cpu", tta=True)
    one_view = predict_probabilities(clf.model, clf.prepare(cube), device="cpu")
    passes = []
    pred = predict_dask(clf, da.from_array(cube, chunks=(BANDS, 32, 32)), tile_size=96,
                        overlap=32, device="cpu", tta=True, on_pass=lambda i, n: passes.append(
                            (i, n)))
    alone = []
    plain = predict_dask(clf, da.from_array(cube, chunks=(BANDS, 32, 32)), tile_size=96,
                         overlap=32, device="cpu", on_pass=lambda i, m: alone.append(m))
    assert pred.probabilities.chunks == plain.probabilities.chunks
    probs = pred.probabilities.compute(scheduler="threads")
    inner = (slice(None), slice(16, -16), slice(16, -16))
    assert np.abs(probs - whole)[inner].max() < 0.01
    assert np.abs(probs - one_view)[inner].max() > 0.05  # the views differ: the mean is not one
    n = passes[-1][1]  # 8 views' statistics passes, then one step for the tiles
    assert (n - 1) % 8 == 0 and [i for i, _ in passes] == list(range(n))
    assert {m for _, m in passes} == {n}
    assert n - 1 == 8 * (alone[-1] - 1)


def test_tta_builds_the_model_once_per_thread(clf, monkeypatch):
    """The 8 views share one payload: a worker thread does not rebuild the network when its
    tasks switch between views."""
    import dask

    import napari_ssdgl.models as models

    builds = []
    original = models.build_model
    monkeypatch.setattr(models, "build_model", lambda *a, **k: builds.append(1) or original(
        *a, **k))
    with dask.config.set(scheduler="sync"):  # every task in this thread
        pred = predict_dask(clf, da.from_array(_scene(48, 40), chunks=(BANDS, 16, 16)),
                            tile_size=64, overlap=16, device="cpu", tta=True)
        pred.labels.compute()
    assert len(builds) == 1


def test_nan_and_band_count_are_handled_like_in_memory(clf):
    cube = _scene(32, 32)
    cube[0, 3, 4] = np.nan
    probs = predict_dask(clf, da.from_array(cube), tile_size=64, overlap=16,
                         device="cpu").probabilities.compute(scheduler="sync")
    assert np.all(np.isfinite(probs))
    with pytest.raises(BandMismatchError, match="9 bands"):
        predict_dask(clf, da.zeros((9, 32, 32), chunks=(9, 16, 16)))


@pytest.fixture(scope="module")
def zarr_scene(tmp_path_factory):
    path = tmp_path_factory.mktemp("scene") / "scene.zarr"
    write_zarr_cube(Cube(_scene(64, 80, seed=1), wavelengths=np.arange(BANDS) * 10.0), path,
                    tile=32)
    return path


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes on 127.0.0.1, shared by the tests that need one."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None, silence_logs=40) as lc, Client(lc, timeout=60) as c:
        yield c


def test_local_cluster_equals_threads(clf, zarr_scene, tmp_path, cluster):
    kw = {"tile_size": 64, "overlap": 16, "device": "cpu",
          "outputs": ("labels", "probabilities", "entropy", "margin")}
    a = predict_to_file(clf, zarr_scene, tmp_path / "threads.zarr", scheduler="threads", **kw)
    address = cluster.scheduler.address  # tcp://127.0.0.1:PORT, as given on the command line
    assert address.startswith("tcp://127.0.0.1:")
    b = predict_to_file(clf, zarr_scene, tmp_path / "cluster.zarr", scheduler=address, **kw)
    za, zb = zarr.open_group(str(a), mode="r"), zarr.open_group(str(b), mode="r")
    assert za.attrs["complete"] is True and zb.attrs["complete"] is True
    assert za.attrs["class_values"] == CLASSES
    assert za["labels"].shape == (64, 80) and za["probabilities"].shape == (4, 64, 80)
    assert np.array_equal(za["labels"][:], zb["labels"][:])
    assert np.allclose(za["probabilities"][:], zb["probabilities"][:], atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.zarr", "threads.zarr"]


def test_geotiff_class_map(clf, zarr_scene, tmp_path):
    import tifffile

    from napari_ssdgl.io import read_labels

    out = predict_to_file(clf, zarr_scene, tmp_path / "map.tif", tile_size=64, overlap=16,
                          scheduler="sync", device="cpu")
    ref = predict_dask(clf, da.from_zarr(str(zarr_scene)), tile_size=64, overlap=16,
                       device="cpu").labels.compute(scheduler="sync")
    assert tifffile.TiffFile(out).pages[0].is_tiled
    assert np.array_equal(read_labels(out).data, ref)


def _corrupt_one_chunk(path) -> None:
    meta = {"zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata"}
    chunk = next(p for p in sorted(path.rglob("*")) if p.is_file() and p.name not in meta)
    chunk.write_bytes(b"\x00garbage" * 10)


def test_corrupt_chunk_is_reported_and_nothing_is_written(clf, zarr_scene, tmp_path, cluster):
    import shutil

    bad = tmp_path / "bad.zarr"
    shutil.copytree(zarr_scene, bad)
    _corrupt_one_chunk(bad)
    out = tmp_path / "out.zarr"
    for scheduler in ("threads", cluster):
        with pytest.raises(DaskPredictionError, match=r"nothing was written \(ChunkReadError: "
                                                      r".*bad.zarr: corrupt or unreadable chunk"):
            predict_to_file(clf, bad, out, tile_size=64, overlap=16, device="cpu",
                            scheduler=scheduler)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zarr"]


def _die(block):
    """Kill the worker process that runs this task, as an out-of-memory kill would (its own
    ``local:2`` cluster, which also tests that path of ``open_scheduler``)."""
    import os

    if block.size:  # dask may call with an empty block to infer the output type
        os._exit(1)
    return block


def test_dying_worker_is_reported_and_nothing_is_written(clf, zarr_scene, tmp_path):
    import cloudpickle
    import dask

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import tests
    cube = da.from_zarr(str(zarr_scene)).map_blocks(_die, meta=np.empty((0, 0, 0), np.float32))
    out = tmp_path / "out.zarr"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            pytest.raises(DaskPredictionError, match="worker died"):
        predict_to_file(clf, cube, out, tile_size=64, overlap=16, device="cpu",
                        scheduler="local:2")
    assert list(tmp_path.iterdir()) == []


def test_cli_convert_and_predict_to_zarr(clf, tmp_path):
    from napari_ssdgl.cli import main
    from napari_ssdgl.prediction.modelfile import save_classifier

    np.save(tmp_path / "cube.npy", _scene(48, 40))
    save_classifier(clf, tmp_path / "model")
    assert main(["convert", str(tmp_path / "cube.npy"), str(tmp_path / "cube.zarr"),
                 "--tile", "32", "--quiet"]) == 0
    args = ["predict", str(tmp_path / "model"), str(tmp_path / "cube.zarr"), "--out",
            str(tmp_path / "map.zarr"), "--tile-size", "64", "--overlap", "16", "--device",
            "cpu", "--scheduler", "threads", "--probabilities", "--quiet"]
    assert main(args) == 0
    group = zarr.open_group(str(tmp_path / "map.zarr"), mode="r")
    assert group.attrs["complete"] is True and group["probabilities"].shape == (4, 48, 40)
    assert main(args) == 2  # exists: refused without --overwrite, one-line error
    assert main([*args, "--overwrite"]) == 0


def test_label_blocks_arrive_one_by_one_and_fill_the_map(clf):
    cube = da.from_array(_scene(64, 48, seed=3), chunks=(BANDS, 32, 32))
    pred = predict_dask(clf, cube, tile_size=64, overlap=16, device="cpu")
    canvas = np.zeros((64, 48), np.uint8)
    seen = 0
    for where, block in iter_label_blocks(pred, workers=2):
        assert not canvas[where].any()  # each block once
        canvas[where] = block
        seen += 1
    assert seen == 4 and np.array_equal(canvas, pred.labels.compute(scheduler="sync"))
    # with the entropy: the same labels, and the entropy of the same probabilities
    entropy = np.full((64, 48), -1.0, np.float32)
    for where, (labels, ent) in iter_label_blocks(pred, workers=2, entropy=True):
        assert np.array_equal(labels, canvas[where])
        entropy[where] = ent
    np.testing.assert_allclose(entropy, pred.entropy.compute(scheduler="sync"), rtol=1e-6)


def test_closing_the_block_stream_cancels_the_blocks_not_started(clf, monkeypatch):
    import threading

    import napari_ssdgl.prediction.dask_predict as dp

    calls, lock = [], threading.Lock()
    original = dp._predict_window

    def counting(*args, **kwargs):
        with lock:
            calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(dp, "_predict_window", counting)
    cube = da.from_array(_scene(64, 48, seed=3), chunks=(BANDS, 32, 32))
    pred = predict_dask(clf, cube, tile_size=64, overlap=16, device="cpu")
    stream = iter_label_blocks(pred, workers=1)
    next(stream)
    stream.close()
    assert 1 <= len(calls) <= 2 < 4  # one block done, at most one more running; 2+ dropped


def test_predicting_in_this_process_lets_glibc_return_freed_windows(clf, monkeypatch):
    """Tiled and threaded dask prediction set glibc's trim threshold (peak RSS of the 2048 px
    one-pass prediction: 2.84 GB without, 1.79 and 2.09 GB with); a cluster's workers get it from
    their nanny, so a client does not set it."""
    from napari_ssdgl.prediction import dask_predict, tiling

    calls = []
    monkeypatch.setattr(tiling, "return_freed_memory", lambda: calls.append("tiled"))
    monkeypatch.setattr(dask_predict, "return_freed_memory", lambda: calls.append("dask"))
    cube = _scene(40, 40)
    clf.predict(cube, tile_size=48, overlap=16, device="cpu")
    predict_dask(clf, da.from_array(cube, chunks=(BANDS, 20, 20)), tile_size=48, overlap=16,
                 device="cpu")
    assert calls == ["tiled", "dask"]
    monkeypatch.undo()
    tiling.return_freed_memory()  # the real one: no error, with glibc or without


def test_one_window_through_the_network_at_a_time_per_process(clf, monkeypatch):
    """Threads share the process's memory: N windows in flight would hold N windows'
    activations (0.7 GB each for a 384 px window of the paper's widths), so forwards take turns
    whatever the thread count."""
    import threading
    import time

    from napari_ssdgl.prediction import dask_predict

    real, hooked, lock = dask_predict._model, set(), threading.Lock()
    state = {"now": 0, "most": 0, "calls": 0}

    def enter(*_):
        with lock:
            state["now"] += 1
            state["calls"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.01)  # long enough for another thread to overlap, were it allowed

    def leave(*_):
        with lock:
            state["now"] -= 1

    def model(*args):
        net, dev = real(*args)
        if id(net) not in hooked:
            hooked.add(id(net))
            net.register_forward_pre_hook(enter)
            net.register_forward_hook(leave, always_call=True)  # also when a pass stops early
        return net, dev

    monkeypatch.setattr(dask_predict, "_model", model)
    pred = predict_dask(clf, da.from_array(_scene(96, 96), chunks=(BANDS, 32, 32)),
                        tile_size=64, overlap=16, device="cpu")
    pred.probabilities.compute(scheduler="threads", num_workers=4)
    assert state["calls"] >= 9 and state["most"] == 1
