"""HICO-DET evaluator on hand-computed cases (synthetic label space: 13 interactions).

Interactions used: 0 = hold sports ball, 1 = kick sports ball, 4 = fly kite, 7 = hold cup,
8 = drink with cup (rare, unseen in rf_uc), 11 = carry chair (rare, unseen in rf_uc).
Objects: 0 person, 1 sports ball, 2 kite, 3 cup, 4 chair.
"""

import json

import numpy as np
import pytest
import torch
from cases import predictions, targets

from openhoi.errors import OpenHOIError, PredictionFileError
from openhoi.evaluation import HICODetEvaluator
from openhoi.label_space import load_label_space

S = load_label_space("synthetic")
H = [0, 0, 99, 99]  # a human box
B = [200, 200, 249, 249]  # an object box
FAR = [400, 10, 450, 60]


def run(gts, preds, protocol="python", **kw):
    ev = HICODetEvaluator([targets(*g, S) for g in gts], S, protocol=protocol, **kw)
    ev.process([predictions(*p) for p in preds])
    return ev.evaluate()


def ap(res, c):
    return res["per_class"]["ap"][c]


@pytest.mark.parametrize("protocol", ["python", "official"])
def test_perfect_predictions(protocol):
    gts = [("a", [H, B], [0, 1], [(0, 1, 0), (0, 1, 1)]), ("b", [H, B], [0, 2], [(0, 1, 4)])]
    preds = [("a", [H, B], [(0, 1, 0, 0.9), (0, 1, 1, 0.8)]),
             ("b", [H, B], [(0, 1, 4, 0.7)])]
    res = run(gts, preds, protocol)
    assert [ap(res, c) for c in (0, 1, 4)] == [pytest.approx(1.0)] * 3
    if protocol == "python":  # P5: mean over the 3 classes with ground truth
        assert res["mAP"] == pytest.approx(1.0)
        assert ap(res, 2) is None and res["mAP_rare"] is None
    else:  # O6: mean over all 13 classes, the other 10 score 0
        assert res["mAP"] == pytest.approx(3 / 13)
        assert ap(res, 2) == 0.0 and res["mAP_rare"] == 0.0


@pytest.mark.parametrize("protocol", ["python", "official"])
def test_all_wrong_predictions(protocol):
    gts = [("a", [H, B], [0, 1], [(0, 1, 0)])]
    preds = [("a", [H, B, FAR], [(0, 1, 1, 0.9), (0, 2, 0, 0.8), (1, 0, 0, 0.7)])]
    res = run(gts, preds, protocol)
    assert ap(res, 0) == 0.0
    assert res["mAP"] == 0.0
    # P2: python drops the detection of class 1, which has no ground truth
    assert res["num_detections"] == (2 if protocol == "python" else 3)


def test_duplicate_detection_is_a_false_positive():
    # 2 GT (class 0) in two images; ranked TP, duplicate FP, TP: rec .5 .5 1, prec 1 .5 2/3.
    gts = [("a", [H, B], [0, 1], [(0, 1, 0)]), ("b", [H, B], [0, 1], [(0, 1, 0)])]
    preds = [("a", [H, B], [(0, 1, 0, 0.9), (0, 1, 0, 0.8)]), ("b", [H, B], [(0, 1, 0, 0.7)])]
    res = run(gts, preds)
    assert ap(res, 0) == pytest.approx((6 * 1 + 5 * (2 / 3)) / 11, abs=1e-15)


def test_ties_across_images_follow_image_order():
    # one GT in "a"; equal scores on "a" (TP) and "b" (FP).
    gts_ab = [("a", [H, B], [0, 1], [(0, 1, 0)]), ("b", [H], [0], [])]
    preds = [("a", [H, B], [(0, 1, 0, 0.5)]), ("b", [H, B], [(0, 1, 0, 0.5)])]
    assert ap(run(gts_ab, preds), 0) == pytest.approx(1.0)  # TP ranked first
    assert ap(run(gts_ab[::-1], preds), 0) == pytest.approx(0.5)  # FP ranked first


def test_ties_within_an_image_follow_position():
    gts = [("a", [H, B, FAR], [0, 1, 1], [(0, 1, 0)])]
    first_wrong = [("a", [H, B, FAR], [(0, 2, 0, 0.5), (0, 1, 0, 0.5)])]
    first_right = [("a", [H, B, FAR], [(0, 1, 0, 0.5), (0, 2, 0, 0.5)])]
    assert ap(run(gts, first_wrong), 0) == pytest.approx(0.5)
    assert ap(run(gts, first_right), 0) == pytest.approx(1.0)


@pytest.mark.parametrize("protocol", ["python", "official"])
def test_taken_best_match_does_not_fall_back(protocol):
    # Same human, two cups O1, O2 (class 7). det1 takes pair O1 (min IoU .9 vs .8); det2's best
    # is pair O1 again -> FP although pair O2 is free and overlaps it >= 0.5. rec .5 .5.
    o1, o2 = [200, 200, 299, 299], [220, 200, 319, 299]
    gts = [("a", [H, o1, o2], [0, 3, 3], [(0, 1, 7), (0, 2, 7)])]
    det1_o, det2_o = [205, 200, 304, 299], [201, 200, 300, 299]
    preds = [("a", [H, det1_o, det2_o], [(0, 1, 7, 0.9), (0, 2, 7, 0.8)])]
    assert ap(run(gts, preds, protocol), 7) == pytest.approx(6 / 11, abs=1e-15)


