"""Hand-computed cases for the pure AP functions."""

import numpy as np
import pytest

from openhoi.evaluation.ap import (
    descending_order,
    grouped_voc11_ap,
    precision_recall,
    voc11_ap,
    voc11_thresholds,
    voc_area_ap,
)

NUMPY = voc11_thresholds("numpy")
MATLAB = voc11_thresholds("matlab")


def test_threshold_doubles_differ_only_at_06_and_07():
    # numpy: k * 0.1; MATLAB 0:0.1:1: a + k*d for the first half, b - (n-k)*d for the second.
    assert NUMPY[6] == 0.6000000000000001 and NUMPY[7] == 0.7000000000000001
    assert MATLAB[6] == 0.6 and MATLAB[7] == 0.7
    assert NUMPY[3] == MATLAB[3] == 0.30000000000000004
    assert [i for i in range(11) if NUMPY[i] != MATLAB[i]] == [6, 7]


def test_precision_recall_by_hand():
    rec, prec = precision_recall(np.array([1, 0, 1, 1]), 4)
    np.testing.assert_array_equal(rec, [0.25, 0.25, 0.5, 0.75])
    np.testing.assert_array_equal(prec, [1.0, 0.5, 2 / 3, 0.75])
    rec, _ = precision_recall(np.array([0, 0]), 0)
    assert np.isnan(rec).all()


def test_voc11_perfect_and_all_wrong():
    rec, prec = precision_recall(np.array([1, 1]), 2)
    assert voc11_ap(rec, prec, NUMPY) == pytest.approx(1.0, abs=1e-15)
    rec, prec = precision_recall(np.array([0, 0, 0]), 2)
    assert voc11_ap(rec, prec, NUMPY) == 0.0
    rec, prec = precision_recall(np.array([], dtype=int), 2)
    assert voc11_ap(rec, prec, MATLAB) == 0.0


def test_voc11_interpolates_with_the_later_higher_precision():
    # ranked: FP, TP, TP with 2 GT -> rec 0, .5, 1; prec 0, .5, 2/3; every t sees 2/3.
    rec, prec = precision_recall(np.array([0, 1, 1]), 2)
    assert voc11_ap(rec, prec, NUMPY) == pytest.approx(2 / 3, abs=1e-15)


def test_recall_exactly_06_counts_under_matlab_only():
    # 5 GT; 3 TP then 2 FP: recall stops at 3/5 == 0.6 with precision 1.
    rec, prec = precision_recall(np.array([1, 1, 1, 0, 0]), 5)
    assert voc11_ap(rec, prec, NUMPY) == pytest.approx(6 / 11, abs=1e-15)
    assert voc11_ap(rec, prec, MATLAB) == pytest.approx(7 / 11, abs=1e-15)


def test_recall_exactly_03_counts_under_neither():
    rec, prec = precision_recall(np.array([1, 1, 1, 0]), 10)
    assert voc11_ap(rec, prec, NUMPY) == voc11_ap(rec, prec, MATLAB) == pytest.approx(3 / 11)


def test_voc11_accumulates_like_the_references():
    rec, prec = precision_recall(np.array([1, 0, 1, 0, 0, 1, 1]), 7)
    ap = 0.0
    for t in NUMPY:  # the reference loop, verbatim arithmetic
        p = np.max(prec[rec >= t]) if np.sum(rec >= t) else 0
        ap = ap + p / 11.0
    assert voc11_ap(rec, prec, NUMPY) == ap


def test_voc_area_ap_by_hand():
    # TP, FP, TP with 2 GT: envelope 1 on (0, .5], 2/3 on (.5, 1] -> .5 + .5 * 2/3.
    rec, prec = precision_recall(np.array([1, 0, 1]), 2)
    assert voc_area_ap(rec, prec) == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-15)
    assert voc_area_ap(np.zeros(0), np.zeros(0)) == 0.0


def test_descending_order_is_stable_with_tie_keys():
    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.1])
    np.testing.assert_array_equal(descending_order(scores), [1, 0, 2, 3, 4])
    image = np.array([2, 0, 1, 1, 0])
    np.testing.assert_array_equal(descending_order(scores, image), [1, 2, 3, 0, 4])


def test_grouped_ap_per_class_and_empty_classes():
    cls = np.array([0, 0, 2, 2, 2])
    tp = np.array([True, False, False, True, True])
    ap, max_rec = grouped_voc11_ap(cls, tp, np.array([1, 3, 4]), NUMPY)
    assert ap[0] == pytest.approx(1.0) and ap[1] == 0.0
    # class 2: rec .0 .25 .5, prec 0 .5 2/3 -> t in 0..0.5 (6 points) at 2/3
    assert ap[2] == pytest.approx(6 / 11 * 2 / 3, abs=1e-15)
    np.testing.assert_array_equal(max_rec, [1.0, 0.0, 0.5])


def test_descending_order_equals_a_stable_sort_with_many_ties():
    rng = np.random.default_rng(0)
    for scores in (rng.random(5000), np.round(rng.random(5000), 2), np.zeros(300),
                   np.r_[rng.random(100), -0.0, 0.0, 0.0, -0.0]):
        np.testing.assert_array_equal(descending_order(scores),
                                      np.argsort(-scores, kind="stable"))
