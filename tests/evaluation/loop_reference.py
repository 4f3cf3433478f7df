"""Straightforward loop implementations of the HICO-DET protocols, for tests and the benchmark.

Re-implementations of the reference codes in their own shape: per image, per detection, per
ground-truth entry, with scalar arithmetic. Nothing here is vectorised or shared with the
evaluator, so agreement is evidence, not tautology.

Ground truth is the annotation file's raw entries, as the references hold it: GEN-VLKT's test
dataset makes one ``(subject_id, object_id, verb)`` per ``hoi_annotation`` entry in file order,
repeats included (``datasets/hico.py``), and ``hico_eval_triplet.py`` turns each into
``{'subject_id', 'object_id', 'category_id'}``; the MATLAB evaluation makes one ground-truth row
per ``connection`` row of each HOI. Inputs are plain Python: ground truth
``[(image_id, boxes, [(h, o, cls), ...]), ...]`` (entries in file order, repeats kept, ``cls``
the interaction of (verb, object label)) and predictions
``{image_id: (boxes, [(h, o, cls, score), ...])}`` with boxes as lists of 4 numbers.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np


def iou_python(gt: list[float], pred: list[float]) -> float:
    """GEN-VLKT ``compute_IOU`` with numpy 1.x arithmetic: float32 differences, float64 rest."""
    g = [np.float32(v) for v in gt]
    p = [np.float32(v) for v in pred]

    def ext(lo: np.float32, hi: np.float32) -> float:
        return float(np.float32(hi - lo)) + 1.0

    s1 = ext(g[0], g[2]) * ext(g[1], g[3])
    s2 = ext(p[0], p[2]) * ext(p[1], p[3])
    left, right = max(g[1], p[1]), min(g[3], p[3])
    top, bottom = max(g[0], p[0]), min(g[2], p[2])
    if left >= right or top >= bottom:
        return 0.0
    inter = ext(left, right) * ext(top, bottom)
    return inter / ((s1 + s2) - inter)


def matlab_round(x: float) -> float:
    """MATLAB ``round``: halves away from zero."""
    a = abs(x)
    f = math.floor(a)
    return math.copysign(f + (1.0 if a - f >= 0.5 else 0.0), x)


def iou_matlab(det: list[float], gt: list[float]) -> float:
    """``VOCevaldet_bboxpair.m`` overlap of one box pair (doubles)."""
    iw = min(det[2], gt[2]) - max(det[0], gt[0]) + 1
    ih = min(det[3], gt[3]) - max(det[1], gt[1]) + 1
    if iw > 0 and ih > 0:
        ua = ((det[2] - det[0] + 1) * (det[3] - det[1] + 1)
              + (gt[2] - gt[0] + 1) * (gt[3] - gt[1] + 1) - iw * ih)
        return iw * ih / ua
    return 0.0


def voc11(rec: list[float], prec: list[float], style: str) -> float:
    if style == "numpy":
        thresholds = [k * 0.1 for k in range(11)]
    else:  # MATLAB 0:0.1:1, first half from the left end, second half from the right end
        thresholds = [k * 0.1 for k in range(6)] + [1 - k * 0.1 for k in (4, 3, 2, 1, 0)]
    ap = 0.0
    for t in thresholds:
        ps = [p for r, p in zip(rec, prec) if r >= t]
        ap = ap + (max(ps) if ps else 0.0) / 11.0
    return ap


def ranked_ap(entries: list[tuple[float, int, int, int]], num_gt: int, style: str) -> float:
    """entries: (score, image order, position, tp); ranked by -score, image, position."""
    entries = sorted(entries, key=lambda e: (-e[0], e[1], e[2]))
    tp = fp = 0
    rec, prec = [], []
    for e in entries:
        tp += e[3]
        fp += 1 - e[3]
        rec.append(tp / num_gt if num_gt else float("nan"))
        prec.append(tp / (tp + fp))
    return voc11(rec, prec, style) if entries else 0.0


def hico_python(gts, preds, num_classes: int) -> dict[int, float]:
    """GEN-VLKT ``HICOEvaluator``: AP of every class with test ground truth."""
    sum_gts: dict[int, int] = defaultdict(int)
    for _, _, hois in gts:
        for _, _, c in hois:
            sum_gts[c] += 1  # ``self.sum_gts[triplet] += 1``: once per entry, repeats included
    entries: dict[int, list] = defaultdict(list)
    for img_order, (image_id, gt_boxes, gt_hois) in enumerate(gts):
        if image_id not in preds:
            continue
        boxes, hois = preds[image_id]
        # compute_iou_mat: per predicted box, the ground-truth boxes with IoU >= 0.5
        match = [{g: iou_python(gb, pb) for g, gb in enumerate(gt_boxes)
                  if iou_python(gb, pb) >= 0.5} for pb in boxes]
        ordered = sorted(enumerate(hois), key=lambda kv: -kv[1][3])  # stable: input order
        vis_tag = [0] * len(gt_hois)
        for pos, (h, o, c, score) in ordered:
            is_match, max_overlap, max_gt_hoi = False, 0.0, None
            for gt_hoi in gt_hois:  # compute_fptp: every entry, in file order
                gh, go, gc = gt_hoi
                if gh in match[h] and go in match[o] and gc == c:
                    is_match = True
                    min_overlap_gt = min(match[h][gh], match[o][go])
                    if min_overlap_gt > max_overlap:
                        max_overlap, max_gt_hoi = min_overlap_gt, gt_hoi
            if c not in sum_gts:
                continue
            # ``vis_tag[gt_hois.index(max_gt_hoi)]``: list.index finds the FIRST equal entry,
            # so a repeated (h, o, c) entry is never marked and can never be matched.
            is_tp = is_match and vis_tag[gt_hois.index(max_gt_hoi)] == 0
            if is_tp:
                vis_tag[gt_hois.index(max_gt_hoi)] = 1
            entries[c].append((score, img_order, pos, int(is_tp)))
    return {c: ranked_ap(entries[c], n, "numpy") for c, n in sum_gts.items()}


def hico_official(gts, preds, num_classes: int, known=None, obj_of=None, extra_images=(),
                  cap: int = 19999) -> dict[int, float]:
    """MATLAB protocol, one class at a time; ``known`` ({image_id: objects}) with ``obj_of``
    (object of each class) gives the Known-Object setting. ``gts`` holds json (zero-based)
    boxes, which ``eval_one.m`` sees from ``anno_bbox.mat`` as one more."""
    images = [g[0] for g in gts] + sorted(extra_images)
    dets_of: dict[int, list] = defaultdict(list)  # the per-class detection lists of save_HICO
    for img_order, image_id in enumerate(images):
        if image_id not in preds:
            continue
        boxes, hois = preds[image_id]
        for pos, (h, o, c, score) in enumerate(hois):
            dets_of[c].append((score * 1000.0, img_order, pos, image_id,
                               [matlab_round(v) + 1 for v in boxes[h]],
                               [matlab_round(v) + 1 for v in boxes[o]]))
    # gt_all{c, i}: one row per connection (= entry), in file order, repeats included, in
    # anno_bbox.mat's coordinates: the json's boxes plus one
    gt_of: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for image_id, gt_boxes, hois in gts:
        for h, o, c in hois:
            gt_of[c][image_id].append(([float(v) + 1 for v in gt_boxes[h]],
                                       [float(v) + 1 for v in gt_boxes[o]]))
    aps = {}
    for c in range(num_classes):
        dets = sorted(dets_of[c], key=lambda d: (-d[0], d[1], d[2]))[:cap]
        if known is not None:
            dets = [d for d in dets if obj_of[c] in known.get(d[3], ())]
        npos = sum(len(v) for v in gt_of[c].values())
        taken = {image_id: [False] * len(v) for image_id, v in gt_of[c].items()}
        entries = []
        for score, img_order, pos, image_id, bh, bo in dets:
            ov_max, j_max = -math.inf, -1
            for j, (gh, go) in enumerate(gt_of[c].get(image_id, [])):
                ov = min(iou_matlab(bh, gh), iou_matlab(bo, go))
                if ov > ov_max:
                    ov_max, j_max = ov, j
            is_tp = ov_max >= 0.5 and not taken[image_id][j_max]
            if is_tp:
                taken[image_id][j_max] = True
            entries.append((score, img_order, pos, int(is_tp)))
        aps[c] = ranked_ap(entries, npos, "matlab") if npos else 0.0
    return aps
