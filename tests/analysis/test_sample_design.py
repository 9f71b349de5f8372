"""Sample design: size from a target SE of OA, proportional allocation with a floor, a seeded
stratified draw that never lands on excluded (training) pixels."""

import numpy as np
import pytest

from napari_ssdgl.analysis.sample_design import (
    allocate,
    expected_se_oa,
    propose_sample,
    sample_size,
)

# Olofsson et al. (2014), section 5.1.2: strata of 200,000 / 150,000 / 3,200,000 / 6,450,000
# pixels, anticipated user's accuracies 0.7 / 0.6 / 0.9 / 0.95, target SE(OA) 0.01: n = 641
OLOFSSON = {1: 200_000, 2: 150_000, 3: 3_200_000, 4: 6_450_000}


def test_sample_size_olofsson_example_and_finite_population():
    assert sample_size(OLOFSSON, 0.01, {1: .7, 2: .6, 3: .9, 4: .95}) == 641
    # n0 = (0.5 / 0.05)^2 = 100 with U = 0.5; on 100 pixels the correction halves it
    assert sample_size({1: 100}, 0.05, 0.5) == 50
    with pytest.raises(ValueError, match="target standard error"):
        sample_size(OLOFSSON, 0)


def test_allocation_floor_then_proportional():
    # 75 to each rare class, the other 491 shared 320:645 -> 162.8, 328.2
    assert allocate(641, OLOFSSON, 75) == {1: 75, 2: 75, 3: 163, 4: 328}
    # classes smaller than the floor are taken whole; the floors may exceed the total
    assert allocate(100, {1: 10, 2: 1000, 3: 30, 4: 5000}, 50) == {1: 10, 2: 50, 3: 30, 4: 50}
    # no floor: plain proportional, total kept by largest remainders
    alloc = allocate(10, {1: 1, 2: 1, 3: 1}, 0)
    assert sum(alloc.values()) == 3  # never more than the pixels
    assert sum(allocate(7, {1: 5, 2: 5, 3: 5}, 0).values()) == 7


def test_expected_se_matches_proportional_design():
    alloc = {1: 50, 2: 50}
    se = expected_se_oa({1: 1000, 2: 1000}, alloc, 0.8)
    assert se == pytest.approx(np.sqrt(2 * 0.25 * 0.16 / 50 * (1 - 0.05)))


def test_propose_sample_is_seeded_and_avoids_training_pixels():
    rng = np.random.default_rng(1)
    cmap = rng.integers(0, 4, size=(40, 50))  # 0 = not mapped
    train = np.zeros_like(cmap, bool)
    train[::3, ::2] = True
    d = propose_sample(cmap, target_se=0.03, min_per_class=20, exclude=train, seed=7)
    again = propose_sample(cmap, target_se=0.03, min_per_class=20, exclude=train, seed=7)
    other = propose_sample(cmap, target_se=0.03, min_per_class=20, exclude=train, seed=8)
    assert np.array_equal(d.rows, again.rows) and np.array_equal(d.cols, again.cols)
    assert not (np.array_equal(d.rows, other.rows) and np.array_equal(d.cols, other.cols))
    assert not train[d.rows, d.cols].any()
    assert (cmap[d.rows, d.cols] == d.strata).all() and (d.strata > 0).all()
    assert d.excluded_pixels == int((train & (cmap > 0)).sum())
    assert "training pixels excluded" in " ".join(d.notes)
    assert d.stratum_sizes == {v: int(((cmap == v) & ~train).sum()) for v in (1, 2, 3)}
    for v, n in d.allocation.items():
        assert (d.strata == v).sum() == n
    assert d.size == sum(d.allocation.values()) >= d.requested
    assert len(set(zip(d.rows.tolist(), d.cols.tolist(), strict=True))) == d.size
    assert d.to_dict()["excluded_training_pixels"] == d.excluded_pixels


def test_propose_sample_mask_census_and_errors():
    cmap = np.zeros((10, 10), int)
    cmap[:2] = 1
    cmap[2:] = 2
    mask = np.ones_like(cmap, bool)
    mask[:, 5:] = False
    d = propose_sample(cmap, total=1000, min_per_class=5, mask=mask)
    assert d.size == int(mask.sum())  # more asked than there are: every pixel, once
    assert mask[d.rows, d.cols].all()
    small = propose_sample(cmap, total=12, min_per_class=50)
    assert small.allocation == {1: 20, 2: 50}  # class 1 smaller than the floor: whole
    assert "sampled whole" in small.notes[0]
    with pytest.raises(ValueError, match="either a sample size"):
        propose_sample(cmap)
    with pytest.raises(ValueError, match="no mapped pixels"):
        propose_sample(np.zeros((4, 4), int), total=5)
    with pytest.raises(ValueError, match="exclude raster"):
        propose_sample(cmap, total=5, exclude=np.zeros((3, 3), bool))


def test_anticipated_user_accuracies_one_or_per_class():
    from napari_ssdgl.analysis.sample_design import (
        describe_anticipated_ua,
        parse_anticipated_ua,
    )

    assert parse_anticipated_ua(" 0.9 ") == 0.9
    per_class = parse_anticipated_ua("1:0.7, 2:0.6,3:0.9,4:0.95")
    assert per_class == {1: 0.7, 2: 0.6, 3: 0.9, 4: 0.95}
    assert sample_size(OLOFSSON, 0.01, per_class) == 641  # the Olofsson example
    assert describe_anticipated_ua(0.9) == "0.9"
    assert describe_anticipated_ua({3: 0.95, 1: 0.8}) == "1: 0.8, 3: 0.95 (others 0.85)"
    for bad, why in (("x", "give a number"), ("1.5", r"in \(0, 1\]"), ("1:0.8,3", "class:"),
                     ("0:0.9", "above 0"), ("1:0.8,1:0.9", "twice"), ("2:0", r"in \(0, 1\]")):
        with pytest.raises(ValueError, match=why):
            parse_anticipated_ua(bad)
