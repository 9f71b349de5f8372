"""Label encoding, protocol splits and H-B draws: counts, seeding, errors."""

import math

import numpy as np
import pytest

from napari_ssdgl.training import (
    HBSampler,
    LabelEncoder,
    TrainingError,
    split_by_fraction,
    split_per_class,
)


def make_gt(sizes: dict[int, int], shape=(20, 20), seed=0) -> np.ndarray:
    """A label raster with exactly ``sizes[v]`` pixels of value v at random places."""
    rng = np.random.default_rng(seed)
    flat = np.zeros(shape[0] * shape[1], dtype=np.uint8)
    places = rng.permutation(flat.size)
    start = 0
    for v, n in sizes.items():
        flat[places[start : start + n]] = v
        start += n
    return flat.reshape(shape)


def counts(raster: np.ndarray) -> dict[int, int]:
    values, n = np.unique(raster[raster > 0], return_counts=True)
    return dict(zip(values.tolist(), n.tolist(), strict=True))


def test_label_encoder_roundtrip_arbitrary_values():
    labels = np.array([[0, 1, 10], [11, 14, 0]])
    enc = LabelEncoder.from_labels(labels)
    assert enc.values.tolist() == [1, 10, 11, 14]
    assert len(enc) == 4
    idx = enc.encode(labels)
    assert idx.dtype == np.int64
    assert idx.tolist() == [[-1, 0, 1], [2, 3, -1]]
    assert np.array_equal(enc.decode(idx), labels)
    assert enc.encode(np.array([5, 99, 0])).tolist() == [-1, -1, -1]  # unknown values


def test_split_by_fraction_counts_and_partition():
    gt = make_gt({1: 100, 2: 40, 3: 3, 7: 2})
    train, test = split_by_fraction(gt, 0.1, min_per_class=5, seed=0)
    # n_c = max(5, ceil(0.1 c)) capped at c - 1
    assert counts(train) == {1: 10, 2: 5, 3: 2, 7: 1}
    assert counts(test) == {1: 90, 2: 35, 3: 1, 7: 1}
    assert not np.any((train > 0) & (test > 0))
    assert np.array_equal(np.where(train > 0, train, test), gt)
    assert train.dtype == gt.dtype and test.dtype == gt.dtype


def test_split_by_fraction_uses_ceil():
    gt = make_gt({1: 101, 2: 60})
    train, _ = split_by_fraction(gt, 0.05, min_per_class=1, seed=3)
    assert counts(train) == {1: math.ceil(0.05 * 101), 2: 3}


def test_split_per_class_caps_at_class_size_minus_one():
    gt = make_gt({1: 50, 4: 8, 9: 2})
    train, test = split_per_class(gt, 10, seed=0)
    assert counts(train) == {1: 10, 4: 7, 9: 1}
    assert counts(test) == {1: 40, 4: 1, 9: 1}


def test_splits_are_seeded():
    gt = make_gt({1: 100, 2: 100, 3: 50})
    a, _ = split_per_class(gt, 10, seed=5)
    b, _ = split_per_class(gt, 10, seed=5)
    c, _ = split_per_class(gt, 10, seed=6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    d, _ = split_by_fraction(gt, 0.1, seed=5)
    e, _ = split_by_fraction(gt, 0.1, seed=5)
    assert np.array_equal(d, e)


@pytest.mark.parametrize(
    "split", [lambda g: split_per_class(g, 5), lambda g: split_by_fraction(g, 0.1)]
)
def test_split_class_with_one_pixel_is_an_error(split):
    gt = make_gt({1: 30, 2: 1})
    with pytest.raises(TrainingError, match="class 2 has only 1 labelled pixel"):
        split(gt)


def test_split_errors():
    with pytest.raises(TrainingError, match="no labelled pixels"):
        split_per_class(np.zeros((5, 5), int), 3)
    gt = make_gt({1: 30, 2: 30})
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(TrainingError, match="fraction"):
            split_by_fraction(gt, bad)
    for bad in (0, -3, 2.5):
        with pytest.raises(TrainingError, match="per class"):
            split_per_class(gt, bad)
    with pytest.raises(TrainingError, match="2-D"):
        split_per_class(np.ones((2, 3, 4), int), 1)


def test_hb_sampler_draw_counts_and_membership():
    encoded = np.full(400, -1)
    encoded[:50] = 0
    encoded[100:103] = 1  # a rare class with 3 pixels
    encoded[200:230] = 2
    sampler = HBSampler(encoded.reshape(20, 20), per_class=10, seed=1)
    assert sampler.counts.tolist() == [50, 3, 30]
    idx = sampler.draw()
    assert idx.dtype == np.int64
    assert len(np.unique(idx)) == idx.size  # no pixel twice within a draw
    assert np.bincount(encoded[idx], minlength=3).tolist() == [10, 3, 10]
    assert sampler.draw_size == idx.size == 23
    assert np.all(encoded[idx] >= 0)  # only training pixels


def test_hb_sampler_reshuffles_and_is_seeded():
    encoded = np.repeat(np.arange(3), 40)
    a = HBSampler(encoded, per_class=5, seed=7)
    b = HBSampler(encoded, per_class=5, seed=7)
    first = [a.draw() for _ in range(3)]
    again = [b.draw() for _ in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert not np.array_equal(np.sort(first[0]), np.sort(first[1]))  # a fresh subset each time


@pytest.mark.parametrize("per_class", [None, 0, 100])
def test_hb_sampler_all_pixels(per_class):
    encoded = np.array([-1, 0, 0, 1, 1, 1, -1, 2])
    sampler = HBSampler(encoded, per_class=per_class, seed=0)
    d1, d2 = sampler.draw(), sampler.draw()
    assert sorted(d1.tolist()) == [1, 2, 3, 4, 5, 7]
    assert sorted(d2.tolist()) == sorted(d1.tolist())
    assert sampler.draw_size == d1.size == 6


@pytest.mark.parametrize("bad", [-1, 2.5])
def test_hb_sampler_rejects_bad_per_class(bad):
    with pytest.raises(TrainingError, match="per-class"):
        HBSampler(np.array([0, 1]), per_class=bad)
