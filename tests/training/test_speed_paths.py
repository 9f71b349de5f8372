"""The fast training and inference paths agree with the plain dense path (issue 7).

Tolerances: float32 on the CPU. The sampled-pixel head does the same sums as the dense 3x3 conv
in another order, so logits agree to ~1e-7 and the loss and every parameter gradient to ~1e-6
relative; we assert 1e-5 (absolute and relative). Only the two compile tests use torch.compile
(its "aot_eager" backend: dynamo and AOT autograd without a C++ compiler, so CI can run it).
"""

import warnings

import numpy as np
import pytest
import torch

from napari_ssdgl.models import build_model
from napari_ssdgl.training import TrainConfig, Trainer, split_by_fraction
from napari_ssdgl.training.loss import picked_cross_entropy, weighted_cross_entropy

TINY = {"widths": (16, 32, 48, 64), "decoder_width": 16, "groups": 4}
TOL = {"atol": 1e-5, "rtol": 1e-5}


def _model(name="ssdgl", **kw):
    torch.manual_seed(0)
    return build_model(name, 7, 5, **{**TINY, **kw}).double()


@pytest.mark.parametrize("name", ["ssdgl", "freenet"])
def test_sampled_head_equals_dense_logits(name):
    m = _model(name).float()
    x = torch.randn(2, 7, 37, 21)  # not a multiple of 16: the padded grid matters at the edge
    index = torch.tensor([0, 20, 36 * 21, 37 * 21 - 1, 37 * 21, 2 * 37 * 21 - 1, 400, 999])
    with torch.no_grad():
        dense = m(x).permute(0, 2, 3, 1).reshape(-1, 5)[index]
        sampled = m.sampled_logits(x, index)
    torch.testing.assert_close(sampled, dense, atol=1e-5, rtol=1e-5)


def test_houston_variant_has_no_sampled_head():
    m = _model(variant="houston")
    assert not m.supports_sampled_head
    with pytest.raises(NotImplementedError):
        m.sampled_logits(torch.zeros(1, 7, 16, 16, dtype=torch.float64), torch.tensor([0]))


def test_fast_loss_and_gradients_match_dense():
    m = _model().float()
    x = torch.randn(1, 7, 30, 26)
    targets = torch.randint(-1, 5, (30 * 26,))
    index = torch.nonzero(targets >= 0).flatten()[torch.randperm(int((targets >= 0).sum()))[:40]]
    weights = torch.rand(5) + 0.5

    def loss_and_grads(fast: bool):
        m.zero_grad(set_to_none=True)
        if fast:
            loss = picked_cross_entropy(m.sampled_logits(x, index), targets[index], weights)
        else:
            loss = weighted_cross_entropy(m(x), targets, index, weights)
        loss.backward()
        return loss.detach(), {k: p.grad.clone() for k, p in m.named_parameters()}

    ref_loss, ref_grads = loss_and_grads(False)
    fast_loss, fast_grads = loss_and_grads(True)
    torch.testing.assert_close(fast_loss, ref_loss, **TOL)
    assert ref_grads.keys() == fast_grads.keys()
    for k in ref_grads:
        torch.testing.assert_close(fast_grads[k], ref_grads[k], **TOL, msg=k)


def test_fast_loss_ignores_labels_of_undrawn_pixels():
    m = _model().float()
    x = torch.randn(1, 7, 20, 20)
    index = torch.tensor([3, 42, 250])
    targets = torch.randint(0, 5, (400,))
    other = torch.randint(0, 5, (400,))
    other[index] = targets[index]  # same labels where drawn, anything elsewhere
    with torch.no_grad():
        logits = m.sampled_logits(x, index)
    assert picked_cross_entropy(logits, targets[index]) == picked_cross_entropy(
        logits, other[index])


@pytest.fixture(scope="module")
def scene():
    from napari_ssdgl.datasets import make_synthetic_scene

    s = make_synthetic_scene(size=32, bands=12, n_classes=4)
    train, test = split_by_fraction(s.gt.data, 0.1, seed=0)
    return s.cube.data, train, test


def _losses(scene, variant="standard", **kw):
    cube, train, test = scene
    model_kwargs = {"widths": (16, 16, 16, 16), "decoder_width": 8, "groups": 4,
                    "variant": variant}
    cfg = TrainConfig(**{"iterations": 4, "lr": 0.01, "eval_every": 0, "device": "cpu",
                         "model_kwargs": model_kwargs, **kw})
    return [e.loss for e in Trainer(cube, train, cfg, test_labels=test).run()]


def test_trainer_fast_path_tracks_the_reference(scene):
    ref = _losses(scene, reference=True)
    fast = _losses(scene, cpu_bf16=False)
    # same seed, same draws: the first loss is the same model, later ones drift by rounding only
    np.testing.assert_allclose(fast, ref, rtol=1e-4, atol=1e-5)


