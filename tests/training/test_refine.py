"""Refine (issue 18): continue from a model's weights with the current labels; new classes get
rows, removed classes are dropped, the normalisation and the architecture are the model's."""

import numpy as np
import pytest
import torch

from napari_ssdgl.prediction.modelfile import save_classifier
from napari_ssdgl.training import TrainConfig, Trainer, TrainingError, split_per_class
from tests.conftest import TINY, TOY_BOXES
from tests.conftest import toy_scene as scene

BOXES = (*TOY_BOXES, (0, 2, 0, 20, 7))  # a fourth class along the top


def config(**kw) -> TrainConfig:
    base = {"iterations": 40, "lr": 0.05, "eval_every": 0, "device": "cpu", "model_kwargs": TINY,
            "keep": "last"}
    return TrainConfig(**(base | kw))


@pytest.fixture(scope="module")
def trained():
    cube, gt = scene(boxes=BOXES)
    train = split_per_class(gt, 6, seed=0)[0]
    first = np.where(train == 7, 0, train)  # the first round knows 1, 4, 9
    return cube, gt, train, Trainer(cube, first, config()).fit()


def _first_loss(cube, labels, **kw) -> float:
    return next(Trainer(cube, labels, config(iterations=5), **kw).run()).loss


def test_refine_starts_from_the_weights(trained):
    cube, _, train, clf = trained
    first = np.where(train == 7, 0, train)
    fresh, refined = _first_loss(cube, first), _first_loss(cube, first, init_from=clf)
    assert refined < 0.2 * fresh, (refined, fresh)
    trainer = Trainer(cube, first, config(iterations=5), init_from=clf)
    for a, b in zip(trainer.model.parameters(), clf.model.parameters(), strict=True):
        assert torch.equal(a, b)  # same classes: every weight as it was


def test_new_class_gets_a_row_and_a_removed_class_is_dropped(trained):
    cube, _, train, clf = trained
    labels = np.where(train == 9, 0, train)  # now 1, 4, 7: 7 is new, 9 removed
    trainer = Trainer(cube, labels, config(iterations=30), init_from=clf)
    head, old = trainer.model.classifier, clf.model.classifier
    assert head.weight.shape[0] == 3
    for row, i in ((0, 0), (1, 1)):  # classes 1 and 4 keep their rows
        assert torch.equal(head.weight[row], old.weight[i])
        assert torch.equal(head.bias[row], old.bias[i])
    assert not any(torch.equal(head.weight[2], old.weight[i]) for i in range(3))
    # the rest of the network is the old one
    keys = [k for k in clf.model.state_dict() if not k.startswith("classifier.")]
    new_state, old_state = trainer.model.state_dict(), clf.model.state_dict()
    assert all(torch.equal(new_state[k], old_state[k]) for k in keys)
    refined = trainer.fit()
    assert refined.class_values.tolist() == [1, 4, 7]
    assert refined.model_config["num_classes"] == 3
    pred = refined.predict(cube, device="cpu").labels
    assert (pred[labels == 7] == 7).mean() > 0.8  # the new class is learnt in a short round
    rec = refined.train_config["refined_from"]
    assert rec["class_values"] == [1, 4, 9] and rec["iterations"] == 40 and rec["path"] is None


def test_refine_keeps_the_models_normalisation_and_architecture(trained, tmp_path):
    cube, _, train, clf = trained
    trainer = Trainer(cube * 3 + 1, train, config(iterations=2, model="freenet", preset="default",
                                                  model_kwargs={}), init_from=clf)
    assert np.array_equal(trainer.mean, clf.mean) and np.array_equal(trainer.std, clf.std)
    assert trainer.config.model == "ssdgl" and trainer.config.preset is None
    out = trainer.fit()
    assert {k: v for k, v in out.model_config.items() if k != "num_classes"} == {
        k: v for k, v in clf.model_config.items() if k != "num_classes"}
    # from a model folder: the path is recorded
    save_classifier(clf, tmp_path / "m")
    again = Trainer(cube, train, config(iterations=1), init_from=tmp_path / "m")
    assert again.config.refined_from["path"] == str(tmp_path / "m")


def test_refine_refuses_a_band_mismatch_and_a_bad_folder(trained, tmp_path):
    cube, _, train, clf = trained
    with pytest.raises(TrainingError, match="12 bands but the cube has 10"):
        Trainer(cube[:10], train, config(), init_from=clf)
    with pytest.raises(TrainingError, match="cannot refine from"):
        Trainer(cube, train, config(), init_from=tmp_path / "nothing")


def test_refine_an_ensemble_maps_every_members_rows(trained):
    cube, _, train, _ = trained
    first = np.where(train == 7, 0, train)
    clf = Trainer(cube, first, config(iterations=3, model_kwargs={**TINY, "members": 2})).fit()
    trainer = Trainer(cube, np.where(train == 9, 0, train), config(iterations=2), init_from=clf)
    assert trainer.config.model_kwargs["members"] == 2
    for new, old in zip(trainer.model.members, clf.model.members, strict=True):
        assert new.classifier.weight.shape[0] == 3
        assert torch.equal(new.classifier.weight[:2], old.classifier.weight[:2])
    assert trainer.fit().class_values.tolist() == [1, 4, 7]
