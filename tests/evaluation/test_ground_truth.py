"""Ground truth for the HICO-DET evaluator: from HOITargets or from the data reader's flat
records (same result), and clear errors for malformed targets."""

import dataclasses

import pytest
import torch
from cases import annotation_json, random_case, targets

from openhoi.data.annotations import parse_hoi_annotations
from openhoi.errors import OpenHOIError
from openhoi.evaluation import HICODetEvaluator
from openhoi.evaluation.flat import FlatGroundTruth
from openhoi.label_space import load_label_space

S = load_label_space("synthetic")


@pytest.mark.parametrize("protocol", ["python", "official"])
def test_annotations_and_targets_give_the_same_result(protocol):
    tg, pr, ref_gts, _, _ = random_case(11, S)
    ann = parse_hoi_annotations(annotation_json(ref_gts, S), S, source="test.json")
    results = []
    for gt in (tg, ann):
        ev = HICODetEvaluator(gt, S, protocol=protocol)
        ev.process(pr)
        results.append(ev.evaluate())
    assert results[0] == results[1]
    assert results[0]["num_gt"] == sum(len(h) for _, _, h in ref_gts)


def test_malformed_targets():
    good = targets("a", [[0, 0, 9, 9], [5, 5, 20, 20]], [0, 1], [(0, 1, 0)], S)
    with pytest.raises(OpenHOIError, match="'a' appears twice"):
        HICODetEvaluator([good, good], S)
    with pytest.raises(OpenHOIError, match="'a': labels and boxes_xyxy have different"):
        HICODetEvaluator([dataclasses.replace(good, labels=torch.tensor([0]))], S)
    with pytest.raises(OpenHOIError, match=r"'a': pair_idx \[0, 2\] does not index its boxes"):
        HICODetEvaluator([dataclasses.replace(good, pair_idx=torch.tensor([[0, 2]]))], S)
    with pytest.raises(OpenHOIError, match="'a': object label 9 is outside"):
        HICODetEvaluator([dataclasses.replace(good, labels=torch.tensor([0, 9]))], S)
    with pytest.raises(OpenHOIError, match=r"'a': verbs must have shape \[n, 8\]"):
        HICODetEvaluator([dataclasses.replace(good, verbs=torch.zeros(1, 3))], S)


def test_pairs_without_object_and_invalid_combinations_give_no_instance():
    # pair (0, -1) has no object; (verb "fly", object "sports ball") is not a class
    t = targets("a", [[0, 0, 9, 9], [5, 5, 20, 20]], [0, 1], [(0, 1, 0)], S)
    verbs = torch.zeros(3, S.num_verbs)
    verbs[0, S.verbs.index("hold")] = 1
    verbs[1, S.verbs.index("hold")] = 1
    verbs[2, S.verbs.index("fly")] = 1
    t = dataclasses.replace(t, pair_idx=torch.tensor([[0, 1], [0, -1], [1, 1]]), verbs=verbs,
                            hoi_entries=None)
    res = HICODetEvaluator([t], S).evaluate()
    assert res["num_gt"] == 1 and res["per_class"]["num_gt"][0] == 1


def test_images_per_class_count_each_image_once():
    tg = [targets("a", [[0, 0, 9, 9], [5, 5, 20, 20]], [0, 1], [(0, 1, 0), (0, 1, 0), (0, 1, 1)],
                  S),
          targets("b", [[0, 0, 9, 9], [5, 5, 20, 20], [1, 1, 8, 8]], [0, 1, 1],
                  [(0, 1, 0), (0, 2, 0)], S)]
    gt = FlatGroundTruth.from_targets(tg, S)
    assert gt.num_gt[:3].tolist() == [4, 1, 0]
    assert gt.num_images_per_class()[:3].tolist() == [2, 1, 0]
