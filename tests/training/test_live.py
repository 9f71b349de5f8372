"""Live mode's per-pixel classifier (issue 18): learns a toy scene from a few painted pixels and
predicts like a Classifier. Speed is measured in the benchmark, not asserted here."""

import numpy as np
import pytest
import torch

from napari_ssdgl.analysis.metrics import classification_metrics
from napari_ssdgl.prediction.inference import Prediction
from napari_ssdgl.training import TrainingError, split_per_class
from napari_ssdgl.training.live import LiveClassifier, LiveScene, fit_pixels
from tests.conftest import toy_scene


def test_learns_a_toy_scene_from_painted_pixels():
    cube, gt = toy_scene(size=24)
    train, test = split_per_class(gt, 5, seed=0)
    names, colors = {1: "a", 4: "b", 9: "c", 2: "unused"}, {4: "#00ff00"}
    clf = fit_pixels(cube, train, class_names=names, colors=colors)
    assert isinstance(clf, LiveClassifier)
    assert clf.class_values.tolist() == [1, 4, 9] and clf.bands == 12 and clf.num_classes == 3
    assert clf.class_names == {1: "a", 4: "b", 9: "c"} and clf.colors == {4: "#00ff00"}
    pred = clf.predict(cube)
    assert isinstance(pred, Prediction)
    assert pred.labels.shape == gt.shape and pred.probabilities.shape == (3, *gt.shape)
    assert np.allclose(pred.probabilities.sum(0), 1, atol=1e-5)
    assert set(np.unique(pred.labels)) <= {1, 4, 9}
    assert classification_metrics(pred.labels, test, exclude=train > 0)["oa"] > 0.9
    # the painted pixels themselves come out right
    painted = train > 0
    assert (pred.labels[painted] == train[painted]).mean() > 0.95


def test_scene_is_reused_and_fits_are_seeded():
    cube, gt = toy_scene()
    train = split_per_class(gt, 4, seed=1)[0]
    scene = LiveScene(cube)
    a, b = scene.fit(train, seed=3), LiveScene(cube).fit(train, seed=3)
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
    # the same pixels, classes and options: the last fit back, without fitting again
    assert scene.fit(train.copy(), seed=3) is a
    d = scene.fit(train, seed=4)
    assert d is not a
    fewer = train.copy()
    fewer.flat[np.flatnonzero(fewer > 0)[0]] = 0  # one painted pixel less: a new fit
    e = scene.fit(fewer, seed=4)
    assert e is not d and scene.fit(fewer, seed=4) is e
    other = fewer.copy()
    other.flat[np.flatnonzero(other > 0)[0]] = other.max() + 1  # a pixel's class changed
    assert scene.fit(other, seed=4) is not e
    pa, pb = a.predict(scene), a.predict(cube)  # the scene's spectra, or the cube again
    assert np.array_equal(pa.labels, pb.labels)
    assert np.allclose(pa.probabilities, pb.probabilities, atol=1e-5)
    raw = scene.fit(train, smooth=0).predict(scene)
    assert raw.labels.shape == gt.shape


def test_refuses_one_class_and_wrong_shapes():
    cube, gt = toy_scene()
    one = np.where(gt == 1, 1, 0)
    with pytest.raises(TrainingError, match="at least 2 classes"):
        fit_pixels(cube, one)
    with pytest.raises(TrainingError, match="shape"):
        fit_pixels(cube, gt[:5])
    clf = fit_pixels(cube, split_per_class(gt, 3)[0])
    with pytest.raises(TrainingError, match="bands"):
        clf.predict(cube[:4])


def _counted(cube, chunk):
    """A dask view of ``cube`` that records every chunk it reads."""
    import dask.array as da

    reads = []

    def record(block, block_info=None):
        if block_info:
            reads.append(tuple(block_info[0]["chunk-location"]))
        return block

    data = da.from_array(cube, chunks=(cube.shape[0], chunk, chunk))
    return data.map_blocks(record, dtype=data.dtype), reads


