"""Hungarian matching of predicted query pairs to ground-truth human-object pairs.

The cost is QPIC/GEN-VLKT/HOICLIP's ``HungarianMatcherHOI`` (``models/matcher.py``): object
class, interaction class, and the worse (max) of the human and object L1 / GIoU box costs, with
object-box terms ignored for pairs without an object. Costs are computed for the whole batch at
once; each image is then assigned with ``scipy.optimize.linear_sum_assignment``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from openhoi.errors import OpenHOIError
from openhoi.label_space import LabelSpace
from openhoi.ops.boxes import box_cxcywh_to_xyxy, box_xyxy_to_cxcywh, generalized_box_iou
from openhoi.structures import HOIRawOutput, HOITargets

Indices = list[tuple[Tensor, Tensor]]


@dataclass
class PairTargets:
    """Targets of one image at the level of pairs, in the model's output space.

    Attributes:
        h_boxes_cxcywh: ``[M, 4]`` human boxes, cxcywh, normalized by the current image size.
        o_boxes_cxcywh: ``[M, 4]`` object boxes, cxcywh, normalized; zeros for no object.
        obj_labels: ``[M]`` int64 object class; ``O`` (the no-object column) for no object.
        has_object: ``[M]`` bool.
        interactions: ``[M, I']`` float32 multi-hot over the interaction columns of the logits.
        verbs: ``[M, V]`` float32 multi-hot verbs.
        extras: ``[M, ...]`` per-pair tensors a loss term needs (ViLD-image's crop
            embeddings), filled by the criterion's ``pair_extras``.
    """

    h_boxes_cxcywh: Tensor
    o_boxes_cxcywh: Tensor
    obj_labels: Tensor
    has_object: Tensor
    interactions: Tensor
    verbs: Tensor
    extras: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.obj_labels.shape[0])


def build_pair_targets(targets: Sequence[HOITargets], label_space: LabelSpace,
                       interaction_columns: Tensor | None = None) -> list[PairTargets]:
    """Convert ``HOITargets`` (absolute xyxy instances + pairs) into ``PairTargets``.

    Boxes are converted to cxcywh in pixels, then divided by (w, h, w, h) of ``HOITargets.size``,
    the order of DETR's ``Normalize`` transform, so values match the references bit for bit.

    Args:
        targets: ground truth of each image.
        label_space: provides the (verb, object) -> interaction map.
        interaction_columns: ``[I']`` label-space interaction indices covered by the model's
            interaction logits (e.g. the seen interactions of a zero-shot split); all if None.
    """
    out = []
    for t in targets:
        h_abs, o_abs = t.pair_boxes_xyxy()  # [M, 4] each, xyxy pixels
        height, width = t.size
        scale = torch.tensor([width, height, width, height], dtype=torch.float32,
                             device=h_abs.device)
        has_object = t.pair_idx[:, 1] >= 0
        obj_labels = t.pair_object_labels(no_object=label_space.num_objects)
        interactions = label_space.pair_interactions(t.verbs, obj_labels)  # [M, I]
        if interaction_columns is not None:
            interactions = interactions[:, interaction_columns.to(interactions.device)]
        out.append(PairTargets(
            h_boxes_cxcywh=box_xyxy_to_cxcywh(h_abs.float()) / scale,
            o_boxes_cxcywh=box_xyxy_to_cxcywh(o_abs.float()) / scale,
            obj_labels=obj_labels,
            has_object=has_object,
            interactions=interactions,
            verbs=t.verbs.float(),
        ))
    return out


class HungarianMatcher:
    """One-to-one assignment of query pairs to ground-truth pairs, per image.

    Args:
        label_space: classes of the targets.
        cost_obj_class: weight of ``-p(gt object class)`` (softmax over ``O + 1``).
        cost_interaction: weight of the interaction cost (see ``interaction_cost``).
        cost_bbox: weight of ``max(L1_h, L1_o)`` on normalized cxcywh boxes.
        cost_giou: weight of ``max(-GIoU_h, -GIoU_o)``.
        interaction_columns: see ``build_pair_targets``.

    HOICLIP/GEN-VLKT multiply the interaction cost by its weight twice (in ``forward`` and when
    summing); here it is applied once, which is the same at the recipe's weight of 1.
    """

    def __init__(self, label_space: LabelSpace, cost_obj_class: float = 1.0,
                 cost_interaction: float = 1.0, cost_bbox: float = 2.5, cost_giou: float = 1.0,
                 interaction_columns: Tensor | None = None) -> None:
        self.label_space = label_space
        self.cost_obj_class = cost_obj_class
        self.cost_interaction = cost_interaction
        self.cost_bbox = cost_bbox
        self.cost_giou = cost_giou
        self.interaction_columns = interaction_columns

    def pair_targets(self, targets: Sequence[HOITargets]) -> list[PairTargets]:
        return build_pair_targets(targets, self.label_space, self.interaction_columns)

    @torch.no_grad()
    def __call__(self, outputs: HOIRawOutput, targets: Sequence[HOITargets]) -> Indices:
        """Match every image; see ``match``."""
        return self.match(outputs, self.pair_targets(targets))

    @torch.no_grad()
    def cost_matrix(self, outputs: HOIRawOutput, targets: Sequence[PairTargets]) -> Tensor:
        """``[B, Q, M_total]`` cost of every query against every target pair of the batch."""
        batch, num_queries = outputs.obj_logits.shape[:2]
        logits = outputs.interaction_logits.flatten(0, 1).float()  # [BQ, I']
        tgt_inter = torch.cat([t.interactions for t in targets]).to(logits)  # [M, I']
        if logits.shape[-1] != tgt_inter.shape[-1]:
            raise OpenHOIError(
                f"interaction logits have {logits.shape[-1]} classes but the targets "
                f"{tgt_inter.shape[-1]}; pass interaction_columns for a class subset")
        tgt_obj = torch.cat([t.obj_labels for t in targets]).to(logits.device)  # [M]
        tgt_h = torch.cat([t.h_boxes_cxcywh for t in targets]).to(logits)  # [M, 4]
        tgt_o = torch.cat([t.o_boxes_cxcywh for t in targets]).to(logits)
        has_obj = torch.cat([t.has_object for t in targets]).to(logits.device)  # [M]

        cost_inter = interaction_cost(logits.sigmoid(), tgt_inter)  # [BQ, M]
        obj_prob = outputs.obj_logits.flatten(0, 1).float().softmax(-1)  # [BQ, O + 1]
        cost_obj = -obj_prob[:, tgt_obj]
        out_h = outputs.h_boxes_cxcywh.flatten(0, 1).float()  # [BQ, 4]
        out_o = outputs.o_boxes_cxcywh.flatten(0, 1).float()
        cost_l1_h = torch.cdist(out_h, tgt_h, p=1)
        cost_l1_o = torch.cdist(out_o, tgt_o, p=1) * has_obj.unsqueeze(0)
        cost_bbox = torch.max(cost_l1_h, cost_l1_o)
        cost_giou_h = -generalized_box_iou(box_cxcywh_to_xyxy(out_h), box_cxcywh_to_xyxy(tgt_h))
        # Pairs without object: the reference adds the human term to the (meaningless) object
        # GIoU against the all-zero box, then takes the max; reproduced as is.
        cost_giou_o = (-generalized_box_iou(box_cxcywh_to_xyxy(out_o), box_cxcywh_to_xyxy(tgt_o))
                       + cost_giou_h * (~has_obj).unsqueeze(0))
        cost_giou = torch.max(cost_giou_h, cost_giou_o)
        cost = (self.cost_interaction * cost_inter + self.cost_bbox * cost_bbox
                + self.cost_giou * cost_giou + self.cost_obj_class * cost_obj)
        return cost.view(batch, num_queries, -1)

    @torch.no_grad()
    def match(self, outputs: HOIRawOutput, targets: Sequence[PairTargets]) -> Indices:
        """Per image, ``(pred_idx [K], gt_idx [K])`` int64 CPU tensors, ``K = min(Q, M_i)``."""
        cost = self.cost_matrix(outputs, targets).cpu()  # [B, Q, M_total]
        sizes = [len(t) for t in targets]
        indices = []
        for i, c in enumerate(cost.split(sizes, dim=-1)):
            rows, cols = linear_sum_assignment(c[i].numpy())
            indices.append((torch.as_tensor(rows, dtype=torch.int64),
                            torch.as_tensor(cols, dtype=torch.int64)))
        return indices


def interaction_cost(probs: Tensor, targets: Tensor, eps: float = 1e-4) -> Tensor:
    """``[N, I] x [M, I] -> [N, M]``: minus the mean of the average predicted probability of
    the target's positive classes and the average complement over its negative classes.

    ``-(p @ t^T / (|t| + eps) + (1 - p) @ (1 - t)^T / (|1 - t| + eps)) / 2``, GEN-VLKT/HOICLIP's
    ``cost_hoi_class`` (QPIC's verb cost).
    """
    tgt = targets.transpose(0, 1)  # [I, M]
    pos = probs.matmul(tgt) / (tgt.sum(dim=0, keepdim=True) + eps)
    neg = (1 - probs).matmul(1 - tgt) / ((1 - tgt).sum(dim=0, keepdim=True) + eps)
    return -(pos + neg) / 2
