"""The three "+1 pixel" IoUs: hand values, their edge rules, and agreement with scalar code."""

import numpy as np
import pytest
from loop_reference import iou_matlab as iou_matlab_loop
from loop_reference import iou_python, matlab_round

from openhoi.evaluation.overlaps import iou_gen_vlkt, iou_matlab, iou_vsrl, round_half_away


def _one(fn, a, b):
    return float(fn(np.array([a], dtype=np.float64), np.array([b], dtype=np.float64))[0])


def test_plus_one_areas_by_hand():
    # [0,0,9,9] and [5,0,14,9]: 100 px each, 5x10 = 50 shared -> 50 / 150
    for fn in (iou_gen_vlkt, iou_matlab, iou_vsrl):
        assert _one(fn, [0, 0, 9, 9], [5, 0, 14, 9]) == pytest.approx(1 / 3, rel=1e-6)
        assert _one(fn, [0, 0, 9, 9], [0, 0, 9, 9]) == pytest.approx(1.0)


def test_one_pixel_wide_intersection():
    # Boxes sharing column x=10: MATLAB and vsrl count 1x11 pixels, GEN-VLKT counts nothing.
    a, b = [0, 0, 10, 10], [10, 0, 20, 10]
    assert _one(iou_gen_vlkt, a, b) == 0.0
    assert _one(iou_matlab, a, b) == pytest.approx(11 / (121 + 121 - 11))
    assert _one(iou_vsrl, a, b) == pytest.approx(11 / (121 + 121 - 11), rel=1e-6)
    # a 1-pixel box equal to itself: GEN-VLKT's empty rule gives 0, MATLAB 1
    assert _one(iou_gen_vlkt, [5, 5, 5, 5], [5, 5, 5, 5]) == 0.0
    assert _one(iou_matlab, [5, 5, 5, 5], [5, 5, 5, 5]) == 1.0


def test_disjoint_and_nan():
    assert _one(iou_matlab, [0, 0, 4, 4], [6, 6, 9, 9]) == 0.0
    assert np.isnan(_one(iou_vsrl, [0, 0, 4, 4], [np.nan] * 4))


def test_round_half_away_from_zero():
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 2.4999999999999996, 0.49999999999999994, 3.0])
    np.testing.assert_array_equal(round_half_away(x), [1, 2, 3, -1, -3, 2, 0, 3])
    assert [matlab_round(v) for v in x] == round_half_away(x).tolist()


def test_vectorised_equals_scalar_code_on_random_boxes():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 600, (3000, 2))
    gt = np.concatenate([xy, xy + rng.uniform(0, 200, (3000, 2))], 1).astype(np.float32)
    pred = (gt + rng.normal(0, 20, gt.shape) * rng.choice([1, 1e-2, 1e-4], (3000, 1)))
    pred = pred.astype(np.float32)
    ours = iou_gen_vlkt(gt, pred)
    ref = [iou_python(list(map(float, g)), list(map(float, p))) for g, p in zip(gt, pred)]
    np.testing.assert_array_equal(ours, ref)
    det = np.round(pred.astype(np.float64))
    ours = iou_matlab(det, gt)
    ref = [iou_matlab_loop(list(d), list(map(float, g))) for d, g in zip(det, gt)]
    np.testing.assert_array_equal(ours, ref)
