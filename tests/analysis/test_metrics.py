"""OA, AA, kappa, per-class accuracy and confusion against a hand-computed example."""

import numpy as np
import pytest

from napari_ssdgl.analysis.metrics import classification_metrics


def test_hand_computed_example():
    # 11 labelled pixels; class values 3 and 8; 0 = unlabelled (ignored whatever is predicted)
    gt = np.array([[3, 3, 3, 3, 0], [8, 8, 8, 8, 8], [3, 0, 0, 0, 8]])
    pred = np.array([[3, 3, 3, 8, 8], [8, 8, 8, 3, 3], [3, 3, 8, 8, 8]])
    m = classification_metrics(pred, gt)
    # class 3: 5 pixels, 4 right; class 8: 6 pixels, 4 right
    assert m["n_test"] == 11
    assert m["class_values"] == [3, 8]
    assert m["confusion"] == [[4, 1], [2, 4]]
    assert m["oa"] == pytest.approx(8 / 11)
    assert m["per_class"] == {3: pytest.approx(4 / 5), 8: pytest.approx(4 / 6)}
    assert m["aa"] == pytest.approx((4 / 5 + 4 / 6) / 2)
    pe = (5 / 11) * (6 / 11) + (6 / 11) * (5 / 11)
    assert m["kappa"] == pytest.approx((8 / 11 - pe) / (1 - pe))


def test_exclude_mask_and_perfect_prediction():
    gt = np.array([[1, 2], [2, 1]])
    m = classification_metrics(gt.copy(), gt)
    assert (m["oa"], m["aa"], m["kappa"]) == (1.0, 1.0, 1.0)
    pred = np.array([[2, 2], [2, 1]])
    m = classification_metrics(pred, gt, exclude=np.array([[True, False], [False, False]]))
    assert m["n_test"] == 3 and m["oa"] == 1.0


def test_predicted_class_absent_from_gt_and_class_values_order():
    gt = np.array([1, 1, 2, 2])
    pred = np.array([1, 5, 2, 2])
    m = classification_metrics(pred, gt, class_values=[1, 2, 5, 7])
    assert m["class_values"] == [1, 2, 5, 7]
    assert m["confusion"][0] == [1, 0, 1, 0]
    assert set(m["per_class"]) == {1, 2}  # AA over the classes that have test pixels
    assert m["aa"] == pytest.approx(0.75)


def test_errors():
    with pytest.raises(ValueError, match="shape"):
        classification_metrics(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no labelled pixels"):
        classification_metrics(np.ones((2, 2)), np.zeros((2, 2)))


def test_top_confusions_name_the_largest_off_diagonal_cells():
    from napari_ssdgl.analysis.metrics import confusions_text, top_confusions

    m = {"class_values": [1, 4, 9], "confusion": [[5, 3, 0], [1, 6, 2], [0, 0, 4]]}
    assert top_confusions(m, 2) == [(1, 4, 3, pytest.approx(3 / 8)),
                                    (4, 9, 2, pytest.approx(2 / 9))]
    assert [c[:3] for c in top_confusions(m, 10)] == [(1, 4, 3), (4, 9, 2), (4, 1, 1)]
    assert confusions_text(m, {1: "Corn", 9: "Woods"}, 2) == (
        "Most confused (true → predicted): Corn (1) → class 4, 3 px "
        "(37.5 %); class 4 → Woods (9), 2 px (22.2 %).")
    perfect = {"class_values": [1, 2], "confusion": [[3, 0], [0, 2]]}
    assert top_confusions(perfect) == [] and confusions_text(perfect) == ""
