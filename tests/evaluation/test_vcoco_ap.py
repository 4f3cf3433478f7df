"""V-COCO agent / role AP: loop-reference agreement and hand-computed cases."""

import json
import math
import pickle

import numpy as np
import pytest
import torch
from vcoco_cases import ACTIONS, VCOCO, random_case, write_files, write_pickle
from vsrl_loop_reference import build_db
from vsrl_loop_reference import evaluate as loop_evaluate

from openhoi.errors import DataError, PredictionFileError
from openhoi.evaluation.vcoco_ap import VCOCOEvaluator, evaluate_vsrl
from openhoi.evaluation.vcoco_files import read_vcoco_ground_truth, read_vsrl_detections
from openhoi.structures import HOIPredictions

A = {name: k for k, (name, _) in enumerate(ACTIONS)}


def _eq(x, y):
    return (x is None and math.isnan(y)) or x == y


@pytest.mark.parametrize("seed", range(5))
def test_equals_loop_reference_on_random_cases(tmp_path, seed):
    images, anns, vsrl, dets = random_case(np.random.default_rng(seed))
    files = write_files(tmp_path, images, anns, vsrl)
    gt = read_vcoco_ground_truth(*files)
    res = evaluate_vsrl(gt, read_vsrl_detections(write_pickle(tmp_path / "d.pkl", dets), gt))
    db, actions = build_db(*files)
    agent, role = loop_evaluate(db, actions, dets)
    ours = res["per_class"]
    assert all(_eq(x, y) for x, y in zip(ours["agent"]["ap"], agent)), (ours["agent"]["ap"], agent)
    for k, (a, r) in enumerate(gt.slots):
        assert _eq(ours["role"]["ap_scenario_1"][k], role[(a, r)][0]), (a, r)
        assert _eq(ours["role"]["ap_scenario_2"][k], role[(a, r)][1]), (a, r)
    assert any(v not in (None, 0.0) for v in ours["role"]["ap_scenario_1"])


# --- hand-computed cases: one image, persons P1 (annotated), P2 (not in V-COCO), a cup ------
P1, P2, CUP = [10, 10, 50, 100], [300, 10, 50, 100], [100, 50, 20, 20]  # COCO xywh
P1_XYXY, P2_XYXY, CUP_XYXY = [10, 10, 59, 109], [300, 10, 349, 109], [100, 50, 119, 69]
HOLD = A["hold"]


def _gt(tmp_path, hold_role):
    anns = [(1, 7, 1, P1, 5000.0, False), (2, 7, 1, P2, 5000.0, False),
            (3, 7, 47, CUP, 400.0, False)]
    files = write_files(tmp_path, [(7, 640, 480)], anns, {1: {HOLD: [hold_role]}})
    return read_vcoco_ground_truth(*files)


def _det(person, box, score):
    return {"image_id": 7, "person_box": person, "hold_agent": score,
            "hold_obj": list(box) + [score]}


def _run(tmp_path, gt, dets):
    return evaluate_vsrl(gt, read_vsrl_detections(write_pickle(tmp_path / "d.pkl", dets), gt))


def _hold_role(res):
    k = res["per_class"]["role"]["action"].index("hold")
    return res["per_class"]["role"]["ap_scenario_1"][k], res["per_class"]["role"][
        "ap_scenario_2"][k]


def test_scenarios_differ_when_the_role_object_is_not_annotated(tmp_path):
    gt = _gt(tmp_path, hold_role=0)  # P1 holds something that is not annotated
    assert _hold_role(_run(tmp_path, gt, [_det(P1_XYXY, CUP_XYXY, 0.9)])) == (0.0, 1.0)
    assert _hold_role(_run(tmp_path, gt, [_det(P1_XYXY, [0, 0, 0, 0], 0.9)])) == (1.0, 1.0)
    assert _hold_role(_run(tmp_path, gt, [_det(P1_XYXY, [math.nan] * 4, 0.9)])) == (1.0, 1.0)


def test_role_box_must_overlap_the_annotated_object(tmp_path):
    gt = _gt(tmp_path, hold_role=3)
    assert _hold_role(_run(tmp_path, gt, [_det(P1_XYXY, CUP_XYXY, 0.9)])) == (1.0, 1.0)
    assert _hold_role(_run(tmp_path, gt, [_det(P1_XYXY, [0, 0, 0, 0], 0.9)])) == (0.0, 0.0)


