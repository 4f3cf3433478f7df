"""GEN-VLKT's HICO-DET evaluator (``datasets/hico_eval_triplet.py`` of YueLiao/gen-vlkt,
``HICOEvaluator`` without NMS), re-written from reading it, for timing it from files.

The data structures and the work are GEN-VLKT's, since they decide its speed: boxes as lists of
float32 scalars (``list(bbox)`` of its numpy arrays), ids, classes and scores as the numpy
scalars its arrays yield (``zip`` over ``np.tile(...).ravel()``), ground-truth classes found with
``list.index`` in ``_valid_obj_ids``, ``_valid_verb_ids`` and the 600 triplet labels, seen
classes kept in a list (``triplet not in self.gt_triplets`` for every detection), a full IoU
matrix per image from a scalar ``compute_IOU``, per-image sort of the detections by score, and
``np.argsort(-score)`` per class. Files are loaded with ``json.load``, as a user of GEN-VLKT
would load saved results.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def _iou(box_a: list, box_b: list) -> float:
    """``compute_IOU``: "+1" areas; 0 when the boxes meet in at most one pixel row/column.
    ``float(a - b) + 1``: numpy 1.x (GEN-VLKT's) widens ``float32 + 1`` to float64."""
    area_a = (float(box_a[2] - box_a[0]) + 1) * (float(box_a[3] - box_a[1]) + 1)
    area_b = (float(box_b[2] - box_b[0]) + 1) * (float(box_b[3] - box_b[1]) + 1)
    left, right = max(box_a[1], box_b[1]), min(box_a[3], box_b[3])
    top, bottom = max(box_a[0], box_b[0]), min(box_a[2], box_b[2])
    if left >= right or top >= bottom:
        return 0
    inter = (float(right - left) + 1) * (float(bottom - top) + 1)
    return inter / (area_a + area_b - inter)


def _match_boxes(gt_boxes: list, pred_boxes: list) -> tuple[dict, dict]:
    """``compute_iou_mat``: per predicted box, the ground-truth boxes of IoU >= 0.5 and IoUs."""
    iou = np.zeros((len(gt_boxes), len(pred_boxes)))
    for i, g in enumerate(gt_boxes):
        for j, p in enumerate(pred_boxes):
            iou[i, j] = _iou(g["bbox"], p["bbox"])
    hits = np.nonzero(iou >= 0.5)
    pairs: dict = {}
    overlaps: dict = {}
    if iou.max() > 0:
        for g, p in zip(*hits):
            pairs.setdefault(p, []).append(g)
            overlaps.setdefault(p, []).append(iou[g, p])
    return pairs, overlaps


def load(gt_file: Path, pred_file: Path) -> tuple[list, dict]:
    """The test annotations and the result records by file name (``json.load``)."""
    with open(gt_file) as fh:
        annotations = json.load(fh)
    with open(pred_file) as fh:
        results = {r["filename"]: r for r in json.load(fh)}
    return annotations, results


class GenVLKTEvaluator:
    """Set-up of ``HICOEvaluator.__init__`` from loaded annotations and result records;
    :meth:`dump` is the results file its ``__init__`` always writes."""

    def __init__(self, annotations: list, results: dict, space) -> None:
        valid_obj_ids, valid_verb_ids = list(space.object_ids), list(space.verb_ids)
        triplet_labels = [(v, o) for v, o in space.interactions]
        self.gt_triplets: list[int] = []
        self.sum_gts: dict[int, int] = defaultdict(int)
        self.tp, self.fp, self.score = defaultdict(list), defaultdict(list), defaultdict(list)
        self.preds, self.gts = [], []
        for img in annotations:  # the test dataset and the model's output, image by image
            # datasets/hico.py: tensors, which the evaluator turns into numpy arrays
            boxes = np.asarray([a["bbox"] for a in img["annotations"]], np.float32).reshape(-1, 4)
            labels = np.asarray([valid_obj_ids.index(a["category_id"])
                                 for a in img["annotations"]], np.int64)
            hois = np.asarray([(h["subject_id"], h["object_id"],
                                valid_verb_ids.index(h["category_id"]))
                               for h in img["hoi_annotation"]], np.int64).reshape(-1, 3)
            bbox_anns = [{"bbox": list(b), "category_id": c} for b, c in zip(boxes, labels)]
            gt = {"annotations": bbox_anns,
                  "hoi_annotation": [{"subject_id": h[0], "object_id": h[1], "category_id":
                                      triplet_labels.index((h[2],
                                                            bbox_anns[h[1]]["category_id"]))}
                                     for h in hois]}
            for hoi in gt["hoi_annotation"]:
                if hoi["category_id"] not in self.gt_triplets:
                    self.gt_triplets.append(hoi["category_id"])
                self.sum_gts[hoi["category_id"]] += 1
            self.gts.append(gt)
            # the post-processed model output: numpy arrays, zipped into numpy scalars
            res = results.get(img["file_name"], {"predictions": [], "hoi_prediction": []})
            pred_boxes = np.asarray([b["bbox"] for b in res["predictions"]], np.float32)
            triplets = np.asarray([(h["subject_id"], h["object_id"], h["category_id"])
                                   for h in res["hoi_prediction"]], np.int64).reshape(-1, 3)
            scores = np.asarray([h["score"] for h in res["hoi_prediction"]], np.float32)
            self.preds.append({
                "predictions": [{"bbox": list(b)} for b in pred_boxes.reshape(-1, 4)],
                "hoi_prediction": [{"subject_id": s, "object_id": o, "category_id": c,
                                    "score": sc} for s, o, c, sc in
                                   zip(triplets[:, 0], triplets[:, 1], triplets[:, 2], scores)]})

    def dump(self, path: Path) -> None:
        """``f.write(json.dumps(str({'preds': self.preds, 'gts': self.gts})))``."""
        with open(path, "w") as f:
            f.write(json.dumps(str({"preds": self.preds, "gts": self.gts})))

    def evaluate(self) -> dict[int, float]:
        """``evaluate`` + ``compute_map``: per-class AP of the classes with ground truth."""
        for img_preds, img_gts in zip(self.preds, self.gts):
            if not img_preds["predictions"]:
                continue
            if img_gts["annotations"]:
                pairs, overlaps = _match_boxes(img_gts["annotations"], img_preds["predictions"])
                self._fptp(img_preds["hoi_prediction"], img_gts["hoi_annotation"], pairs,
                           overlaps)
            else:
                for hoi in img_preds["hoi_prediction"]:
                    if hoi["category_id"] in self.gt_triplets:
                        self.tp[hoi["category_id"]].append(0)
                        self.fp[hoi["category_id"]].append(1)
                        self.score[hoi["category_id"]].append(hoi["score"])
        aps = {}
        for triplet in self.gt_triplets:
            tp, fp = np.array(self.tp[triplet]), np.array(self.fp[triplet])
            if len(tp) == 0:
                aps[triplet] = 0
                continue
            order = np.argsort(-np.array(self.score[triplet]))
            tp, fp = np.cumsum(tp[order]), np.cumsum(fp[order])
            rec, prec = tp / self.sum_gts[triplet], tp / (fp + tp)
            ap = 0.0
            for t in np.arange(0.0, 1.1, 0.1):
                ap = ap + (np.max(prec[rec >= t]) if np.sum(rec >= t) else 0) / 11.0
            aps[triplet] = ap
        return aps

    def _fptp(self, pred_hois: list, gt_hois: list, pairs: dict, overlaps: dict) -> None:
        """``compute_fptp``: detections by descending score; the best ground-truth entry
        (first of maximal overlap) is a hit unless already taken."""
        taken = np.zeros(len(gt_hois))
        pred_hois.sort(key=lambda k: k.get("score", 0), reverse=True)
        for hoi in pred_hois:
            found, best, best_gt = 0, 0, 0
            if pairs and hoi["subject_id"] in pairs and hoi["object_id"] in pairs:
                sub_ids, obj_ids = pairs[hoi["subject_id"]], pairs[hoi["object_id"]]
                sub_ov, obj_ov = overlaps[hoi["subject_id"]], overlaps[hoi["object_id"]]
                for gt in gt_hois:
                    if (gt["subject_id"] in sub_ids and gt["object_id"] in obj_ids
                            and hoi["category_id"] == gt["category_id"]):
                        found = 1
                        ov = min(sub_ov[sub_ids.index(gt["subject_id"])],
                                 obj_ov[obj_ids.index(gt["object_id"])])
                        if ov > best:
                            best, best_gt = ov, gt
            triplet = hoi["category_id"]
            if triplet not in self.gt_triplets:
                continue
            if found == 1 and taken[gt_hois.index(best_gt)] == 0:
                self.fp[triplet].append(0)
                self.tp[triplet].append(1)
                taken[gt_hois.index(best_gt)] = 1
            else:
                self.fp[triplet].append(1)
                self.tp[triplet].append(0)
            self.score[triplet].append(hoi["score"])
