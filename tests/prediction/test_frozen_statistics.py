"""A window-trained model's fixed layer statistics: one-pass prediction, tiled == whole scene,
and their round trip through model.json (bad ones are a ModelFileError)."""

import json
import shutil

import numpy as np
import pytest
import torch

from napari_ssdgl.models import build_model
from napari_ssdgl.prediction.classifier import Classifier
from napari_ssdgl.prediction.modelfile import ModelFileError, load_classifier, save_classifier
from napari_ssdgl.prediction.tiling import SceneStatistics, plan_windows
from napari_ssdgl.training.windows import calibrate
from tests.conftest import TINY

BANDS, SIZE = 6, 96
TILE, OVERLAP = 112, 48


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    rng = np.random.default_rng(0)
    smooth = rng.normal(size=(BANDS, SIZE // 8, SIZE // 8)).repeat(8, 1).repeat(8, 2)
    return (smooth * 3 + rng.normal(size=(BANDS, SIZE, SIZE)) + 10).astype(np.float32)


@pytest.fixture(scope="module")
def clf(scene) -> Classifier:
    """A tiny SSDGL with statistics calibrated on four 32 px windows of the scene."""
    torch.manual_seed(0)
    model = build_model("ssdgl", BANDS, 3, **TINY).eval()
    mean, std = scene.mean((1, 2)), scene.std((1, 2))
    x = (scene - mean[:, None, None]) / std[:, None, None]
    windows = torch.from_numpy(np.stack([x[:, r:r + 32, c:c + 32]
                                         for r, c in ((0, 0), (10, 50), (60, 20), (64, 64))]))
    frozen = calibrate(model, windows)
    config = {"in_channels": BANDS, "num_classes": 3, **TINY}
    return Classifier(model=model, model_name="ssdgl", model_config=config, mean=mean, std=std,
                      class_values=np.array([1, 2, 5]), layer_statistics=frozen)


def count_passes(model) -> tuple[list, object]:
    """Inputs seen by the network's first layer (every forward pass, folded head or not)."""
    calls = []
    first = next(iter(model.children()))
    return calls, first.register_forward_pre_hook(lambda m, a: calls.append(a[0].shape))


def test_tiled_equals_whole_scene_in_one_pass(clf, scene, monkeypatch):
    def no_measuring(*a, **k):
        raise AssertionError("a model with layer statistics needs no statistics passes")

    monkeypatch.setattr(SceneStatistics, "measure", no_measuring)
    calls, hook = count_passes(clf.model)
    whole = clf.predict(scene, device="cpu").probabilities
    assert len(calls) == 1
    calls.clear()
    tiled = clf.predict(scene, tile_size=TILE, overlap=OVERLAP, device="cpu").probabilities
    # one forward per tile and nothing else
    assert len(calls) == len(plan_windows(SIZE, SIZE, TILE, OVERLAP)) > 1
    hook.remove()
    # what is left is the receptive field cut at 48 px (measured: max 1.8e-3, p99 1.5e-4;
    # 16 px of overlap gave max 0.07)
    diff = np.abs(whole - tiled)
    assert diff.max() < 5e-3 and np.percentile(diff, 99) < 5e-4, diff.max()


def test_statistics_are_the_models_own_not_the_scenes(clf, scene):
    """The same network with whole-scene statistics predicts differently: the fixed ones are
    really used (and a whole-scene model still predicts as before)."""
    own = clf.predict(scene, device="cpu").probabilities
    plain = Classifier(model=clf.model, model_name="ssdgl", model_config={}, mean=clf.mean,
                       std=clf.std, class_values=clf.class_values)
    scene_stats = plain.predict(scene, device="cpu").probabilities
    assert np.abs(own - scene_stats).max() > 1e-3


def test_dask_prediction_is_one_pass_and_matches(clf, scene, monkeypatch):
    import dask.array as da

    import napari_ssdgl.prediction.dask_predict as dp

    monkeypatch.setattr(dp, "_measure", lambda *a, **k: pytest.fail("statistics pass"))
    passes = []
    pred = dp.predict_dask(clf, da.from_array(scene, chunks=(BANDS, 32, 32)), tile_size=TILE,
                           overlap=OVERLAP, device="cpu",
                           on_pass=lambda i, n: passes.append((i, n)))
    tiled = clf.predict(scene, tile_size=TILE, overlap=OVERLAP, device="cpu").probabilities
    assert passes == [(0, 1)]
    assert np.abs(pred.probabilities.compute(scheduler="sync") - tiled).max() < 1e-5


@pytest.fixture
def saved(clf, tmp_path):
    return save_classifier(clf, tmp_path / "m")


def test_model_json_round_trip(clf, scene, saved):
    meta = json.loads((saved / "model.json").read_text())
    assert set(meta["layer_statistics"]) == set(clf.layer_statistics)
    back = load_classifier(saved)
    for name, value in clf.layer_statistics.items():
        got = back.layer_statistics[name]
        for a, b in zip(value if isinstance(value, tuple) else (value,),
                        got if isinstance(got, tuple) else (got,), strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
    assert np.array_equal(back.predict(scene, device="cpu").probabilities,
                          clf.predict(scene, device="cpu").probabilities)


def test_whole_scene_model_saves_none(clf, tmp_path):
    plain = Classifier(model=clf.model, model_name="ssdgl",
                       model_config={"in_channels": BANDS, "num_classes": 3, **TINY},
                       mean=clf.mean, std=clf.std, class_values=clf.class_values)
    d = save_classifier(plain, tmp_path / "w")
    assert json.loads((d / "model.json").read_text())["layer_statistics"] is None
    assert load_classifier(d).layer_statistics is None


def _groupnorm(stats: dict) -> str:
    return next(n for n, v in stats.items() if "mean" in v)


def _gate(stats: dict) -> str:
    return next(n for n, v in stats.items() if "gate" in v)


CORRUPT = {
    "not an object": lambda s: [1, 2],
    "unknown layer": lambda s: {**s, "no.such.layer": {"gate": [1.0]}},
    "missing layer": lambda s: {k: v for k, v in s.items() if k != _gate(s)},
    "nan": lambda s: {**s, _groupnorm(s): {"mean": [float("nan")] * 4, "rstd": [1.0] * 4}},
    "strings": lambda s: {**s, _groupnorm(s): {"mean": "0", "rstd": [1.0] * 4}},
    "lengths differ": lambda s: {**s, _groupnorm(s): {"mean": [0.0] * 4, "rstd": [1.0] * 3}},
    "wrong group count": lambda s: {**s, _groupnorm(s): {"mean": [0.0], "rstd": [1.0]}},
    "wrong gate size": lambda s: {**s, _gate(s): {"gate": [1.0, 1.0, 1.0]}},
    "wrong keys": lambda s: {**s, _gate(s): {"mean": [1.0]}},
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_layer_statistics_is_a_model_file_error(saved, tmp_path, case):
    d = tmp_path / "bad"
    shutil.copytree(saved, d)
    meta = json.loads((d / "model.json").read_text())
    meta["layer_statistics"] = CORRUPT[case](meta["layer_statistics"])
    (d / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="layer_statistics"):
        load_classifier(d)


def test_only_the_tiles_holding_needed_pixels_run(clf, scene):
    """Scoring a big scene on its labelled pixels reads and runs only their tiles."""
    import torch as _torch

    from napari_ssdgl.prediction.tiling import predict_tiled

    x = clf.prepare(scene)
    needed = np.zeros((SIZE, SIZE), bool)
    needed[5, 7] = needed[90, 3] = True
    calls, hook = count_passes(clf.model)
    with _torch.inference_mode():
        full = predict_tiled(clf.model, x, TILE, OVERLAP, _torch.device("cpu"),
                             frozen=clf.layer_statistics)
        calls.clear()
        part = predict_tiled(clf.model, x, TILE, OVERLAP, _torch.device("cpu"),
                             frozen=clf.layer_statistics, needed=needed)
    hook.remove()
    assert len(calls) == 2  # two tiles, not the 36 of the scene
    assert np.array_equal(part[:, needed], full[:, needed])
    assert np.all(part[:, 40:60, 40:60] == 0)
    with _torch.inference_mode():
        index = predict_tiled(clf.model, x, TILE, OVERLAP, _torch.device("cpu"),
                              frozen=clf.layer_statistics, needed=needed, labels=True)
    assert index.shape == needed.shape and index.dtype == np.int32
    assert np.array_equal(index[needed], full.argmax(0)[needed])  # the class index alone


def test_a_box_is_mapped_on_its_own_grid(clf, scene):
    """``box``: only that part is mapped, in windows of its own (here one, where the scene's
    tiles of TILE px, 16 px cores, would be 12), and it agrees with the whole-scene map."""
    import torch as _torch

    from napari_ssdgl.prediction.tiling import predict_tiled

    x = clf.prepare(scene)
    box = (20, 60, 30, 70)  # 40 x 40 px across the scene tiles' core borders (16, 32, ...)
    calls, hook = count_passes(clf.model)
    with _torch.inference_mode():
        whole = predict_tiled(clf.model, x, TILE, OVERLAP, _torch.device("cpu"),
                              frozen=clf.layer_statistics)
        calls.clear()
        part = predict_tiled(clf.model, x, 64 + 2 * OVERLAP, OVERLAP, _torch.device("cpu"),
                             frozen=clf.layer_statistics, box=box, labels=True)
    hook.remove()
    assert len(calls) == 1
    inside = np.zeros(part.shape, bool)
    inside[16:64, 16:80] = True  # the box widened to the 16 px grid
    assert not part[~inside].any()
    assert (part[20:60, 30:70] == whole.argmax(0)[20:60, 30:70]).mean() > 0.99
    with pytest.raises(ValueError, match="frozen"):
        predict_tiled(clf.model, x, TILE, OVERLAP, _torch.device("cpu"), box=box)


def test_calibration_in_one_pass_equals_a_pass_per_layer(scene):
    """Fixing each layer as one pass of all windows reaches it gives the statistics that
    measuring each layer over every window, the layers before it fixed, gives: one forward
    pass instead of one per pooled layer."""
    from napari_ssdgl.prediction.tiling import logits
    from napari_ssdgl.training.windows import _WindowMeans

    torch.manual_seed(1)
    model = build_model("ssdgl", BANDS, 3, **TINY).eval()
    x = torch.from_numpy(np.stack([scene[:, r:r + 32, c:c + 32] - 10
                                   for r, c in ((0, 0), (10, 50), (60, 20))]))
    batches = [x[:2], x[2:]]
    with _WindowMeans(model) as stats, torch.inference_mode():  # a pass per layer
        for layer in stats.execution_order(lambda: logits(model, batches[0])):
            for b in batches:
                stats.accumulate(layer, None, lambda b=b: logits(model, b))
            stats.freeze(layer)
        reference = stats.export_frozen()
    calls, hook = count_passes(model)
    one_pass = calibrate(model, batches)
    hook.remove()
    assert len(calls) == 1 and calls[0][0] == 3  # the three windows, once
    assert one_pass.keys() == reference.keys() and len(reference) > 2
    for name, value in reference.items():
        got = one_pass[name]
        pairs = zip(got, value, strict=True) if isinstance(value, tuple) else [(got, value)]
        for a, b in pairs:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
