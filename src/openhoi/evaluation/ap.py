"""Average precision, pure numpy: ranking, precision/recall, 11-point and area AP.

Every function here is deterministic and side-effect free; the protocol modules (``hico_map``,
``vcoco_ap``, ``recognition_map``) decide which variant they use and why. Float arithmetic
follows the reference evaluators operation by operation, so results agree to the last bit.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

ThresholdStyle = Literal["numpy", "matlab"]


def voc11_thresholds(style: ThresholdStyle) -> np.ndarray:
    """The 11 recall thresholds of VOC2007 interpolated AP, as the reference code computes them.

    The two references build "0, 0.1, ..., 1" differently, and the doubles differ:

    - ``numpy``: ``np.arange(0., 1.1, 0.1)`` (GEN-VLKT / HOICLIP ``voc_ap``), computed as
      ``k * 0.1``: 0.6 and 0.7 come out as 0.6000000000000001 and 0.7000000000000001.
    - ``matlab``: ``0:0.1:1`` (ho-rcnn ``VOCevaldet_bboxpair.m``, hico_benchmark). MATLAB's colon
      operator computes the first half as ``a + k*d`` and the second half as ``b - (n-k)*d``,
      so 0.6 = ``1 - 0.4`` and 0.7 = ``1 - 3*0.1`` are the doubles nearest 0.6 and 0.7, while
      0.3 = ``3*0.1`` is 0.30000000000000004 in both.

    A class whose recall is exactly 0.6 (3 of 5) or 0.7 (7 of 10) therefore gets one more
    interpolation point under MATLAB than under numpy.

    Returns:
        ``[11]`` float64.
    """
    if style == "numpy":
        return np.arange(0.0, 1.1, 0.1)
    if style == "matlab":
        d, n = 0.1, 10
        first = [0.0 + k * d for k in range(n // 2 + 1)]
        second = [1.0 - k * d for k in range(n // 2 - 1, -1, -1)]
        return np.array(first + second)
    raise ValueError(f"unknown threshold style {style!r}")


def descending_order(scores: np.ndarray, *tie_keys: np.ndarray) -> np.ndarray:
    """Indices that sort ``scores`` descending; ties by ``tie_keys`` ascending, then position.

    This is the deterministic order used by every evaluator here (a stable sort). The
    reference codes use ``np.argsort(-score)`` (introsort, unstable) or MATLAB's stable
    ``sort``; they agree with this order whenever scores are distinct.

    Args:
        scores: ``[N]`` float, no NaN.
        tie_keys: ``[N]`` integer arrays, most significant first.

    Returns:
        ``[N]`` int64 permutation.
    """
    if tie_keys:
        # np.lexsort sorts by the last key first; position breaks the remaining ties.
        return np.lexsort(tuple(reversed(tie_keys)) + (-scores,))
    # An introsort plus a repair of the (rare) runs of equal scores is ~2.5x faster than a
    # stable sort of floats and gives the same permutation.
    order = np.argsort(-scores)
    s = scores[order]
    tie = s[1:] == s[:-1]
    if not tie.any():
        return order
    in_run = np.r_[False, tie] | np.r_[tie, False]
    run_id = np.cumsum(np.r_[True, ~tie])
    idx = np.flatnonzero(in_run)
    order[idx] = order[idx[np.lexsort((order[idx], run_id[idx]))]]
    return order


def precision_recall(tp: np.ndarray, num_gt: int | float) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative recall and precision of ranked detections (float64, as GEN-VLKT and ho-rcnn).

    Args:
        tp: ``[N]`` bool or 0/1, true positive flag of each detection, in ranked order.
        num_gt: number of ground-truth instances (0 gives NaN recall, as the references do).

    Returns:
        ``rec [N]``, ``prec [N]`` float64: ``tp_cum / num_gt`` and ``tp_cum / (tp_cum + fp_cum)``.
    """
    tp_cum = np.cumsum(np.asarray(tp, dtype=np.int64))
    fp_cum = np.arange(1, tp_cum.shape[0] + 1) - tp_cum
    with np.errstate(divide="ignore", invalid="ignore"):
        rec = tp_cum / float(num_gt)
        prec = tp_cum / (fp_cum + tp_cum)
    return rec, prec


