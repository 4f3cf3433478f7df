"""Box utilities: format conversion, (generalised) IoU, union boxes, pair-wise NMS.

Thin wrappers over ``torchvision.ops`` where it fits; the element-wise GIoU and the ``+1``-pixel
pair NMS are written here because the HOI references compute them that way (see each docstring).
All functions accept any leading batch dimensions unless stated otherwise.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_convert, box_iou, generalized_box_iou

__all__ = [
    "box_cxcywh_to_xyxy",
    "box_xyxy_to_cxcywh",
    "box_iou",
    "generalized_box_iou",
    "elementwise_generalized_box_iou",
    "normalize_boxes",
    "denormalize_boxes",
    "union_boxes",
    "pixel_iou_plus_one",
    "pair_nms",
]


def box_cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """``[..., 4]`` (cx, cy, w, h) -> (x1, y1, x2, y2)."""
    return box_convert(boxes, "cxcywh", "xyxy")


def box_xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    """``[..., 4]`` (x1, y1, x2, y2) -> (cx, cy, w, h)."""
    return box_convert(boxes, "xyxy", "cxcywh")


def _scale(sizes_hw: Tensor) -> Tensor:
    h, w = sizes_hw.unbind(-1)
    return torch.stack([w, h, w, h], dim=-1).to(torch.float32)  # [..., 4]


def normalize_boxes(boxes_abs: Tensor, size_hw: Tensor | tuple[int, int]) -> Tensor:
    """Divide absolute boxes ``[..., 4]`` (xyxy or cxcywh) by (w, h, w, h).

    ``size_hw`` is ``(height, width)`` or a tensor ``[..., 2]`` whose leading dimensions
    broadcast against the boxes' (e.g. ``sizes[:, None]`` for ``[B, Q, 4]`` boxes).
    """
    return boxes_abs / _scale(torch.as_tensor(size_hw, device=boxes_abs.device))


def denormalize_boxes(boxes_norm: Tensor, size_hw: Tensor | tuple[int, int]) -> Tensor:
    """Inverse of ``normalize_boxes``: multiply by (w, h, w, h)."""
    return boxes_norm * _scale(torch.as_tensor(size_hw, device=boxes_norm.device))


def elementwise_generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """GIoU of corresponding xyxy boxes ``[..., 4]`` x ``[..., 4]`` -> ``[...]``.

    Equals ``diag(generalized_box_iou(b1, b2))`` (what DETR/GEN-VLKT losses compute) without the
    ``N x N`` matrix, and without the ``eps`` that ``torchvision.ops.generalized_box_iou_loss``
    adds. Degenerate pairs (both boxes empty) give NaN, as in the references.
    """
    area1 = (boxes1[..., 2] - boxes1[..., 0]) * (boxes1[..., 3] - boxes1[..., 1])
    area2 = (boxes2[..., 2] - boxes2[..., 0]) * (boxes2[..., 3] - boxes2[..., 1])
    lt = torch.max(boxes1[..., :2], boxes2[..., :2])
    rb = torch.min(boxes1[..., 2:], boxes2[..., 2:])
    wh = (rb - lt).clamp(min=0)  # [..., 2]
    inter = wh[..., 0] * wh[..., 1]
    union = area1 + area2 - inter
    iou = inter / union
    lti = torch.min(boxes1[..., :2], boxes2[..., :2])
    rbi = torch.max(boxes1[..., 2:], boxes2[..., 2:])
    whi = (rbi - lti).clamp(min=0)  # [..., 2]
    areai = whi[..., 0] * whi[..., 1]
    return iou - (areai - union) / areai


def union_boxes(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Smallest xyxy box enclosing each pair of xyxy boxes, ``[..., 4]``."""
    return torch.cat([torch.min(boxes1[..., :2], boxes2[..., :2]),
                      torch.max(boxes1[..., 2:], boxes2[..., 2:])], dim=-1)


def pixel_iou_plus_one(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise IoU ``[..., N, 4] x [..., M, 4] -> [..., N, M]`` with inclusive pixel extents.

    Widths and heights are ``x2 - x1 + 1`` (the PASCAL/HICO convention), as GEN-VLKT and
    HOICLIP's ``HICOEvaluator.pairwise_nms`` compute overlaps for the triplet NMS.
    """
    lt = torch.max(boxes1[..., :, None, :2], boxes2[..., None, :, :2])  # [..., N, M, 2]
    rb = torch.min(boxes1[..., :, None, 2:], boxes2[..., None, :, 2:])  # [..., N, M, 2]
    wh = (rb - lt + 1).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area1 = (boxes1[..., 2] - boxes1[..., 0] + 1) * (boxes1[..., 3] - boxes1[..., 1] + 1)
    area2 = (boxes2[..., 2] - boxes2[..., 0] + 1) * (boxes2[..., 3] - boxes2[..., 1] + 1)
    return inter / (area1[..., :, None] + area2[..., None, :] - inter)


def pair_nms(
    h_boxes_xyxy: Tensor,
    o_boxes_xyxy: Tensor,
    classes: Tensor,
    threshold: float,
    alpha: float = 1.0,
    beta: float = 0.5,
    valid: Tensor | None = None,
) -> Tensor:
    """Greedy NMS over human-object pairs of the same class, batched over images.

    Candidates must be sorted by decreasing score along the last dimension. A pair is
    suppressed by a kept, higher-scored pair of the same class when
    ``IoU(h)^alpha * IoU(o)^beta > threshold`` (IoUs with ``+1`` pixel extents); this is
    ``HICOEvaluator.triplet_nms_filter`` / ``pairwise_nms`` of GEN-VLKT and HOICLIP
    (``datasets/hico_eval_triplet.py``), applied to each class's triplets in score order.

    Args:
        h_boxes_xyxy: ``[B, K, 4]`` human boxes, absolute pixels.
        o_boxes_xyxy: ``[B, K, 4]`` object boxes, absolute pixels.
        classes: ``[B, K]`` interaction class of each pair.
        threshold: overlap above which a pair is suppressed.
        alpha, beta: exponents of the human and object IoU.
        valid: optional ``[B, K]`` bool, candidates that take part (others are never kept).

    Returns:
        ``[B, K]`` bool, True for kept pairs.
    """
    overlap = (pixel_iou_plus_one(h_boxes_xyxy, h_boxes_xyxy).pow(alpha)
               * pixel_iou_plus_one(o_boxes_xyxy, o_boxes_xyxy).pow(beta))  # [B, K, K]
    num = classes.shape[-1]
    later = torch.ones(num, num, dtype=torch.bool, device=classes.device).triu(1)  # j > i
    suppresses = (overlap > threshold) & (classes[..., :, None] == classes[..., None, :]) & later
    removed = torch.zeros_like(classes, dtype=torch.bool) if valid is None else ~valid
    keep = torch.zeros_like(removed)
    for i in range(num):
        keep[..., i] = ~removed[..., i]
        removed = removed | (suppresses[..., i, :] & keep[..., i, None])
    return keep
