"""Vectorised greedy matching of scored detections to ground truth, shared by the evaluators.

The reference evaluators loop over detections in score order and, for each, over the ground
truth of its image. The same decisions can be made for all detections at once:

1. join each detection with the ground-truth items that share its key (image, class) —
   :func:`join_on_key`;
2. pick, per detection, the first item of maximal overlap — :func:`segment_first_argmax`;
3. a detection is a true positive iff it qualifies (overlap >= threshold) and no earlier
   qualifying detection (in processing order) chose the same item — :func:`first_in_group`.

Step 3 is exact because a detection that loses its item to an earlier one never takes another:
both references mark it a false positive rather than fall back to the second-best item.
"""

from __future__ import annotations

import numpy as np


def join_on_key(gt_keys_sorted: np.ndarray, det_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (detection, ground truth) pairs with equal keys.

    Args:
        gt_keys_sorted: ``[G]`` int64 keys of the ground-truth items, sorted ascending.
        det_keys: ``[D]`` int64 keys of the detections.

    Returns:
        ``det_of [P]`` and ``gt_of [P]`` int64: candidate pairs grouped by detection
        (ascending) and, within a detection, in ground-truth order.
    """
    uniq, first = np.unique(gt_keys_sorted, return_index=True)
    num = np.diff(np.r_[first, gt_keys_sorted.shape[0]])
    at = np.minimum(np.searchsorted(uniq, det_keys), max(uniq.shape[0] - 1, 0))
    found = (uniq[at] == det_keys) if uniq.size else np.zeros(det_keys.shape, dtype=bool)
    counts = np.where(found, num[at] if uniq.size else 0, 0)
    lo = np.where(found, first[at] if uniq.size else 0, 0)
    det_of = np.repeat(np.arange(det_keys.shape[0]), counts)
    shift = np.repeat(lo - (np.cumsum(counts) - counts), counts)
    gt_of = np.arange(det_of.shape[0]) + shift
    return det_of, gt_of


def segment_first_argmax(
    values: np.ndarray, seg: np.ndarray, num_segments: int
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum of each segment and the position of its first occurrence.

    Args:
        values: ``[P]`` float, no NaN.
        seg: ``[P]`` int segment id of each value, non-decreasing.
        num_segments: number of segments ``S`` (ids in ``[0, S)``).

    Returns:
        ``max [S]`` (``-inf`` for empty segments) and ``first [S]`` int64 positions into
        ``values`` (``-1`` for empty segments). "First" = smallest position, i.e. the first
        ground-truth item in annotation order when candidates come from :func:`join_on_key`.
    """
    seg_max = np.full(num_segments, -np.inf)
    first = np.full(num_segments, -1, dtype=np.int64)
    if values.size == 0:
        return seg_max, first
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    ids = seg[starts]
    seg_max[ids] = np.maximum.reduceat(values, starts)
    pos = np.arange(values.size)
    at_max = values == seg_max[seg]
    first[ids] = np.minimum.reduceat(np.where(at_max, pos, values.size), starts)
    return seg_max, first


def first_in_group(group: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Flag, in each group, the element that comes first in processing ``order``.

    Args:
        group: ``[N]`` int group ids; negative ids form no group and are never flagged.
        order: ``[K]`` indices into ``group`` in processing order (elements not listed are
            never flagged).

    Returns:
        ``[N]`` bool.
    """
    flag = np.zeros(group.shape[0], dtype=bool)
    idx = order[group[order] >= 0]
    if idx.size:
        _, first = np.unique(group[idx], return_index=True)  # first occurrence in `order`
        flag[idx[first]] = True
    return flag
