"""Prediction: probabilities and uncertainty, band checks, and tiled vs whole-scene agreement.

Tolerances are measured, not hoped for. SSDGL's GroupNorm and channel attention pool over the
whole input, so naive tiles disagree with the whole scene (a trained tiny SSDGL on a 128 px
scene, 2x2 tiles: ~94 % label agreement, probabilities off by up to ~0.7). With scene-wide
statistics (the default) the only difference left is the receptive field cut by the overlap:
>= 99.9 % label agreement, 99th-percentile probability difference ~0.002, max ~0.02.
"""

import numpy as np
import pytest
import torch
from torch import nn

from napari_ssdgl.models import build_model
from napari_ssdgl.models.blocks import ChannelAttention, SEBlock
from napari_ssdgl.prediction.classifier import BandMismatchError, Classifier, Prediction
from napari_ssdgl.prediction.inference import predict_probabilities
from napari_ssdgl.prediction.tiling import SceneStatistics, _window_data, plan_windows
from napari_ssdgl.training import TrainConfig, Trainer, split_by_fraction
from tests.conftest import TINY


@pytest.fixture(scope="module")
def trained() -> Classifier:
    """A tiny SSDGL trained briefly on the synthetic scene (sharp, realistic probabilities)."""
    from napari_ssdgl.datasets import make_synthetic_scene

    torch.set_num_threads(1)
    s = make_synthetic_scene(size=64)
    train, _ = split_by_fraction(s.gt.data, 0.05, seed=0)
    kw = {"widths": (16, 16, 16, 16), "decoder_width": 16, "groups": 4}
    cfg = TrainConfig(iterations=60, lr=0.01, per_class=20, eval_every=0, device="cpu",
                      model_kwargs=kw)
    return Trainer(s.cube.data, train, cfg).fit()


def test_prediction_from_probabilities():
    probs = np.array([[[0.7, 0.2]], [[0.2, 0.4]], [[0.1, 0.4]]], dtype=np.float32)  # K=3, 1x2
    p = Prediction.from_probabilities(probs, [2, 5, 9])
    assert p.labels.tolist() == [[2, 5]]  # a tie (0.4, 0.4) goes to the first class
    assert p.margin == pytest.approx(np.array([[0.5, 0.0]]))
    expected = -(probs * np.log(probs)).sum(0)
    assert p.entropy == pytest.approx(expected)
    assert p.entropy.dtype == np.float32 and p.margin.dtype == np.float32


def test_predict_whole_scene(trained):
    from napari_ssdgl.datasets import make_synthetic_scene

    cube = make_synthetic_scene(seed=2, size=40).cube  # a Cube object works as input too
    pred = trained.predict(cube, device="cpu")
    k = trained.num_classes
    assert pred.probabilities.shape == (k, 40, 40) and pred.probabilities.dtype == np.float32
    assert np.allclose(pred.probabilities.sum(0), 1, atol=1e-5)
    assert set(np.unique(pred.labels)) <= set(trained.class_values.tolist())
    assert np.all((pred.margin >= 0) & (pred.margin <= 1))
    assert np.all((pred.entropy >= 0) & (pred.entropy <= np.log(k) + 1e-5))


def test_band_mismatch_and_non_finite_input(trained):
    cube = np.random.default_rng(0).normal(size=(trained.bands + 1, 16, 16))
    with pytest.raises(BandMismatchError, match=f"{trained.bands + 1} bands but the model was "
                                                f"trained on {trained.bands}"):
        trained.predict(cube)
    assert issubclass(BandMismatchError, ValueError)
    good = np.ones((trained.bands, 16, 16), dtype=np.float32)
    good[0, 0, 0] = np.nan
    with pytest.warns(UserWarning, match="NaN/inf"):
        pred = trained.predict(good, device="cpu")
    assert np.all(np.isfinite(pred.probabilities))


