"""CUDA graph replay of the fast path's iteration (training/cuda_graph.py).

The replay runs the same kernels as eager execution, so losses track the eager path to CUDA's
run-to-run rounding (atomic adds; bf16 autocast amplifies it): float32 within 1e-4 relative,
bf16 within 1e-2 over 8 iterations. The replays run on the device machine only
(``CUDA_VISIBLE_DEVICES=0``, see conftest.py); without a GPU the fallback, the warm-up inputs
and the graphed windowed iteration's math (its body run eagerly) are tested.
"""

import copy
import warnings

import numpy as np
import pytest
import torch

from napari_ssdgl.training import TrainConfig, Trainer, split_per_class
from napari_ssdgl.training import trainer as trainer_module
from napari_ssdgl.training.cuda_graph import GraphedWindows
from napari_ssdgl.training.windows import read_windows
from napari_ssdgl.transforms.dihedral import TRANSPOSE
from tests.conftest import TINY as MODEL
from tests.conftest import toy_scene

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def oblong():
    """20 x 24: with augment the transposed scene is another shape, so another graph."""
    cube, gt = toy_scene(size=20, cols=24)
    train, _ = split_per_class(gt, 5, seed=0)
    return cube, train


@pytest.fixture(scope="module")
def strip():
    """24 x 104, three classes far apart: with ``WINDOWED`` its two 24 x 32 windows are not
    square (a transposed view is another shape) and never hold every training pixel (padded
    draws)."""
    boxes = ((2, 9, 2, 18, 1), (11, 18, 40, 56, 4), (11, 18, 80, 100, 9))
    cube, gt = toy_scene(size=24, cols=104, boxes=boxes)
    train, _ = split_per_class(gt, 5, seed=0)
    return cube, train


WINDOWED = {"window": 32, "windows_per_batch": 2, "augment": True}


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


@cuda
@pytest.mark.parametrize(("amp", "rtol"), [(False, 1e-4), (True, 1e-2)])
def test_windowed_graph_replay_tracks_eager(strip, amp, rtol, monkeypatch):
    eager = _run(strip, cuda_graph=False, amp=amp, **WINDOWED)
    replays = []

    class Counting(GraphedWindows):
        def __call__(self, *args):
            replays.append(args[1])
            return super().__call__(*args)

    monkeypatch.setattr(trainer_module, "GraphedWindows", Counting)
    graphed = _run(strip, cuda_graph=True, amp=amp, **WINDOWED)
    assert len(replays) == 8 and any(k & TRANSPOSE for k in replays)  # it replayed, transposed too
    np.testing.assert_allclose(graphed[0], eager[0], rtol=rtol, atol=1e-5)
    assert graphed[0][-1] < graphed[0][0]
    # bf16 rounding may flip a close call: at most one drawn pixel (of at least 5) per iteration
    np.testing.assert_allclose(graphed[1], eager[1], atol=1 / 5 + 1e-6)


def test_graphed_windowed_body_is_the_eager_step(strip, monkeypatch):
    """The windowed graph's body, run eagerly on the CPU for the batch the trainer drew, gives
    the trainer's eager loss, accuracy and gradients: a transposed and flipped view of
    non-square windows, with padding in the draw."""
    cube, train = strip
    cfg = TrainConfig(iterations=1, amp=False, keep="last", seed=3, device="cpu",
                      model_kwargs=MODEL, **WINDOWED)
    trainer = Trainer(cube, train, cfg)
    before = copy.deepcopy(trainer.model)
    seen = {}
    draw, clip, flip = trainer.windows.draw, torch.nn.utils.clip_grad_norm_, trainer_module.dihedral

    def record_draw():
        seen["batch"] = draw()
        return seen["batch"]

    def record_clip(params, max_norm):
        params = list(params)
        seen["grads"] = [p.grad.clone() for p in params]
        return clip(params, max_norm)

    def record_flip(x, k):
        seen["k"] = k
        return flip(x, k)

    monkeypatch.setattr(trainer.windows, "draw", record_draw)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", record_clip)
    monkeypatch.setattr(trainer_module, "dihedral", record_flip)
    (event,) = trainer.run()
    batch, k = seen["batch"], seen["k"]
    assert k == 7 and trainer.windows.window == (24, 32)
    assert 0 < batch.drawn < batch.mask.size  # padded
    x = read_windows(trainer._source, batch.origins, trainer.windows.window, trainer.mean,
                     trainer.std)[0]
    graphed = GraphedWindows(before, before.sampled_logits, torch.from_numpy(x),
                             torch.from_numpy(batch.target), trainer.class_weights,
                             torch.from_numpy(batch.index), torch.from_numpy(batch.mask), None)
    loss, accuracy = graphed.body(k)
    assert float(loss) == pytest.approx(event.loss, rel=1e-6)
    assert float(accuracy) == pytest.approx(event.train_accuracy, abs=1e-7)
    for mine, eager in zip(graphed.grads, seen["grads"], strict=True):
        torch.testing.assert_close(mine, eager)


def test_windowed_warm_up_is_a_valid_draw_on_every_view(strip, monkeypatch):
    """A windowed capture warms up on a zero batch with a made-up draw: it must be a valid one
    (in the windows, a real class) on every view training will draw. The body stands in for
    the capture here, eagerly on the CPU."""
    cube, train = strip
    trainer = Trainer(cube, train, TrainConfig(device="cpu", amp=False, model_kwargs=MODEL,
                                               **WINDOWED))
    losses = []
    monkeypatch.setattr(GraphedWindows, "capture",
                        lambda self, views: losses.extend(self.body(k)[0] for k in views))
    x = torch.zeros(2, trainer.shape[0], *trainer.windows.window)
    graphed = trainer._graphed(trainer.model.sampled_logits, x, trainer._targets,
                               trainer.class_weights)
    assert isinstance(graphed, GraphedWindows)
    assert graphed.index.shape == graphed.target.shape == (trainer.windows.draw_size,)
    assert len(losses) == 8 and all(torch.isfinite(v) for v in losses)
