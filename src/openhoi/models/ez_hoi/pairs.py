"""Pairs of the two-stage pipeline (UPT / EZ-HOI ``compute_roi_embeddings``): RoI features of
the pair regions and the association of detected pairs with ground truth (the pairs themselves:
``openhoi.ops.pairs``).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_iou, roi_align


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