def test_a_lazy_scene_reads_each_painted_pixel_once_and_learns():
    from napari_ssdgl.training.live import STAT_WINDOWS, LazyLiveScene

    rng = np.random.default_rng(0)
    gt = np.repeat(np.array([1, 2, 3]), 16)[None, :].repeat(48, 0)  # three 16 px stripes
    cube = ((rng.normal(size=(4, 12)) * 2)[gt].transpose(2, 0, 1)
            + rng.normal(size=(12, 48, 48)) * 0.3).astype(np.float32)
    data, reads = _counted(cube, 8)
    scene = LazyLiveScene(data)
    assert len(set(reads)) <= STAT_WINDOWS < 36  # the statistics: a bounded sample of chunks
    train = np.zeros_like(gt)
    train[2:6, 2:20] = gt[2:6, 2:20]
    train[30:34, 30:46] = gt[30:34, 30:46]
    reads.clear()
    clf = scene.fit(train)
    first = set(reads)
    assert first <= {(0, r, c) for r in (0, 3, 4) for c in range(6)}  # the strokes' chunks
    z = (cube[:, 3, 5] - scene.mean) / scene.std  # the spectra are the z-scored pixels
    where = np.flatnonzero(train.ravel() > 0)
    spectra = scene.spectra(where).numpy()
    np.testing.assert_allclose(spectra[np.searchsorted(where, 3 * 48 + 5)], z, rtol=1e-5)
    reads.clear()
    train[4, 40] = gt[4, 40]  # one more stroke: only its pixel is read
    scene.fit(train)
    assert set(reads) == {(0, 0, 5)}
    region = scene.region(slice(0, 48), slice(0, 48), 2)
    pred = clf.predict(region)
    assert pred.labels.shape == (24, 24)
    assert (pred.labels == gt[::2, ::2])[gt[::2, ::2] > 0].mean() > 0.9
    assert scene.region(slice(0, 48), slice(0, 48), 2) is region  # one view read once
    with pytest.raises(TrainingError, match="at least 2 classes"):
        scene.fit(np.where(train == train.max(), train, 0))


def test_a_lazy_fit_takes_the_painted_pixels_in_view_from_the_view():
    """The view is mapped first; a fit then reads only the painted pixels outside it (or
    between a coarse view's pixels), and unchanged labels (a pan) give the last fit back."""
    from napari_ssdgl.training.live import LazyLiveScene

    rng = np.random.default_rng(1)
    gt = np.repeat(np.array([1, 2, 3]), 16)[None, :].repeat(48, 0)
    cube = ((rng.normal(size=(4, 12)) * 2)[gt].transpose(2, 0, 1)
            + rng.normal(size=(12, 48, 48)) * 0.3).astype(np.float32)
    data, reads = _counted(cube, 8)
    scene, direct = LazyLiveScene(data), LazyLiveScene(data)
    train = np.zeros_like(gt)
    train[10:14, 4:40:2] = gt[10:14, 4:40:2]  # in the view, even and odd rows
    reads.clear()
    scene.region(slice(8, 24), slice(0, 48), 2)  # rows 8-23, every 2nd pixel
    view_chunks = set(reads)
    reads.clear()
    clf = scene.fit(train)
    assert set(reads) <= view_chunks  # only the odd rows, between the coarse view's pixels
    held = np.flatnonzero(train.ravel() > 0)
    np.testing.assert_allclose(scene.spectra(held).numpy(), direct.spectra(held).numpy(),
                               rtol=1e-6, atol=1e-6)  # the same spectra as read from the cube
    even = np.zeros_like(train)
    even[10:14:2] = train[10:14:2]  # on the view's grid only
    fresh = LazyLiveScene(data)
    fresh.region(slice(8, 24), slice(0, 48), 2)
    reads.clear()
    fresh.fit(even)
    assert not reads  # every painted pixel came from the view
    reads.clear()
    assert scene.fit(train.copy()) is clf and not reads  # a pan: the same fit, nothing read
