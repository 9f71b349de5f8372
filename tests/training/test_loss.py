"""Class weights and the masked loss; the leak test: test labels never move a parameter."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from napari_ssdgl.models import build_model
from napari_ssdgl.training import (
    HBSampler,
    LabelEncoder,
    TrainConfig,
    Trainer,
    effective_number_weights,
    split_per_class,
    weighted_cross_entropy,
)
from tests.conftest import TINY
from tests.conftest import toy_scene as scene


def test_effective_number_weights_formula():
    counts = [100, 10, 1]
    beta = 0.9999
    raw = np.array([(1 - beta) / (1 - beta**n) for n in counts])
    expected = raw / raw.sum() * 3
    w = effective_number_weights(counts, beta)
    assert w.dtype == torch.float32
    assert np.allclose(w.numpy(), expected, rtol=1e-6)
    assert float(w.sum()) == pytest.approx(3.0)
    assert w[2] > w[1] > w[0]  # rarer class, larger weight
    assert torch.allclose(effective_number_weights([7, 7, 7, 7]), torch.ones(4))


def test_effective_number_weights_rejects_empty_class():
    with pytest.raises(ValueError, match="at least one training pixel"):
        effective_number_weights([5, 0])


def test_weighted_cross_entropy_matches_manual_gather():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 4, 5)
    targets = torch.randint(0, 3, (1, 4, 5))
    index = torch.tensor([0, 7, 13, 19])
    w = torch.tensor([0.5, 1.0, 1.5])
    per_pixel = logits[0].reshape(3, -1).T[index]
    expected = F.cross_entropy(per_pixel, targets.reshape(-1)[index], weight=w)
    assert torch.allclose(weighted_cross_entropy(logits, targets, index, w), expected)


def test_gradient_is_exactly_zero_off_the_drawn_pixels():
    logits = torch.randn(1, 3, 6, 6, requires_grad=True)
    targets = torch.full((36,), -1)  # -1 (unlabelled) must never be read
    index = torch.tensor([3, 10, 20])
    targets[index] = torch.tensor([0, 2, 1])
    weighted_cross_entropy(logits, targets, index, torch.ones(3)).backward()
    grad = logits.grad[0].reshape(3, -1)
    off = torch.ones(36, dtype=torch.bool)
    off[index] = False
    assert torch.count_nonzero(grad[:, off]) == 0
    assert torch.count_nonzero(grad[:, index]) > 0


def _one_step(cube, target_map, index, weights, seed=0):
    torch.manual_seed(seed)
    model = build_model("ssdgl", cube.shape[0], 3, **TINY)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    x = torch.from_numpy(cube)[None]
    loss = weighted_cross_entropy(model(x), torch.from_numpy(target_map), index, weights)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 35.0)
    opt.step()
    return model


def test_leak_changing_test_and_unlabelled_labels_changes_nothing():
    """One SGD step from the same init, once with the true labels everywhere and once with
    every test pixel relabelled and every unlabelled pixel given a random class: the
    parameters after the step are bit-identical."""
    cube, gt = scene()
    train, test = split_per_class(gt, 5, seed=0)
    enc = LabelEncoder.from_labels(train)
    truth = enc.encode(gt)  # full label map: training AND test pixels carry their class
    sampler = HBSampler(enc.encode(train), per_class=3, seed=0)
    index = torch.from_numpy(sampler.draw())
    weights = effective_number_weights(sampler.counts)

    rng = np.random.default_rng(1)
    tampered = truth.copy()
    is_test, unlabelled = test > 0, gt == 0
    tampered[is_test] = (truth[is_test] + 1) % 3  # every test pixel now wrong
    tampered[unlabelled] = rng.integers(0, 3, unlabelled.sum())
    assert np.array_equal(tampered[train > 0], truth[train > 0])

    a = _one_step(cube, truth, index, weights)
    b = _one_step(cube, tampered, index, weights)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    # control: changing the label of one DRAWN training pixel does change the step
    moved = truth.copy()
    first = int(index[0])
    moved.flat[first] = (truth.flat[first] + 1) % 3
    c = _one_step(cube, moved, index, weights)
    assert not all(
        torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True)
    )


def test_leak_trainer_never_reads_test_labels():
    """Two trainer runs with different test labels end in bit-identical weights."""
    cube, gt = scene()
    train, test = split_per_class(gt, 5, seed=0)
    scrambled = np.where(test > 0, np.random.default_rng(0).choice([1, 4, 9], test.shape), 0)
    cfg = TrainConfig(iterations=3, eval_every=1, device="cpu", model_kwargs=TINY, lr=0.01)
    a = Trainer(cube, train, cfg, test_labels=test)
    b = Trainer(cube, train, cfg, test_labels=scrambled)
    la = [e.loss for e in a.run()]
    lb = [e.loss for e in b.run()]
    assert la == lb
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
