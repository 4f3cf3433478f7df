"""Two-stage pipeline: detections file, UPT's instance filtering, pairs, priors, matching."""

from __future__ import annotations

import json

import pytest
import torch

from openhoi.data.detections import (
    Instances,
    detr_instances,
    file_instances,
    read_detections,
    region_proposals,
)
from openhoi.errors import DataError
from openhoi.models.ez_hoi.pairs import associate
from openhoi.ops.pairs import enumerate_pairs


def test_read_and_rescale(tmp_path):
    p = tmp_path / "d.json"
    p.write_text(json.dumps({"format": "openhoi-detections", "version": 1, "boxes": "xyxy_abs",
                             "images": {"x.jpg": {"size": [100, 200], "boxes": [[0, 10, 100, 50]],
                                                  "scores": [0.5], "labels": [2]}}}))
    dets = read_detections(p, num_objects=5)
    inst = file_instances(dets, "x.jpg", torch.tensor([50, 100]))  # image shown at half size
    assert inst.boxes_xyxy.tolist() == [[0, 5, 50, 25]]
    assert inst.labels.tolist() == [2]
    assert len(file_instances(dets, "missing.jpg", torch.tensor([50, 100])).scores) == 0


@pytest.mark.parametrize("entry,field", [
    ({"size": [10, 10], "boxes": [[0, 0, 1, 1]], "scores": [0.5]}, "labels"),
    ({"size": [10, 10], "boxes": [[0, 0, 1, 1]], "scores": [0.5, 0.2], "labels": [0]}, "length"),
    ({"size": [10, 10], "boxes": [[0, 0, 1, 1]], "scores": [0.5], "labels": [9]}, "labels"),
    ({"size": [10, 10], "boxes": [[5, 0, 1, 1]], "scores": [0.5], "labels": [0]}, "boxes"),
    ({"size": [0, 10], "boxes": [], "scores": [], "labels": []}, "size"),
])
def test_bad_detections_name_file_and_field(tmp_path, entry, field):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"format": "openhoi-detections", "boxes": "xyxy_abs",
                             "images": {"im": entry}}))
    with pytest.raises(DataError, match=rf"bad.json.*im.*{field}"):
        read_detections(p, num_objects=5)


def test_bad_header(tmp_path):
    p = tmp_path / "h.json"
    p.write_text(json.dumps({"format": "other", "images": {}}))
    with pytest.raises(DataError, match="h.json.*format"):
        read_detections(p, 5)


def _inst(boxes, scores, labels):
    return Instances(torch.tensor(boxes, dtype=torch.float), torch.tensor(scores),
                     torch.tensor(labels))


def test_region_proposals_nms_threshold_and_limits():
    # two overlapping humans (NMS keeps the better), one weak human, objects of two classes
    # overlapping each other (per-class NMS keeps both)
    inst = _inst([[0, 0, 10, 10], [0, 0, 10, 9.5], [50, 50, 60, 60], [20, 20, 30, 30],
                  [20, 20, 30, 30.5], [70, 70, 80, 80]],
                 [0.9, 0.8, 0.1, 0.7, 0.6, 0.05], [0, 0, 0, 1, 2, 1])
    out = region_proposals(inst, human_label=0, nms_iou=0.5, score_thresh=0.2,
                           min_instances=0, max_instances=15)
    assert out.scores.tolist() == pytest.approx([0.9, 0.7, 0.6])
    # min_instances tops humans and objects up by score, below the threshold
    out = region_proposals(inst, 0, 0.5, 0.2, min_instances=3, max_instances=15)
    assert out.labels.tolist() == [0, 0, 1, 2, 1]
    assert out.scores.tolist() == pytest.approx([0.9, 0.1, 0.7, 0.6, 0.05])
    # max_instances cuts each group to its best
    out = region_proposals(inst, 0, 0.5, 0.0, min_instances=0, max_instances=1)
    assert out.scores.tolist() == pytest.approx([0.9, 0.7])


def test_detr_instances_drop_no_object():
    logits = torch.tensor([[0.0, 5.0, 9.0], [3.0, 0.0, 0.0]])  # class 2 = no-object
    inst = detr_instances(logits, torch.tensor([[0.5, 0.5, 0.2, 0.4]] * 2), torch.tensor([100, 50]))
    assert inst.labels.tolist() == [1, 0]
    assert inst.boxes_xyxy[0].tolist() == pytest.approx([20, 30, 30, 70])
    assert inst.scores[0] == pytest.approx(torch.softmax(logits[0], 0)[1].item())


def test_pairs_every_human_with_every_other_instance():
    h, o = enumerate_pairs(torch.tensor([0, 0, 3]), human_label=0)
    assert sorted(zip(h.tolist(), o.tolist())) == [(0, 1), (0, 2), (1, 0), (1, 2)]
    assert len(enumerate_pairs(torch.tensor([3, 4]), 0)[0]) == 0
    assert len(enumerate_pairs(torch.tensor([0]), 0)[0]) == 0


def test_associate_needs_both_boxes():
    gt_h, gt_o = torch.tensor([[0., 0, 10, 10]]), torch.tensor([[20., 20, 30, 30]])
    verbs = torch.tensor([[0., 1, 1]])
    h = torch.tensor([[0., 0, 10, 10], [0, 0, 10, 10]])
    o = torch.tensor([[20., 20, 30, 30], [40, 40, 50, 50]])
    assert associate(h, o, gt_h, gt_o, verbs, 0.5).tolist() == [[0, 1, 1], [0, 0, 0]]
