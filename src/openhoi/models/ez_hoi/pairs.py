"""Pairs of the two-stage pipeline (UPT / EZ-HOI ``compute_roi_embeddings``): every human x
every other instance, RoI features of the pair regions and
the association of detected pairs with ground truth.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_iou, roi_align


def enumerate_pairs(labels: Tensor, human_label: int) -> tuple[Tensor, Tensor]:
    """(human, instance) index pairs: every human with every *other* instance, humans
    included (UPT: ``x != y`` and ``x < n_h`` over instances ordered humans first).
    Returns ``h_idx [P]`` and ``o_idx [P]``; empty without a human or with one instance."""
    n = len(labels)
    n_h = int((labels == human_label).sum())
    if n_h == 0 or n <= 1:
        empty = torch.zeros(0, dtype=torch.int64, device=labels.device)
        return empty, empty
    x, y = torch.meshgrid(torch.arange(n, device=labels.device),
                          torch.arange(n, device=labels.device), indexing="ij")
    return torch.nonzero((x != y) & (x < n_h)).unbind(1)


def union_boxes(h: Tensor, o: Tensor) -> Tensor:
    """``[P, 4]`` xyxy boxes enclosing each human box and its object box."""
    return torch.cat([torch.min(h[:, :2], o[:, :2]), torch.max(h[:, 2:], o[:, 2:])], -1)


def roi_features(feature_map: Tensor, boxes_xyxy: Tensor, image_size: int,
                 dropout: torch.nn.Module) -> Tensor:
    """``[N, C]`` EZ-HOI's region feature: 7x7 ``roi_align`` (aligned) of the projected patch
    map, dropout on the 7x7 map, mean over it.

    Args:
        feature_map: ``[C, gh, gw]`` patch features of one image.
        boxes_xyxy: ``[N, 4]`` in pixels of CLIP's square input of side ``image_size``.
    """
    scale = feature_map.shape[1] / image_size
    pooled = roi_align(feature_map[None], [boxes_xyxy.to(feature_map.dtype)], output_size=(7, 7),
                       spatial_scale=scale, aligned=True)  # [N, C, 7, 7]
    return dropout(pooled).flatten(2).mean(-1)


def associate(h_boxes: Tensor, o_boxes: Tensor, gt_h: Tensor, gt_o: Tensor, gt_verbs: Tensor,
              fg_iou: float) -> Tensor:
    """``[P, V]`` verb labels of detected pairs: the union of the verbs of every ground-truth
    pair whose human and object boxes both overlap by ``fg_iou`` (UPT's
    ``associate_with_ground_truth``, ``min(IoU_h, IoU_o) >= 0.5``)."""
    labels = torch.zeros(len(h_boxes), gt_verbs.shape[1], device=h_boxes.device)
    if len(h_boxes) == 0 or len(gt_h) == 0:
        return labels
    match = torch.min(box_iou(h_boxes, gt_h), box_iou(o_boxes, gt_o)) >= fg_iou  # [P, M]
    return (match.float() @ gt_verbs.float()).clamp(max=1)
