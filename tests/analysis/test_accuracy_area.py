"""Stratified accuracy and area estimators: Stehman's (2014) numerical example and a small case
computed by hand (the arithmetic is in the comments)."""

import numpy as np
import pytest

from napari_ssdgl.analysis.accuracy_area import stratified_estimates, z_value

# Stehman (2014), section 4: 4 strata of 40,000 / 30,000 / 20,000 / 10,000 pixels, 10 points
# each; strata are not the map classes (some stratum-A points are mapped B). A..D = 1..4.
_S = "A" * 10 + "B" * 10 + "C" * 10 + "D" * 10
_M = "A" * 7 + "B" * 3 + "A" + "B" * 11 + "C" * 6 + "BB" + "D" * 10
_R = "AAAAACBABCABBBBBAABBCCCCCDDBBADDDDDDDCCB"
_CODE = {"A": 1, "B": 2, "C": 3, "D": 4}
STEHMAN_SIZES = {1: 40000, 2: 30000, 3: 20000, 4: 10000}


def _codes(text):
    return [_CODE[ch] for ch in text]


@pytest.fixture(scope="module")
def stehman():
    return stratified_estimates(_codes(_S), _codes(_M), _codes(_R), STEHMAN_SIZES)


def test_stehman_2014_example(stehman):
    by = {c.value: c for c in stehman.classes}
    a, b, c = by[1], by[2], by[3]
    assert (round(a.users, 3), round(a.users_se, 3)) == (0.742, 0.165)
    assert (round(a.producers, 3), round(a.producers_se, 3)) == (0.657, 0.148)
    assert (round(b.users, 3), round(b.users_se, 3)) == (0.574, 0.125)
    assert (round(b.producers, 3), round(b.producers_se, 3)) == (0.794, 0.117)
    assert (round(stehman.oa, 3), round(stehman.oa_se, 3)) == (0.630, 0.085)
    assert (round(a.area_proportion, 3), round(a.area_proportion_se, 3)) == (0.350, 0.082)
    assert (round(c.area_proportion, 3), round(c.area_proportion_se, 3)) == (0.200, 0.064)
    assert round(stehman.matrix[1, 2], 3) == 0.080  # mapped B, reference C
    assert stehman.matrix.sum() == pytest.approx(1.0)
    # the matrix's row sums are the map-class shares, column sums the area estimates
    assert stehman.matrix.sum(axis=0) == pytest.approx([c.area_proportion
                                                        for c in stehman.classes])
    assert a.area_pixels == pytest.approx(0.35 * 100000)


def test_hand_computed_two_strata():
    # stratum 1 (N=100): 4 points mapped 1, reference 1,1,1,2; stratum 2 (N=50): 2 points mapped
    # 2, reference 2,1.  OA = (100*3/4 + 50*1/2)/150 = 2/3; V = [100^2 (1-4/100) 0.25/4 +
    # 50^2 (1-2/50) 0.5/2] / 150^2 = 1200/22500.
    e = stratified_estimates([1, 1, 1, 1, 2, 2], [1, 1, 1, 1, 2, 2], [1, 1, 1, 2, 2, 1],
                             {1: 100, 2: 50}, mapped_pixels={1: 100, 2: 50},
                             pixel_area_ha=0.09)
    assert e.oa == pytest.approx(2 / 3)
    assert e.oa_se == pytest.approx(np.sqrt(1200 / 22500))
    one, two = e.classes
    # users of 1: 75/100, residual variance 0.25 in stratum 1 only: 100^2*0.96*0.25/4/100^2
    assert one.users == pytest.approx(0.75)
    assert one.users_se == pytest.approx(np.sqrt(0.06))
    # producers of 1: Y = 75, X = 100*3/4 + 50*1/2 = 100; residual variances 0.015625, 0.28125
    assert one.producers == pytest.approx(0.75)
    assert one.producers_se == pytest.approx(np.sqrt((10000 * .96 * .015625 / 4
                                                      + 2500 * .96 * .28125 / 2) / 100 ** 2))
    # area of 2: (100/4 + 50/2)/150 = 1/3 of 150 px = 50 px; the same variance as OA here
    assert two.area_proportion == pytest.approx(1 / 3)
    assert two.area_pixels == pytest.approx(50)
    assert two.area_pixels_se == pytest.approx(150 * np.sqrt(1200 / 22500))
    assert two.area_ha == pytest.approx(50 * 0.09)
    assert two.mapped_pixels == 50
    assert e.matrix == pytest.approx(np.array([[0.5, 1 / 6], [1 / 6, 1 / 6]]))
    low, high = e.oa_ci
    assert low == pytest.approx(2 / 3 - 1.959964 * e.oa_se, abs=1e-5)
    assert high == 1.0  # clipped: a proportion is at most 1
    row = e.table()[1]
    assert row["area_pixels_low"] == pytest.approx(max(0, 50 - 1.959964 * two.area_pixels_se),
                                                   abs=1e-3)
    assert e.to_dict()["classes"][0]["users"] == pytest.approx(0.75)