def voc11_ap(rec: np.ndarray, prec: np.ndarray, thresholds: np.ndarray) -> float:
    """VOC2007 11-point interpolated AP: mean over t of max precision at recall >= t.

    Accumulates ``ap = ap + p / 11`` in threshold order, exactly as ``voc_ap`` (GEN-VLKT) and
    ``VOCevaldet_bboxpair.m`` (ho-rcnn) do, so the float result is bit-identical. A threshold
    no recall reaches (or NaN recall) contributes 0.

    Args:
        rec: ``[N]`` float64 non-decreasing recall (or all NaN), from :func:`precision_recall`.
        prec: ``[N]`` float64 precision.
        thresholds: ``[11]`` from :func:`voc11_thresholds`.
    """
    if rec.size == 0 or np.isnan(rec[-1]):
        return 0.0
    # recall is sorted, so {rec >= t} is a suffix: its max precision is a suffix maximum.
    suffix_max = np.r_[np.maximum.accumulate(prec[::-1])[::-1], 0.0]
    p = suffix_max[np.searchsorted(rec, thresholds, side="left")]
    return float(np.cumsum(p / 11.0)[-1])  # cumsum adds left to right, like the loop


def voc_area_ap(rec: np.ndarray, prec: np.ndarray) -> float:
    """VOC2010+ AP: area under the monotone precision envelope (``voc_ap`` of v-coco's vsrl_eval).

    Sentinels ``(0, 0)`` and ``(1, 0)`` are added, precision is made non-increasing from the
    right, and ``sum (r[i+1] - r[i]) * p[i+1]`` is taken where recall changes (float64).
    """
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def voc11_ap_of_ranked(tp: np.ndarray, num_gt: int, thresholds: np.ndarray) -> tuple[float, float]:
    """11-point AP and maximum recall of detections already in ranked order.

    Returns:
        ``(ap, max_recall)``; ``(0.0, 0.0)`` without detections, as GEN-VLKT's ``compute_map``.
    """
    if len(tp) == 0:
        return 0.0, 0.0
    rec, prec = precision_recall(tp, num_gt)
    max_rec = float(np.max(rec)) if num_gt > 0 else 0.0
    return voc11_ap(rec, prec, thresholds), max_rec


def grouped_voc11_ap(
    class_idx: np.ndarray,
    tp: np.ndarray,
    num_gt: np.ndarray,
    thresholds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-class 11-point AP of detections that are already ranked within each class.

    Args:
        class_idx: ``[N]`` int, class of each detection, sorted ascending (grouped), with each
            class's detections in ranked order (see :func:`descending_order`).
        tp: ``[N]`` bool, true positive flags in the same order.
        num_gt: ``[C]`` ground-truth count per class.
        thresholds: ``[11]`` recall thresholds.

    Returns:
        ``ap [C]``, ``max_recall [C]`` float64; classes without detections get 0.
    """
    num_classes = num_gt.shape[0]
    ap = np.zeros(num_classes)
    max_rec = np.zeros(num_classes)
    if class_idx.size == 0:
        return ap, max_rec
    starts = np.flatnonzero(np.r_[True, class_idx[1:] != class_idx[:-1]])
    ends = np.r_[starts[1:], class_idx.size]
    for s, e in zip(starts.tolist(), ends.tolist()):  # one iteration per class, not detection
        c = int(class_idx[s])
        ap[c], max_rec[c] = voc11_ap_of_ranked(tp[s:e], int(num_gt[c]), thresholds)
    return ap, max_rec


def mean_or_nan(values: np.ndarray) -> float:
    """Mean of a 1-D array, NaN when empty (instead of numpy's warning)."""
    return float(np.mean(values)) if values.size else float("nan")