def test_equal_overlaps_pick_the_first_annotated_pair():
    # det1's object box is symmetric between O1 and O2 (IoU 90/110 each): it takes O1, the
    # first pair. det2 = O1 exactly -> its best pair is taken -> FP: AP 6/11. With O2 listed
    # first, det1 takes O2 and det2 is a TP: AP 1.
    o1, o2, mid = [200, 0, 209, 9], [202, 0, 211, 9], [201, 0, 210, 9]
    preds = [("a", [H, mid, o1], [(0, 1, 7, 0.9), (0, 2, 7, 0.8)])]
    first_o1 = [("a", [H, o1, o2], [0, 3, 3], [(0, 1, 7), (0, 2, 7)])]
    first_o2 = [("a", [H, o1, o2], [0, 3, 3], [(0, 2, 7), (0, 1, 7)])]
    assert ap(run(first_o1, preds), 7) == pytest.approx(6 / 11, abs=1e-15)
    assert ap(run(first_o2, preds), 7) == pytest.approx(1.0)


@pytest.mark.parametrize("protocol", ["python", "official"])
def test_images_without_ground_truth_pairs_give_false_positives(protocol):
    gts = [("a", [H, B], [0, 1], [(0, 1, 0)]), ("empty", [H], [0], [])]
    preds = [("empty", [H, B], [(0, 1, 0, 0.9)]), ("a", [H, B], [(0, 1, 0, 0.8)])]
    assert ap(run(gts, preds, protocol), 0) == pytest.approx(0.5)  # FP then TP


def test_images_outside_the_ground_truth():
    gts = [("a", [H, B], [0, 1], [(0, 1, 0)])]
    preds = [("zzz", [H, B], [(0, 1, 0, 0.9)]), ("a", [H, B], [(0, 1, 0, 0.8)])]
    py = run(gts, [("zzz", [H, B], [(0, 1, 0, 0.9)]), ("a", [H, B], [(0, 1, 0, 0.8)])])
    assert ap(py, 0) == pytest.approx(1.0) and py["num_images_ignored"] == 1  # P3
    off = run(gts, preds, "official")
    assert ap(off, 0) == pytest.approx(0.5) and off["num_images_without_gt"] == 1  # O4


def test_ground_truth_without_predictions_lowers_recall():
    gts = [("a", [H, B], [0, 1], [(0, 1, 0)]), ("b", [H, B], [0, 1], [(0, 1, 0)])]
    res = run(gts, [("a", [H, B], [(0, 1, 0, 0.9)])])
    assert ap(res, 0) == pytest.approx(6 / 11)  # recall .5, precision 1
    assert res["mean_max_recall"] == pytest.approx(0.5)


def test_recall_of_exactly_06_separates_the_protocols():
    # 5 GT of class 0 in 5 images; 3 TPs then 2 FPs: python 6/11, official 7/11.
    gts = [(f"i{k}", [H, B], [0, 1], [(0, 1, 0)]) for k in range(5)]
    hits = [0.9, 0.8, 0.7]
    py = [(f"i{k}", [H, B], [(0, 1, 0, s)]) for k, s in enumerate(hits)]
    py += [("i3", [H, FAR], [(0, 1, 0, 0.6)]), ("i4", [H, FAR], [(0, 1, 0, 0.5)])]
    off = py  # both protocols compare json boxes in one frame (O1 shifts both sides)
    assert ap(run(gts, py), 0) == pytest.approx(6 / 11, abs=1e-15)
    assert ap(run(gts, off, "official"), 0) == pytest.approx(7 / 11, abs=1e-15)


@pytest.mark.parametrize("which", [0, 1])  # the half-pixel coordinate on the human / object
def test_official_rounds_half_away_from_zero_then_adds_one(which):
    # GT box [9, 0, 18, 0] in the json, [10, 1, 19, 1] in anno_bbox.mat (10 px). Detection
    # x1 = 13.4: round -> 13, +1 -> [14..19] = 6/10. x1 = 13.5 -> 14 + 1 -> [15..19] = 5/10:
    # exactly 0.5 still matches (C4: >=). x1 = 14.5: MATLAB round -> 15, +1 -> [16..19] = 4/10
    # (FP); numpy's half-to-even would give 14 -> 5/10, a TP.
    thin = [9, 0, 18, 0]
    boxes = [H, B]
    boxes[which] = thin
    gt = [("a", boxes, [0, 1], [(0, 1, 0)])]
    for x1, expected in ((13.4, 1.0), (13.5, 1.0), (14.5, 0.0)):
        det = [H, B]
        det[which] = [x1, 0, 18, 0]
        res = run(gt, [("a", det, [(0, 1, 0, 0.9)])], "official")
        assert ap(res, 0) == pytest.approx(expected), x1