def test_plan_windows_cores_tile_the_padded_scene():
    windows = plan_windows(70, 53, tile_size=60, overlap=10)  # rounded to 64 / 16
    cover = np.zeros((80, 64), int)
    for w in windows:
        cover[w.core_rows[0] : w.core_rows[1], w.core_cols[0] : w.core_cols[1]] += 1
        assert w.rows[1] - w.rows[0] <= 64 and (w.rows[1] - w.rows[0]) % 16 == 0
        assert w.cols[0] % 16 == 0 and w.rows[0] % 16 == 0
    assert np.all(cover == 1)
    with pytest.raises(ValueError, match="no core"):
        plan_windows(70, 53, tile_size=32, overlap=16)


def test_plan_windows_in_a_box_cover_it_once_with_context_from_the_scene():
    windows = plan_windows(200, 150, tile_size=64, overlap=16, box=(37, 90, 5, 41))
    cover = np.zeros((208, 160), int)
    for w in windows:
        cover[w.core_rows[0]:w.core_rows[1], w.core_cols[0]:w.core_cols[1]] += 1
        assert w.rows[1] - w.rows[0] <= 64 and w.cols[1] - w.cols[0] <= 64
        # context from the scene around the box, where there is scene
        assert w.rows[0] == max(0, w.core_rows[0] - 16) and w.rows[1] == w.core_rows[1] + 16
    expected = np.zeros_like(cover)
    expected[32:96, 0:48] = 1  # the box widened to the 16 px grid
    assert np.array_equal(cover, expected)
    assert windows[0].core_rows[0] == 32  # the box's own grid, from its corner


