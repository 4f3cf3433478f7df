"""Box overlaps with the "+1 pixel" convention, bit-exact to each reference evaluator.

All three references measure a box ``[x1, y1, x2, y2]`` as ``(x2 - x1 + 1) * (y2 - y1 + 1)``
pixels, but they differ in when an intersection is empty and in float precision, and the
threshold test ``IoU >= 0.5`` sees those differences. Each function below is vectorised over
paired rows and reproduces one reference's arithmetic, operation by operation:

- :func:`iou_gen_vlkt`: ``compute_IOU`` of GEN-VLKT / HOICLIP ``hico_eval_triplet.py``.
- :func:`iou_matlab`: ``VOCevaldet_bboxpair.m`` of the HICO-DET MATLAB evaluation (ho-rcnn).
- :func:`iou_vsrl`: ``get_overlap`` of v-coco's ``vsrl_eval.py``.

The Python references ran under numpy 1.x (GEN-VLKT pins torch 1.7.1), whose scalar promotion
(``np.float32 + 1 -> float64``) differs from numpy >= 2 (NEP 50); we reproduce numpy 1.x.
"""

from __future__ import annotations

import numpy as np

f32 = np.float32
f64 = np.float64


def _ext32(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``float(hi - lo) + 1``: float32 difference, widened to float64 before ``+ 1``.

    numpy 1.x evaluates ``np.float32 - np.float32`` in float32 and ``np.float32 + 1`` in
    float64; GEN-VLKT's scalar code does exactly this.
    """
    return (hi.astype(f32) - lo.astype(f32)).astype(f64) + 1.0


def iou_gen_vlkt(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """IoU of GEN-VLKT's ``compute_IOU(gt, pred)`` on float32 boxes, row by row.

    Rules: areas ``(x2-x1+1)(y2-y1+1)``; the intersection is **empty when**
    ``max(y1) >= min(y2)`` **or** ``max(x1) >= min(x2)`` (so boxes that overlap by at most one
    pixel column have IoU 0, where MATLAB would count a 1-pixel-wide intersection); otherwise
    ``(min(y2)-max(y1)+1)(min(x2)-max(x1)+1) / (area_gt + area_pred - inter)``.

    Args:
        gt, pred: ``[M, 4]`` xyxy boxes (cast to float32, as GEN-VLKT's tensors are).

    Returns:
        ``[M]`` float64 IoU.
    """
    gt = gt.astype(f32, copy=False)
    pred = pred.astype(f32, copy=False)
    area_gt = _ext32(gt[:, 0], gt[:, 2]) * _ext32(gt[:, 1], gt[:, 3])
    area_pred = _ext32(pred[:, 0], pred[:, 2]) * _ext32(pred[:, 1], pred[:, 3])
    sum_area = area_gt + area_pred
    left = np.maximum(gt[:, 1], pred[:, 1])
    right = np.minimum(gt[:, 3], pred[:, 3])
    top = np.maximum(gt[:, 0], pred[:, 0])
    bottom = np.minimum(gt[:, 2], pred[:, 2])
    empty = (left >= right) | (top >= bottom)
    inter = _ext32(left, right) * _ext32(top, bottom)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (sum_area - inter)
    return np.where(empty, 0.0, iou)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """MATLAB ``round``: halves go away from zero (numpy's ``round`` goes to even).

    Exact for every double: ``|x| - floor(|x|)`` is computed without rounding error.
    """
    a = np.abs(x)
    fl = np.floor(a)
    return np.copysign(fl + (a - fl >= 0.5), x)


def iou_matlab(det: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of ``VOCevaldet_bboxpair.m`` (ho-rcnn), float64, row by row.

    Rules: ``iw = min(x2) - max(x1) + 1``, ``ih`` likewise; the overlap is 0 unless
    ``iw > 0 and ih > 0``; else ``iw*ih / (area_det + area_gt - iw*ih)`` with "+1" areas.

    Args:
        det: ``[M, 4]`` detection boxes as MATLAB sees them (rounded, one-based).
        gt: ``[M, 4]`` ground-truth boxes.

    Returns:
        ``[M]`` float64 IoU.
    """
    det = det.astype(f64, copy=False)
    gt = gt.astype(f64, copy=False)
    iw = np.minimum(det[:, 2], gt[:, 2]) - np.maximum(det[:, 0], gt[:, 0]) + 1
    ih = np.minimum(det[:, 3], gt[:, 3]) - np.maximum(det[:, 1], gt[:, 1]) + 1
    area_det = (det[:, 2] - det[:, 0] + 1) * (det[:, 3] - det[:, 1] + 1)
    area_gt = (gt[:, 2] - gt[:, 0] + 1) * (gt[:, 3] - gt[:, 1] + 1)
    inter = iw * ih
    with np.errstate(divide="ignore", invalid="ignore"):
        ov = inter / (area_det + area_gt - inter)
    return np.where((iw > 0) & (ih > 0), ov, 0.0)


def iou_vsrl(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """IoU of v-coco ``get_overlap(gt_boxes, pred_box)``, float32, row by row.

    Rules: ``iw = max(min(x2) - max(x1) + 1, 0)``, ``ih`` likewise (float32);
    union ``= area_pred + area_gt - iw*ih`` with "+1" areas; IoU ``= inter / union`` (float32).
    Under numpy 1.x the predicted box's area is a float64 scalar that is rounded to float32
    when added to the float32 ground-truth areas; that is reproduced here. A NaN box gives NaN,
    which fails every ``>= 0.5`` test, as in the reference.

    Args:
        gt: ``[M, 4]`` float32 ground-truth boxes (``boxes`` argument of ``get_overlap``).
        pred: ``[M, 4]`` float32 predicted boxes (``ref_box``).

    Returns:
        ``[M]`` float32 IoU.
    """
    gt = gt.astype(f32, copy=False)
    pred = pred.astype(f32, copy=False)
    one = f32(1.0)
    iw = np.maximum(np.minimum(gt[:, 2], pred[:, 2]) - np.maximum(gt[:, 0], pred[:, 0]) + one,
                    f32(0.0))
    ih = np.maximum(np.minimum(gt[:, 3], pred[:, 3]) - np.maximum(gt[:, 1], pred[:, 1]) + one,
                    f32(0.0))
    inter = iw * ih
    area_pred = (_ext32(pred[:, 0], pred[:, 2]) * _ext32(pred[:, 1], pred[:, 3])).astype(f32)
    area_gt = (gt[:, 2] - gt[:, 0] + one) * (gt[:, 3] - gt[:, 1] + one)
    union = (area_pred + area_gt) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / union
