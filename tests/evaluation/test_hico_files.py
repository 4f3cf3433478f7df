"""``anno_bbox.mat`` reading and the official protocol's frame (rule O1 of ``hico_map``)."""

import numpy as np
import pytest
from cases import predictions
from hico_mat_cases import hoi, write_anno_bbox

from openhoi.data.annotations import parse_hoi_annotations
from openhoi.errors import DataError
from openhoi.evaluation import HICODetEvaluator
from openhoi.evaluation.hico_files import read_hico_bbox_mat
from openhoi.label_space import load_label_space

HICO = load_label_space("hicodet")
# HICO_train2015_00000001, "ride horse"-like published boxes: trainval_hico.json holds the
# anno_bbox.mat boxes minus one.
JSON_H, JSON_O = [207, 32, 426, 299], [58, 97, 571, 404]
MAT_H, MAT_O = [208, 33, 427, 300], [59, 98, 572, 405]
NAME = "HICO_train2015_00000001.jpg"
CLS = 152  # any interaction: the frame does not depend on it


def _json_gt(cls=CLS):
    verb, obj = HICO.interactions[cls]
    return [{"file_name": NAME,
             "annotations": [{"bbox": JSON_H, "category_id": 1},
                             {"bbox": JSON_O, "category_id": HICO.object_ids[obj]}],
             "hoi_annotation": [{"subject_id": 0, "object_id": 1,
                                 "category_id": HICO.verb_ids[verb]}]}]


def _ap(gt, det_h, protocol):
    ev = HICODetEvaluator(gt, HICO, protocol=protocol)
    ev.process([predictions(NAME, [det_h, JSON_O], [(0, 1, CLS, 0.9)])])
    return ev.evaluate()["per_class"]["ap"][CLS]


@pytest.mark.parametrize("source", ["json", "mat"])
def test_published_boxes_official_protocol_compares_in_the_mat_frame(tmp_path, source):
    # A detection (model output, the json's zero-based frame) 73 px right of the human:
    # [280, 32, 499, 299]. eval_one.m: round + 1 -> x 281..500 against the mat's 208..427:
    # overlap 281..427 = 147 columns, IoU 147 / (220 + 220 - 147) = 0.5017 -> TP, AP 1.
    # Comparing the shifted detection with the json's box unshifted (207..426) would give
    # 146 / 294 = 0.4966 -> FP, AP 0.
    if source == "json":
        gt = parse_hoi_annotations(_json_gt(), HICO, source="trainval_hico.json")
    else:
        path = write_anno_bbox(tmp_path / "anno_bbox.mat",
                               [(NAME, [hoi(CLS + 1, [MAT_H], [MAT_O], [[1, 1]])])])
        gt, known = read_hico_bbox_mat(path, HICO)
        assert known == {NAME: {HICO.interactions[CLS][1]}}
        assert gt.boxes_xyxy.tolist() == [JSON_H, JSON_O]  # the json's frame, exactly
    det_h = [JSON_H[0] + 73, JSON_H[1], JSON_H[2] + 73, JSON_H[3]]
    assert _ap(gt, det_h, "official") == pytest.approx(1.0)
    det_h = [JSON_H[0] + 74, JSON_H[1], JSON_H[2] + 74, JSON_H[3]]  # 146 / 294: FP
    assert _ap(gt, det_h, "official") == 0.0
    # GEN-VLKT compares in the json frame: [280..499] vs [207..426], 147 / 293 -> TP
    assert _ap(gt, [280, 32, 499, 299], "python") == pytest.approx(1.0)


def test_anno_bbox_mat_follows_eval_one(tmp_path):
    h1, h2, o1, o2 = [11, 11, 50, 90], [61, 11, 100, 90], [201, 201, 250, 250], [301, 1, 350, 40]
    cls_a, cls_b = 152, 153  # two interactions of one object
    path = write_anno_bbox(tmp_path / "anno_bbox.mat", [
        ("HICO_test2015_00000001.jpg", [
            hoi(cls_a + 1, [h1, h2], [o1], [[1, 1], [2, 1], [1, 1]]),  # repeated row: 2 GT
            hoi(cls_b + 1, [], [], [], invis=1),                        # invisible: none
            hoi(cls_b + 1, [h1], [o2], [[1, 1]]),
            hoi(cls_b + 1, [h2], [o2], [[1, 1]]),   # same id again: replaces the one above
        ]),
        ("HICO_test2015_00000002.jpg", []),          # no HOI: still a test image
    ])
    gt, known = read_hico_bbox_mat(path, HICO)
    assert [str(n) for n in gt.file_names] == ["HICO_test2015_00000001.jpg",
                                               "HICO_test2015_00000002.jpg"]
    ev = HICODetEvaluator(gt, HICO, protocol="official")
    num_gt = np.asarray(ev.gt.num_gt)
    assert (num_gt[cls_a], num_gt[cls_b], num_gt.sum()) == (3, 1, 4)
    rows = {(tuple(h), tuple(o)) for h, o, c in zip(ev.gt.h_boxes.tolist(),
                                                  ev.gt.o_boxes.tolist(), ev.gt.cls) if c == cls_b}
    assert rows == {(tuple(v - 1 for v in h2), tuple(v - 1 for v in o2))}
    assert known["HICO_test2015_00000002.jpg"] == set()


def test_anno_bbox_mat_errors(tmp_path):
    bad = write_anno_bbox(tmp_path / "a.mat", [("x.jpg", [hoi(1, [[1, 1, 5, 5]], [[1, 1, 5, 5]],
                                                             [[1, 2]])])])
    with pytest.raises(DataError, match=r"bbox_test\(1\) \(x.jpg\): field hoi\(1\).connection"):
        read_hico_bbox_mat(bad, HICO)
    bad = write_anno_bbox(tmp_path / "b.mat", [("x.jpg", [hoi(601, [[1, 1, 5, 5]],
                                                             [[1, 1, 5, 5]], [[1, 1]])])])
    with pytest.raises(DataError, match=r"'hoi.id' 601 is outside 1..600"):
        read_hico_bbox_mat(bad, HICO)
    with pytest.raises(DataError, match="missing variable 'bbox_train'"):
        read_hico_bbox_mat(bad, HICO, split="train")
    (tmp_path / "c.mat").write_bytes(b"\x00" * 300)
    with pytest.raises(DataError, match="c.mat: not a readable MATLAB file"):
        read_hico_bbox_mat(tmp_path / "c.mat", HICO)
    with pytest.raises(DataError, match="file not found"):
        read_hico_bbox_mat(tmp_path / "none.mat", HICO)