def test_tiling_is_exact_for_a_local_model():
    """Stitching is right: a model without global pooling gives the same result tiled.
    (A multiple of 16 in size: tiles assume the zero padding to 16 that the real models do.)"""
    local = nn.Sequential(nn.Conv2d(5, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
    x = np.random.default_rng(0).normal(size=(5, 80, 48)).astype(np.float32)
    whole = predict_probabilities(local, x, device="cpu")
    tiled = predict_probabilities(local, x, tile_size=48, overlap=16, device="cpu")
    assert np.allclose(whole, tiled, atol=1e-6)


@pytest.mark.parametrize("module", [ChannelAttention(24, 4), SEBlock(24, 4)])
def test_pooled_gate_probe_reproduces_the_module(module):
    """The tiled path reads a pooled module's gate off a 2-pixel probe; this must equal the
    module's own forward (guards against a change inside models/blocks.py)."""
    x = torch.randn(1, 24, 9, 7)
    gate = SceneStatistics._gate(module, x.mean((2, 3)), x.amax((2, 3)))
    assert torch.allclose(module(x), x * gate, atol=1e-5)


@pytest.mark.parametrize("name", ["ssdgl", "freenet"])
def test_scene_statistics_equal_whole_scene_statistics(name):
    """When every window sees the whole scene, the statistics accumulated over the window
    cores equal the whole-scene statistics of every pooled layer, and so does the output."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(10, 40, 45)).astype(np.float32)  # padded to 48 x 48 like the model
    torch.manual_seed(0)
    model = build_model(name, 10, 4, **TINY).eval()
    seen: dict = {}

    def record(mod, inputs, output):
        a = inputs[0].double()
        if isinstance(mod, nn.GroupNorm):
            g = a.reshape(1, mod.num_groups, -1)
            seen[mod] = g.mean(-1).float()
        else:
            seen[mod] = a.mean((2, 3)).float()

    stats = SceneStatistics(model)
    stats.close()
    hooks = [m.register_forward_hook(record) for m in stats.layers]
    with torch.inference_mode():
        model(torch.from_numpy(x)[None])
    for h in hooks:
        h.remove()
    windows = plan_windows(40, 45, tile_size=112, overlap=48)  # each window is the whole scene
    assert len(windows) == 9
    stats = SceneStatistics(model)
    with torch.inference_mode():
        stats.measure(model, windows, lambda w: _window_data(x, w))
    stats.close()
    for layer in stats.layers:
        if isinstance(layer, nn.GroupNorm):
            assert torch.allclose(stats.frozen[layer][0], seen[layer], atol=1e-5)
    whole = predict_probabilities(model, x, device="cpu")
    tiled = predict_probabilities(model, x, tile_size=112, overlap=48, device="cpu")
    assert np.allclose(whole, tiled, atol=1e-5)


def test_tiled_matches_whole_scene_within_measured_tolerance(trained):
    from napari_ssdgl.datasets import make_synthetic_scene

    cube = make_synthetic_scene(seed=1, size=128).cube.data  # 2 x 2 windows of 112 px
    whole = trained.predict(cube, device="cpu")
    tiled = trained.predict(cube, tile_size=160, overlap=48, device="cpu")
    diff = np.abs(tiled.probabilities - whole.probabilities).max(0)
    assert (tiled.labels == whole.labels).mean() >= 0.999
    assert np.quantile(diff, 0.99) < 0.01 and diff.max() < 0.1
    naive = trained.predict(cube, tile_size=160, overlap=48, device="cpu", scene_stats=False)
    naive_diff = np.abs(naive.probabilities - whole.probabilities).max(0)
    assert (naive.labels == whole.labels).mean() < 0.99  # why scene statistics are the default
    assert naive_diff.max() > 5 * diff.max()


def test_out_of_memory_falls_back_to_tiles(trained, monkeypatch):
    import napari_ssdgl.prediction.inference as inference

    x = np.zeros((trained.bands, 20, 20), dtype=np.float32)

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(inference, "_run", oom)
    with pytest.warns(UserWarning, match="out of memory"):
        probs = inference.predict_probabilities(trained.model, x, device="cpu")
    assert probs.shape == (trained.num_classes, 20, 20)


def test_tta_is_the_mean_over_the_flips_and_transposes(trained):
    from napari_ssdgl.datasets import make_synthetic_scene

    cube = make_synthetic_scene(seed=3, size=48).cube.data[:, :, :32]  # not square
    x = trained.prepare(cube)
    views = []
    for transpose in (False, True):
        for dims in ((), (1,), (2,), (1, 2)):  # torch ops, apart from the code under test
            t = torch.from_numpy(x)
            t = t.transpose(1, 2) if transpose else t
            t = t.flip(dims) if dims else t
            p = torch.from_numpy(predict_probabilities(trained.model, t.numpy().copy(),
                                                       device="cpu"))
            p = p.flip(dims) if dims else p
            views.append((p.transpose(1, 2) if transpose else p).numpy())
    expected = np.mean(views, axis=0)
    tta = trained.predict(cube, device="cpu", tta=True)
    np.testing.assert_allclose(tta.probabilities, expected, atol=1e-6)
    assert tta.probabilities.shape == (trained.num_classes, 48, 32)
    assert not np.allclose(tta.probabilities, views[0], atol=1e-3)  # it did change something
    # the mean over a group of views does not depend on the scene's orientation
    turned = trained.predict(np.ascontiguousarray(cube.transpose(0, 2, 1)[:, ::-1]),
                             device="cpu", tta=True)
    np.testing.assert_allclose(turned.probabilities.transpose(0, 2, 1)[:, :, ::-1],
                               tta.probabilities, atol=1e-5)


def test_tiled_tta_on_a_memory_map_matches_whole_scene_tta(trained, tmp_path):
    from napari_ssdgl.datasets import make_synthetic_scene

    path = tmp_path / "cube.npy"
    np.save(path, make_synthetic_scene(seed=1, size=128).cube.data[:, :, :112])
    cube = np.load(path, mmap_mode="r")  # tiled, the views stay views of the file
    whole = trained.predict(np.asarray(cube), device="cpu", tta=True)
    tiled = trained.predict(cube, tile_size=160, overlap=48, device="cpu", tta=True)
    assert (tiled.labels == whole.labels).mean() >= 0.999
    assert np.abs(tiled.probabilities - whole.probabilities).max() < 0.1