def test_one_pixel_wide_boxes_separate_the_protocols():
    # GEN-VLKT's IoU is 0 for a 1-pixel-wide box even against itself; MATLAB's is 1.
    obj = [300, 0, 300, 9]
    gts = [("a", [H, obj], [0, 1], [(0, 1, 0)])]
    assert ap(run(gts, [("a", [H, obj], [(0, 1, 0, 0.9)])]), 0) == 0.0
    res = run(gts, [("a", [H, obj], [(0, 1, 0, 0.9)])], "official")
    assert ap(res, 0) == pytest.approx(1.0)


def test_known_object_setting():
    # class 0 (ball). "a": GT pair. "b": only a kite pair. Det on "b" (FP, .9), on "a" (TP, .8).
    gts = [("a", [H, B], [0, 1], [(0, 1, 0)]), ("b", [H, B], [0, 2], [(0, 1, 4)])]
    preds = [("b", [H, B], [(0, 1, 0, 0.9)]),
             ("a", [H, B], [(0, 1, 0, 0.8)])]
    res = run(gts, preds, "official")
    assert ap(res, 0) == pytest.approx(0.5)
    assert res["per_class"]["ap_ko"][0] == pytest.approx(1.0)  # "b" has no ball: dropped
    labelled = run(gts, preds, "official", known_objects={"a": [1], "b": [1, 2]})
    assert labelled["per_class"]["ap_ko"][0] == pytest.approx(0.5)
    assert res["mAP_ko"] == pytest.approx(1.0 / 13)  # class 4 has ground truth, no detection


def test_rare_and_zero_shot_means():
    gts = [("a", [H, B, [0, 300, 50, 350]], [0, 3, 4],
            [(0, 1, 7), (0, 1, 8), (0, 2, 11)])]
    preds = [("a", [H, B, [0, 300, 50, 350]], [(0, 1, 7, 0.9), (0, 1, 8, 0.8)])]
    res = run(gts, preds, zero_shot="rf_uc")
    assert res["mAP"] == pytest.approx(2 / 3)  # classes 7, 8 hit; 11 missed
    assert res["mAP_rare"] == pytest.approx(0.5) == res["mAP_unseen"]  # {8, 11}
    assert res["mAP_non_rare"] == pytest.approx(1.0) == res["mAP_seen"]  # {7}


def test_repeated_image_keeps_the_first_and_counts():
    gts = [("a", [H, B], [0, 1], [(0, 1, 0)])]
    ev = HICODetEvaluator([targets(*g, S) for g in gts], S)
    ev.process([predictions("a", [H, B], [(0, 1, 0, 0.9)])])
    ev.process([predictions("a", [H, FAR], [(0, 1, 0, 0.9)])])
    res = ev.evaluate()
    assert ap(res, 0) == pytest.approx(1.0) and res["num_duplicate_images"] == 1
    ev.reset()
    assert ev.evaluate()["num_detections"] == 0


def test_result_is_json_serialisable():
    gts = [("a", [H, B], [0, 1], [(0, 1, 0)])]
    res = run(gts, [("a", [H, B], [(0, 1, 0, 0.9)])], "official", zero_shot="uo")
    assert json.loads(json.dumps(res, allow_nan=False)) == res


@pytest.mark.parametrize(
    "triplets, match",
    [([(0, 1, 0, float("nan"))], "score is nan"),
     ([(0, 1, 13, 0.5)], "interaction 13 is outside"),
     ([(0, 5, 0, 0.5)], r"triplet 0: pair_idx \[0, 5\] must index its 2 boxes")],
)
def test_bad_predictions_name_the_image(triplets, match):
    ev = HICODetEvaluator([targets("a", [H, B], [0, 1], [(0, 1, 0)], S)], S)
    with pytest.raises(PredictionFileError, match=match) as err:
        ev.process([predictions("img_7.jpg", [H, B], triplets)])
        ev.evaluate()
    assert "img_7.jpg" in str(err.value)


def test_resized_targets_are_rejected():
    t = targets("a", [H, B], [0, 1], [(0, 1, 0)], S)
    t.size = (240, 320)
    with pytest.raises(OpenHOIError, match="original pixels"):
        HICODetEvaluator([t], S)


def test_unknown_protocol_and_split():
    t = [targets("a", [H, B], [0, 1], [(0, 1, 0)], S)]
    with pytest.raises(OpenHOIError, match="protocol"):
        HICODetEvaluator(t, S, protocol="matlab")  # type: ignore[arg-type]
    with pytest.raises(OpenHOIError, match="zero-shot split"):
        HICODetEvaluator(t, S, zero_shot="nope")


def test_empty_predictions_tensor_shapes_are_accepted():
    t = [targets("a", [H, B], [0, 1], [(0, 1, 0)], S)]
    ev = HICODetEvaluator(t, S)
    ev.process([predictions("a", np.zeros((0, 4)), [])])
    assert ev.evaluate()["mAP"] == 0.0
    assert torch.is_tensor(predictions("a", [H], []).scores)
