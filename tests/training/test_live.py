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
    a, b = scene.fit(train, seed=3), scene.fit(train, seed=3)
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
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