def test_trainer_bf16_fast_path_stays_close(scene):
    """bfloat16 autocast (8 bits of mantissa) moves the loss by well under 5 % here."""
    ref = _losses(scene, reference=True)
    fast = _losses(scene, cpu_bf16=True)
    np.testing.assert_allclose(fast, ref, rtol=0.05)


@pytest.fixture(scope="module")
def oblong(scene):
    """A 32 x 24 scene: with augment, transposing it changes the input shape."""
    cube, train, test = scene
    return cube[:, :, :24], train[:, :24], test[:, :24]


def test_compiled_step_tracks_eager(oblong):
    """Also with augment on a non-square scene, whose transposed shape compiles anew."""
    eager = _losses(oblong, cpu_bf16=False, augment=True, iterations=8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = _losses(oblong, cpu_bf16=False, augment=True, iterations=8,
                           compile="aot_eager")
    assert not [w for w in caught if "torch.compile failed" in str(w.message)]  # no fallback
    np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-5)


def test_compile_failure_falls_back_to_eager(scene, monkeypatch):
    def broken(fn, **kw):
        def run(*a, **k):
            raise RuntimeError("no C++ compiler found")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(UserWarning, match="torch.compile failed.*no C\\+\\+ compiler"):
        losses = _losses(scene, cpu_bf16=False, compile="inductor")
    np.testing.assert_array_equal(losses, _losses(scene, cpu_bf16=False))


def test_compile_failing_on_the_transposed_scene_falls_back_before_training(oblong, monkeypatch):
    """That second compile is tried up front too, so its failure means eager training, not a
    crash in the middle of the run."""
    shapes = []

    def fails_on_a_new_shape(fn, **kw):
        def run(x, index):
            shapes.append(tuple(x.shape[-2:]))
            if x.shape[-2:] != (32, 24):
                raise RuntimeError("recompile failed")
            return fn(x, index)
        return run

    monkeypatch.setattr(torch, "compile", fails_on_a_new_shape)
    with pytest.warns(UserWarning, match="torch.compile failed.*recompile failed"):
        losses = _losses(oblong, cpu_bf16=False, compile="inductor", augment=True)
    assert shapes == [(32, 24), (24, 32)]  # both tried before the first iteration, then eager
    monkeypatch.undo()
    np.testing.assert_array_equal(losses, _losses(oblong, cpu_bf16=False, augment=True))


def test_houston_variant_trains_on_the_fast_path(scene):
    losses = _losses(scene, variant="houston")
    assert all(np.isfinite(losses))


@pytest.mark.parametrize(("name", "kw"), [("ssdgl", {}), ("freenet", {}),
                                          ("ssdgl", {"variant": "houston"})])
def test_folded_head_equals_forward(name, kw):
    m = _model(name, **kw).float().eval()
    x = torch.randn(2, 7, 37, 21)
    with torch.inference_mode():
        torch.testing.assert_close(m.folded_logits(x), m(x), atol=1e-5, rtol=1e-5)


def test_prediction_blocks_equal_one_block(monkeypatch):
    import napari_ssdgl.prediction.inference as inference

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=(13, 9)).transpose(2, 0, 1).astype(np.float32)
    whole = inference.Prediction.from_probabilities(probs, [1, 2, 5, 7])
    monkeypatch.setattr(inference, "ROW_BLOCK", 4)
    blocks = inference.Prediction.from_probabilities(probs, [1, 2, 5, 7])
    for a in ("labels", "entropy", "margin"):
        np.testing.assert_array_equal(getattr(blocks, a), getattr(whole, a))


def test_tiled_prediction_normalises_window_by_window():
    """A tiled Classifier.predict reads the raw cube per window (here a read-only memory map
    stand-in) and gives what the pre-normalised scene gives."""
    from napari_ssdgl.prediction.classifier import Classifier
    from napari_ssdgl.prediction.inference import predict_probabilities

    m = _model().float().eval()
    rng = np.random.default_rng(3)
    cube = rng.normal(5, 2, size=(7, 70, 53)).astype(np.float32)
    cube.setflags(write=False)
    clf = Classifier(m, "ssdgl", {}, cube.mean((1, 2)), cube.std((1, 2)), np.arange(1, 6))
    tiled = clf.predict(cube, tile_size=48, overlap=16, device="cpu")
    ref = predict_probabilities(m, clf.prepare(cube), tile_size=48, overlap=16, device="cpu")
    np.testing.assert_allclose(tiled.probabilities, ref, atol=1e-6)


def test_bf16_prediction_is_close_to_float32():
    from napari_ssdgl.prediction.classifier import Classifier

    m = _model().float().eval()
    cube = np.random.default_rng(4).normal(size=(7, 40, 40)).astype(np.float32)
    clf = Classifier(m, "ssdgl", {}, np.zeros(7), np.ones(7), np.arange(1, 6))
    exact = clf.predict(cube, device="cpu")
    fast = clf.predict(cube, device="cpu", amp=True)
    assert np.abs(fast.probabilities - exact.probabilities).max() < 0.05
    assert (fast.labels == exact.labels).mean() > 0.9