def test_detections_on_unannotated_people_are_ignored(tmp_path):
    gt = _gt(tmp_path, hold_role=3)
    # a higher-scored detection on P2 (not in V-COCO) would be an FP ranked first if counted
    res = _run(tmp_path, gt, [_det(P2_XYXY, CUP_XYXY, 0.95), _det(P1_XYXY, CUP_XYXY, 0.9)])
    assert _hold_role(res) == (1.0, 1.0)
    assert res["per_class"]["agent"]["ap"][HOLD] == 1.0
    assert res["num_detections_ignored"] == 1


def test_agent_ap_duplicates_and_misses(tmp_path):
    gt = _gt(tmp_path, hold_role=3)
    far = [400, 300, 450, 400]
    # ranked: TP (.9), duplicate on P1 (.8, FP), no person overlap (.7, FP); 1 positive:
    # rec 1 1 1, prec 1 .5 .33 -> AP 1. Reversed scores: FP, FP, TP -> prec 1/3 -> AP 1/3.
    dets = [_det(P1_XYXY, CUP_XYXY, 0.9), _det(P1_XYXY, CUP_XYXY, 0.8), _det(far, CUP_XYXY, 0.7)]
    assert _run(tmp_path, gt, dets)["per_class"]["agent"]["ap"][HOLD] == 1.0
    dets = [_det(P1_XYXY, CUP_XYXY, 0.1), _det(P1_XYXY, CUP_XYXY, 0.8), _det(far, CUP_XYXY, 0.7)]
    ap = _run(tmp_path, gt, dets)["per_class"]["agent"]["ap"][HOLD]
    # ranked .8 TP, .7 FP, .1 FP (the duplicate): AP 1 — the first P1 detection in score order
    assert ap == 1.0
    dets = [_det(far, CUP_XYXY, 0.9), _det(P1_XYXY, CUP_XYXY, 0.5)]
    assert _run(tmp_path, gt, dets)["per_class"]["agent"]["ap"][HOLD] == np.float32(0.5)


@pytest.mark.parametrize("annotated_first", [True, False])
def test_the_same_person_box_under_two_ids(tmp_path, annotated_first):
    # persons 1 and 4 have the same box; argmax over persons (COCO annotation order) always
    # picks the first. Both annotated: 2 positives, the second never found -> TP, FP: rec .5,
    # prec 1 .5 -> VOC AP .5. Only person 4 annotated and listed second: every detection
    # matches person 1, which V-COCO ignores -> no TP and nothing counted, AP 0.
    anns = [(1, 7, 1, P1, 5000.0, False), (4, 7, 1, P1, 5000.0, False),
            (3, 7, 47, CUP, 400.0, False)]
    vsrl = {1: {HOLD: [3]}, 4: {HOLD: [3]}} if annotated_first else {4: {HOLD: [3]}}
    gt = read_vcoco_ground_truth(*write_files(tmp_path, [(7, 640, 480)], anns, vsrl))
    res = _run(tmp_path, gt, [_det(P1_XYXY, CUP_XYXY, 0.9), _det(P1_XYXY, CUP_XYXY, 0.8)])
    k = res["per_class"]["role"]["action"].index("hold")
    assert res["per_class"]["role"]["num_pos"][k] == (2 if annotated_first else 1)
    expected = 0.5 if annotated_first else 0.0
    assert res["per_class"]["agent"]["ap"][HOLD] == expected
    assert _hold_role(res) == (expected, expected)
    assert res["num_detections_ignored"] == (0 if annotated_first else 2)


def test_a_person_positive_twice_in_one_action_is_refused(tmp_path):
    files = write_files(tmp_path, [(7, 640, 480)], [(1, 7, 1, P1, 5000.0, False),
                                                    (3, 7, 47, CUP, 400.0, False)],
                        {1: {HOLD: [3]}})
    vcoco = json.loads(files[1].read_text())
    vcoco[HOLD].update(ann_id=[1, 1], image_id=[7, 7], label=[1, 1], role_object_id=[1, 1, 3, 3])
    files[1].write_text(json.dumps(vcoco))
    with pytest.raises(DataError, match=r"vcoco.json: action entry \d+ \('hold'\): ann_id 1 "
                                        "is labelled positive more than once"):
        read_vcoco_ground_truth(*files)