def test_census_stratum_has_no_variance_and_one_point_gives_nan():
    # stratum 2 sampled whole: known exactly, adds nothing to the variance
    e = stratified_estimates([1, 1, 2, 2], [1, 1, 2, 2], [1, 2, 2, 2], {1: 10, 2: 2})
    assert e.oa == pytest.approx((10 * 0.5 + 2 * 1) / 12)
    assert e.oa_se == pytest.approx(np.sqrt(10 ** 2 * (1 - 2 / 10) * 0.5 / 2) / 12)
    thin = stratified_estimates([1, 1, 2], [1, 1, 2], [1, 2, 2], {1: 10, 2: 5})
    assert np.isnan(thin.oa_se)
    assert "one sample point" in thin.notes[0]


def test_reference_class_never_mapped_and_bad_input():
    e = stratified_estimates([1, 1, 1], [1, 1, 1], [1, 1, 3], {1: 30})
    three = {c.value: c for c in e.classes}[3]
    assert np.isnan(three.users) and three.points == 0
    assert three.producers == 0.0 and three.area_pixels == pytest.approx(10)  # all omitted
    with pytest.raises(ValueError, match="no labelled sample point"):
        stratified_estimates([1, 1], [1, 1], [1, 1], {1: 30, 2: 10})
    with pytest.raises(ValueError, match="no stratum size"):
        stratified_estimates([1, 5], [1, 5], [1, 5], {1: 30})
    with pytest.raises(ValueError, match="more sample points than pixels"):
        stratified_estimates([1, 1, 1], [1, 1, 1], [1, 1, 1], {1: 2})
    with pytest.raises(ValueError, match="differ in length"):
        stratified_estimates([1, 1], [1], [1, 1], {1: 2})
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)


def test_pseudo_count_floors_a_stratum_where_every_point_agrees():
    # stratum 1 (N=100, n=4): all four points right, so Stehman's variance is 0 there
    args = ([1] * 4 + [2] * 3, [1] * 4 + [2] * 3, [1] * 4 + [2, 2, 1], {1: 100, 2: 60})
    plain = stratified_estimates(*args)
    assert plain.classes[0].area_proportion == pytest.approx((100 + 60 / 3) / 160)
    assert "same reference class" in " ".join(plain.notes)
    floored = stratified_estimates(*args, pseudo_count=0.5)
    # OA: stratum 1 floored at p = 4.5/5, 0.9*0.1*4/3 = 0.12; stratum 2 (1, 1, 0: variance
    # 1/3) at p = 2.5/4, 0.625*0.375*3/2 = 0.3515625, above its 1/3
    v1 = 100 ** 2 * (1 - 4 / 100) * 0.12 / 4
    v2 = 60 ** 2 * (1 - 3 / 60) * 0.3515625 / 3
    assert floored.oa_se == pytest.approx(np.sqrt(v1 + v2) / 160)
    assert floored.oa == plain.oa  # the estimates themselves do not change
    assert floored.classes[0].users_se == plain.classes[0].users_se
    with pytest.raises(ValueError, match="pseudo-count"):
        stratified_estimates(*args, pseudo_count=-1)
