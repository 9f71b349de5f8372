"""Shared test set-up (small, deterministic, CPU only) and the scene builders the tests share:
``from tests.conftest import TINY, toy_scene``."""

import os

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # tests exercise the CPU path everywhere

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

# One thread: tiny models on a shared 2-core runner are many times slower with two.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)


# The smallest SSDGL the width rules allow: trains in milliseconds per iteration on one thread.
TINY = {"widths": (16, 16, 16, 16), "decoder_width": 8, "groups": 4}


# (row start, row stop, col start, col stop, value) of each class rectangle
TOY_BOXES = ((2, 9, 2, 18, 1), (11, 18, 2, 9, 4), (11, 18, 11, 18, 9))


def toy_scene(
    bands: int = 12, size: int = 20, seed: int = 0, *, cols: int | None = None,
    boxes=TOY_BOXES, dtype=np.int64,
) -> tuple[np.ndarray, np.ndarray]:
    """Rectangular classes (``boxes``) with distinct spectra plus noise; 0 between them.

    ``size`` rows by ``cols`` (default ``size``) pixels; label values need not be contiguous.
    """
    rng = np.random.default_rng(seed)
    gt = np.zeros((size, cols or size), dtype=dtype)
    for r0, r1, c0, c1, value in boxes:
        gt[r0:r1, c0:c1] = value
    spectra = rng.normal(size=(max(b[-1] for b in boxes) + 1, bands)) * 2
    cube = spectra[gt].transpose(2, 0, 1) + rng.normal(size=(bands, *gt.shape)) * 0.3
    return cube.astype(np.float32), gt


def tiny_classifier(cube: np.ndarray, gt: np.ndarray, iterations: int = 30):
    """A tiny SSDGL trained on the whole of ``gt`` (a model to apply in tests)."""
    from napari_ssdgl.training import TrainConfig, Trainer

    trainer = Trainer(cube, gt, TrainConfig(iterations=iterations, lr=0.01, eval_every=0,
                                            device="cpu", model_kwargs=TINY))
    for _ in trainer.run():
        pass
    return trainer.result()


class Recording:
    """A read-only (bands, rows, cols) array that records the shape of every slice read and
    refuses to be converted whole (as a cube larger than memory would)."""

    def __init__(self, data: np.ndarray) -> None:
        self._data = data
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim
        self.reads: list[tuple[int, ...]] = []

    def __getitem__(self, key):
        out = self._data[key]
        self.reads.append(out.shape)
        return out

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("the whole cube was materialised")

    def largest_read(self) -> int:
        return max(int(np.prod(r)) for r in self.reads)


# Hypothesis profile for the reader fuzzing (tests/io/test_fuzz_readers.py): a default run takes a
# bounded number of examples per format; maintainers run the long one with
# `pytest tests/io/test_fuzz_readers.py --hypothesis-profile=long`.
try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # hypothesis comes with the 'testing' extra
    pass
else:
    _hypothesis_settings.register_profile("long", max_examples=1000, deadline=None, database=None)