def test_means_follow_vsrl_eval(tmp_path):
    gt = _gt(tmp_path, hold_role=3)
    res = _run(tmp_path, gt, [_det(P1_XYXY, CUP_XYXY, 0.9)])
    # agent: nansum / 26 actions; only "hold" has positives, the rest are NaN
    assert res["AP_agent"] == pytest.approx(1.0 / len(ACTIONS))
    assert res["AP_role_scenario_1"] == 1.0  # nanmean over the one role with positives
    assert res["per_class"]["role"]["num_pos"][0] == 1


def test_hoi_predictions_become_gen_vlkt_detections(tmp_path):
    gt = _gt(tmp_path, hold_role=3)
    hold_cup = VCOCO.interaction_index(VCOCO.verbs.index("hold_obj"), VCOCO.objects.index("cup"))
    pred = HOIPredictions(torch.tensor([P1_XYXY, CUP_XYXY], dtype=torch.float32),
                          torch.tensor([0, VCOCO.objects.index("cup")]), torch.tensor([[0, 1]]),
                          torch.tensor([hold_cup]), torch.tensor([0.9]),
                          gt.file_names[0])
    ev = VCOCOEvaluator(gt, VCOCO)
    ev.process([pred])
    res = ev.evaluate()
    assert _hold_role(res) == (1.0, 1.0) and res["per_class"]["agent"]["ap"][HOLD] == 1.0
    ev.reset()
    ev.process([HOIPredictions(pred.boxes_xyxy, pred.labels, pred.pair_idx, pred.interactions,
                               pred.scores, "elsewhere.jpg")])
    assert ev.evaluate()["num_images_not_in_split"] == 1


def test_bad_files(tmp_path):
    gt = _gt(tmp_path, hold_role=3)
    with pytest.raises(PredictionFileError, match="entry 1: missing key 'person_box'"):
        read_vsrl_detections(write_pickle(tmp_path / "d.pkl", [_det(P1_XYXY, CUP_XYXY, .9),
                                                                {"image_id": 7}]), gt)
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(np.random.default_rng))
    with pytest.raises(PredictionFileError, match="refusing to load"):
        read_vsrl_detections(tmp_path / "evil.pkl", gt)
    with pytest.raises(DataError, match="not found"):
        read_vcoco_ground_truth(tmp_path / "nope.json", tmp_path / "vcoco.json",
                                tmp_path / "test.ids")
    (tmp_path / "v.json").write_text('[{"action_name": "hold"}]')
    with pytest.raises(DataError, match=r"v.json: action entry 0: malformed"):
        read_vcoco_ground_truth(tmp_path / "coco.json", tmp_path / "v.json",
                                tmp_path / "test.ids")


def test_objectless_interaction_predicts_an_empty_role(tmp_path):
    gt = _gt(tmp_path, hold_role=0)  # the held object is not annotated
    hold = VCOCO.verbs.index("hold_obj")
    objectless = VCOCO.interaction_index(hold, -1)
    with_cup = VCOCO.interaction_index(hold, VCOCO.objects.index("cup"))
    boxes = torch.tensor([P1_XYXY, CUP_XYXY], dtype=torch.float32)
    for inter, expected in ((objectless, (1.0, 1.0)), (with_cup, (0.0, 1.0))):
        ev = VCOCOEvaluator(gt, VCOCO)
        ev.process([HOIPredictions(boxes, torch.tensor([0, 0]), torch.tensor([[0, 1]]),
                                   torch.tensor([inter]), torch.tensor([0.9]),
                                   gt.file_names[0])])
        assert _hold_role(ev.evaluate()) == expected


def test_vsrl_ap_from_true_positives_equals_the_full_curve():
    from openhoi.evaluation.ap import voc_area_ap
    from openhoi.evaluation.vcoco_ap import vsrl_ap

    def full(tp, npos):  # vsrl_eval's arithmetic over every detection
        a_tp = np.cumsum(tp.astype(np.float32))
        a_fp = np.cumsum((~tp).astype(np.float32))
        rec = a_tp / np.float32(npos)
        prec = a_tp / np.maximum(a_tp + a_fp, np.float32(np.finfo(np.float64).eps))
        return np.float32(voc_area_ap(rec.astype(np.float64), prec.astype(np.float64)))

    rng = np.random.default_rng(0)
    cases = [np.zeros(0, bool), np.array([True]), np.array([False, False]),
             np.array([True, True, False])]
    cases += [rng.random(n) < p for n in (1, 7, 100, 3000) for p in (0.02, 0.3, 0.9)]
    for tp in cases:
        for npos in {max(int(tp.sum()), 1), int(tp.sum()) + 5}:
            assert vsrl_ap(tp, npos) == full(tp, npos), (tp.size, npos)
