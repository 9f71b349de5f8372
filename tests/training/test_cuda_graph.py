"""CUDA graph replay of the fast path's iteration (training/cuda_graph.py).

The replay runs the same kernels as eager execution, so losses track the eager path to CUDA's
run-to-run rounding (atomic adds; bf16 autocast amplifies it): float32 within 1e-4 relative,
bf16 within 1e-2 over 8 iterations. Only the fallback test runs without a GPU; the rest run on
the device machine (``CUDA_VISIBLE_DEVICES=0``, see conftest.py).
"""

import warnings

import numpy as np
import pytest
import torch

from napari_ssdgl.training import TrainConfig, Trainer, split_per_class
from napari_ssdgl.training import trainer as trainer_module
from tests.conftest import TINY as MODEL
from tests.conftest import toy_scene

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def oblong():
    """20 x 24: with augment the transposed scene is another shape, so another graph."""
    cube, gt = toy_scene(size=20, cols=24)
    train, _ = split_per_class(gt, 5, seed=0)
    return cube, train


def _run(scene, **kw):
    cube, train = scene
    cfg = TrainConfig(**{"iterations": 8, "lr": 0.01, "eval_every": 0, "device": "cuda",
                         "model_kwargs": MODEL, **kw})
    trainer = Trainer(cube, train, cfg)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        events = list(trainer.run())
    assert not [w for w in caught if "CUDA graph" in str(w.message)]  # no fallback
    return np.array([e.loss for e in events]), np.array([e.train_accuracy for e in events])


@cuda
@pytest.mark.parametrize(("amp", "rtol"), [(False, 1e-4), (True, 1e-2)])
@pytest.mark.parametrize("augment", [False, True])
def test_graph_replay_tracks_eager(oblong, amp, rtol, augment):
    eager = _run(oblong, cuda_graph=False, amp=amp, augment=augment)
    graphed = _run(oblong, cuda_graph=True, amp=amp, augment=augment)
    np.testing.assert_allclose(graphed[0], eager[0], rtol=rtol, atol=1e-5)
    assert graphed[0][-1] < graphed[0][0]  # and it learns
    # bf16 rounding may flip a close call: at most one of the 15 drawn pixels per iteration
    np.testing.assert_allclose(graphed[1], eager[1], atol=1 / 15 + 1e-6)


@cuda
def test_graph_replay_keeps_gradients_in_place(oblong):
    cube, train = oblong
    cfg = TrainConfig(iterations=3, eval_every=0, device="cuda", model_kwargs=MODEL)
    trainer = Trainer(cube, train, cfg)
    run = trainer.run()
    next(run)
    first = [p.grad.data_ptr() for p in trainer.model.parameters()]
    next(run)
    assert [p.grad.data_ptr() for p in trainer.model.parameters()] == first
    run.close()


def test_failed_capture_falls_back_to_eager(oblong, monkeypatch):
    """A capture that raises (here: no CUDA at all) means eager training with a warning and
    no fixed gradient tensors left behind."""
    cube, train = oblong
    trainer = Trainer(cube, train, TrainConfig(iterations=2, device="cpu", model_kwargs=MODEL))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: None)
    x = torch.from_numpy(trainer._x)[None]
    with pytest.warns(UserWarning, match="CUDA graph capture failed"):
        graphed = trainer._graphed(trainer.model.sampled_logits, x, trainer._targets,
                                   trainer.class_weights)
    assert graphed is None
    assert all(p.grad is None for p in trainer.model.parameters())


def test_warm_up_index_holds_only_labelled_pixels(oblong, monkeypatch):
    """Capturing warms up on a real loss: an unlabelled pixel (target -1) there would fail
    the cross-entropy's class check on the GPU."""
    seen = {}

    class Recorder:
        def __init__(self, model, forward, x, targets, weights, index, amp):
            seen["index"], seen["targets"] = index, targets

        def capture(self, views):
            seen["views"] = views

    cube, train = oblong
    trainer = Trainer(cube, train, TrainConfig(device="cpu", model_kwargs=MODEL, augment=True))
    monkeypatch.setattr(trainer_module, "GraphedIteration", Recorder)
    x = torch.from_numpy(trainer._x)[None]
    trainer._graphed(trainer.model.sampled_logits, x, trainer._targets, trainer.class_weights)
    assert seen["index"].shape == (trainer.sampler.draw_size,)
    assert (seen["targets"][seen["index"]] >= 0).all()
    assert seen["views"] == list(range(8))
