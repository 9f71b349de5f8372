"""Ensembles (``members`` > 1): independent members, mean probabilities, every predict path."""

import numpy as np
import pytest
import torch

from napari_ssdgl.models import Ensemble, build_model
from napari_ssdgl.prediction.inference import predict_probabilities
from napari_ssdgl.prediction.modelfile import load_classifier, save_classifier
from napari_ssdgl.training import TrainConfig, Trainer, TrainingError, split_per_class
from tests.conftest import TINY, toy_scene


def config(members: int = 1, **kw) -> TrainConfig:
    base = {"iterations": 6, "lr": 0.01, "device": "cpu", "seed": 3, "cpu_bf16": False,
            "model_kwargs": {**TINY, **({"members": members} if members > 1 else {})}}
    return TrainConfig(**(base | kw))


@pytest.fixture(scope="module")
def scene():
    cube, gt = toy_scene()
    train, _ = split_per_class(gt, 5, seed=0)
    return cube, train


@pytest.fixture(scope="module")
def trained(scene):
    cube, train = scene
    return Trainer(cube, train, config(members=3)).fit()


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("reference", [False, True], ids=["fast", "dense"])
def test_member_zero_trains_as_the_single_model_and_the_others_differ(scene, reference):
    # its own loss term and its own clipping: nothing the other members do reaches member 0
    cube, train = scene
    solo = Trainer(cube, train, config(reference=reference)).fit()
    pair = Trainer(cube, train, config(members=2, reference=reference)).fit()
    assert isinstance(pair.model, Ensemble)
    assert same_weights(solo.model, pair.model.members[0])
    assert not same_weights(solo.model, pair.model.members[1])


def test_predicts_the_mean_of_the_members_probabilities(scene, trained):
    cube, _ = scene
    x = trained.prepare(cube)
    members = [predict_probabilities(m, x) for m in trained.model.members]
    probs = trained.predict(cube).probabilities
    np.testing.assert_allclose(probs, np.mean(members, axis=0), atol=1e-5)
    assert not np.allclose(members[0], members[1], atol=1e-3)  # they are different networks


@pytest.mark.parametrize("kw", [{"tile_size": 48, "overlap": 16}, {"tta": True}],
                         ids=["tiled", "flips"])
def test_tiled_and_flipped_predictions_average_the_members(trained, kw):
    # tiles keep each member's scene-wide statistics apart: the mean of the members' own maps
    cube = toy_scene(cols=100)[0]
    x = trained.prepare(cube)
    members = [predict_probabilities(m, x, **kw) for m in trained.model.members]
    probs = trained.predict(cube, **kw).probabilities
    np.testing.assert_allclose(probs, np.mean(members, axis=0), atol=1e-5)


def test_model_file_round_trip(tmp_path, scene, trained):
    cube, _ = scene
    save_classifier(trained, tmp_path / "m")
    loaded = load_classifier(tmp_path / "m")
    assert loaded.model_config["members"] == 3 and len(loaded.model.members) == 3
    np.testing.assert_allclose(loaded.predict(cube).probabilities,
                               trained.predict(cube).probabilities, atol=1e-6)


def test_build_model_members():
    torch.manual_seed(0)
    single = build_model("ssdgl", 12, 3, **TINY)
    torch.manual_seed(0)
    ens = build_model("freenet", 12, 3, members=2, widths=(16, 16, 16, 16), groups=4)
    assert isinstance(ens, Ensemble) and ens.config["members"] == 2
    assert not isinstance(build_model("ssdgl", 12, 3, members=1, **TINY), Ensemble)
    assert "members" not in single.config
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="members"):
            build_model("ssdgl", 12, 3, members=bad, **TINY)


def test_bad_members_and_the_houston_variant_are_training_errors(scene):
    cube, train = scene
    with pytest.raises(TrainingError, match="members"):
        Trainer(cube, train, config(model_kwargs={**TINY, "members": 0}))
    with pytest.raises(TrainingError, match="Houston"):
        Trainer(cube, train, config(preset="houston2013_variant",
                                    model_kwargs={**TINY, "members": 2}))


def test_an_ensemble_learns_the_toy_scene(scene):
    cube, train = scene
    _, gt = toy_scene()
    clf = Trainer(cube, train, config(members=2, iterations=40)).fit()
    labels = clf.predict(cube).labels
    assert (labels[gt > 0] == gt[gt > 0]).mean() > 0.95
