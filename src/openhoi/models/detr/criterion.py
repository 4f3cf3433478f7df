"""Set criterion of GEN-VLKT/HOICLIP: match, then object CE + interaction focal + box losses.

Mirrors ``SetCriterionHOI`` (``models/models_hoiclip/hoiclip.py``, ``models/gen_vlkt.py``): the
last decoder layer and, with ``aux_loss``, every intermediate layer are matched and penalised
separately (aux terms carry the suffix ``_{i}``). Returned values are already weighted; their
sum is the training loss. Model-specific terms (e.g. GEN-VLKT's feature-mimic loss) plug in as
``extra_terms`` with a weight, without subclassing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from openhoi.config import LossConfig, MatcherConfig
from openhoi.label_space import LabelSpace
from openhoi.models.detr.matcher import HungarianMatcher, Indices, PairTargets
from openhoi.ops.boxes import box_cxcywh_to_xyxy, elementwise_generalized_box_iou
from openhoi.ops.losses import clamped_sigmoid, cornernet_focal_loss
from openhoi.structures import HOIRawOutput, HOITargets

PairExtras = Callable[[Sequence[HOITargets]], list[dict[str, Tensor]]]
"""Per-pair tensors for loss terms: ``targets -> [{name: [M_i, ...]}]``, one dict per image
(merged into ``PairTargets.extras``)."""

LossTerm = Callable[[HOIRawOutput, Sequence[PairTargets], Indices, float], Tensor | None]
"""An extra loss: ``(layer_outputs, pair_targets, indices, num_pairs) -> scalar`` (unweighted),
or None where it does not apply to that output. It is called for the last layer and, with aux
losses, for each ``outputs.aux`` entry."""


def _src_idx(indices: Indices, device: torch.device) -> tuple[Tensor, Tensor]:
    """(batch index, query index) of every matched prediction, concatenated over images."""
    batch = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
    query = torch.cat([src for src, _ in indices])
    return batch.to(device), query.to(device)


def _gather(targets: Sequence[PairTargets], indices: Indices, field: str) -> Tensor:
    parts = [getattr(t, field)[j.to(getattr(t, field).device)] for t, (_, j) in
             zip(targets, indices)]
    return torch.cat(parts)


class SetCriterion(nn.Module):
    """Match predictions to targets and compute the weighted HOI losses.

    Args:
        matcher: the Hungarian matcher (it also provides the label space).
        weights: weight of each built-in term: ``obj_ce``, ``interaction``, ``verb``,
            ``bbox``, ``giou`` (a term with weight 0 is not computed).
        eos_coef: cross-entropy weight of the no-object class.
        focal_alpha: positive weight of the CornerNet focal loss.
        aux_loss: also penalise the layers in ``outputs.aux``.
        obj_box_normalizer: see ``LossConfig.obj_box_normalizer``.
        extra_terms: ``name -> (weight, LossTerm)``; reported as ``loss_{name}``.
        unseen_objects: ``[O]`` bool, object classes left out of the object cross-entropy's
            softmax (ViLD: classes never seen in training are not in the classifier), or None.
        pair_extras: fills ``PairTargets.extras`` for the extra terms, or None.
    """

    def __init__(self, matcher: HungarianMatcher, weights: Mapping[str, float],
                 eos_coef: float = 0.1, focal_alpha: float = 0.5, aux_loss: bool = True,
                 obj_box_normalizer: str = "pairs_with_object",
                 extra_terms: Mapping[str, tuple[float, LossTerm]] | None = None,
                 unseen_objects: Tensor | None = None,
                 pair_extras: PairExtras | None = None) -> None:
        super().__init__()
        self.pair_extras = pair_extras
        unknown = set(weights) - {"obj_ce", "interaction", "verb", "bbox", "giou"}
        if unknown:
            raise ValueError(f"unknown loss weights {sorted(unknown)}")
        if obj_box_normalizer not in ("pairs_with_object", "num_pairs"):
            raise ValueError(f"unknown obj_box_normalizer {obj_box_normalizer!r}")
        self.matcher = matcher
        self.weights = dict(weights)
        self.focal_alpha = focal_alpha
        self.aux_loss = aux_loss
        self.obj_box_normalizer = obj_box_normalizer
        self.extra_terms = {k: v for k, v in (extra_terms or {}).items() if v[0] != 0}
        num_objects = matcher.label_space.num_objects
        empty_weight = torch.ones(num_objects + 1)
        empty_weight[-1] = eos_coef
        self.register_buffer("empty_weight", empty_weight, persistent=False)
        if unseen_objects is not None and unseen_objects.any():
            mask = torch.cat([unseen_objects.bool(), torch.zeros(1, dtype=torch.bool)])
            self.register_buffer("unseen_objects", mask, persistent=False)  # [O + 1]
        else:
            self.unseen_objects = None

    def forward(self, outputs: HOIRawOutput, targets: Sequence[HOITargets],
                num_pairs: float) -> dict[str, Tensor]:
        """Weighted losses of the last layer (``loss_*``) and of each aux layer (``loss_*_{i}``).

        Args:
            outputs: raw model output (with ``aux`` when aux losses are on).
            targets: ground truth per image.
            num_pairs: number of ground-truth pairs in the global batch divided by the number
                of processes, at least 1 (the engine all-reduces it).
        """
        pair_targets = self.matcher.pair_targets(targets)
        if self.pair_extras is not None:
            for pt, extra in zip(pair_targets, self.pair_extras(targets)):
                pt.extras.update(extra)
        layers = [("", outputs)]
        if self.aux_loss:
            layers += [(f"_{i}", aux) for i, aux in enumerate(outputs.aux)]
        losses: dict[str, Tensor] = {}
        for suffix, layer in layers:
            layer = self.seen_columns(layer)
            indices = self.matcher.match(layer, pair_targets)
            for name, value in self.layer_losses(layer, pair_targets, indices, num_pairs).items():
                losses[f"loss_{name}{suffix}"] = value
        return losses

    def seen_columns(self, out: HOIRawOutput) -> HOIRawOutput:
        """``out`` with its interaction logits cut to the matcher's interaction columns when
        they cover the whole label space (a zero-shot run: HOICLIP's ``--del_unseen``
        trains the classifier rows of seen interactions only; unseen rows get no gradient)."""
        columns = self.matcher.interaction_columns
        num = self.matcher.label_space.num_interactions
        logits = out.interaction_logits
        if columns is None or logits.shape[-1] != num or len(columns) == num:
            return out
        return dataclasses.replace(out, interaction_logits=logits[..., columns.to(
            logits.device)])

    def layer_losses(self, out: HOIRawOutput, targets: Sequence[PairTargets], indices: Indices,
                     num_pairs: float) -> dict[str, Tensor]:
        """Weighted losses of one decoder layer, keyed by term name."""
        w = self.weights
        idx = _src_idx(indices, out.obj_logits.device)
        terms: dict[str, Tensor] = {}
        if w.get("obj_ce", 0):
            terms["obj_ce"] = w["obj_ce"] * self.obj_ce(out, targets, indices, idx)
        if w.get("interaction", 0):
            terms["interaction"] = w["interaction"] * self.multilabel_focal(
                out.interaction_logits, _gather(targets, indices, "interactions"), idx)
        if w.get("verb", 0) and out.verb_logits is not None:
            terms["verb"] = w["verb"] * self.multilabel_focal(
                out.verb_logits, _gather(targets, indices, "verbs"), idx)
        if w.get("bbox", 0) or w.get("giou", 0):
            for name, value in self.box_losses(out, targets, indices, idx, num_pairs).items():
                kind = "bbox" if name.endswith("bbox") else "giou"
                if w.get(kind, 0):
                    terms[name] = w[kind] * value
        for name, (weight, term) in self.extra_terms.items():
            value = term(out, targets, indices, num_pairs)
            if value is not None:
                terms[name] = weight * value
        return terms

    def obj_ce(self, out: HOIRawOutput, targets: Sequence[PairTargets], indices: Indices,
               idx: tuple[Tensor, Tensor]) -> Tensor:
        """Cross-entropy over ``O + 1`` classes; unmatched queries target no-object."""
        logits = out.obj_logits  # [B, Q, O + 1]
        if self.unseen_objects is not None:  # never-seen classes are not in the softmax
            logits = logits.masked_fill(self.unseen_objects.to(logits.device), float("-inf"))
        target = torch.full(logits.shape[:2], logits.shape[-1] - 1, dtype=torch.int64,
                            device=logits.device)
        target[idx] = _gather(targets, indices, "obj_labels").to(logits.device)
        weight = self.empty_weight.to(logits.dtype)
        return F.cross_entropy(logits.transpose(1, 2), target, weight)

    def multilabel_focal(self, logits: Tensor, matched: Tensor,
                         idx: tuple[Tensor, Tensor]) -> Tensor:
        """CornerNet focal loss on clamped sigmoids; unmatched queries are all-negative.

        Computed in float32: in float16, ``1 - 1e-4`` rounds to 1 and ``log(1 - p)`` to -inf.
        """
        logits = logits.float()
        target = torch.zeros_like(logits)  # [B, Q, C]
        target[idx] = matched.to(logits)
        return cornernet_focal_loss(clamped_sigmoid(logits), target, self.focal_alpha)

    def box_losses(self, out: HOIRawOutput, targets: Sequence[PairTargets], indices: Indices,
                   idx: tuple[Tensor, Tensor], num_pairs: float) -> dict[str, Tensor]:
        """Summed L1 and ``1 - GIoU`` of matched human and object boxes (unweighted)."""
        src_h = out.h_boxes_cxcywh[idx].float()  # [K, 4]
        src_o = out.o_boxes_cxcywh[idx].float()
        if src_h.shape[0] == 0:  # keeps the graph connected when nothing is matched
            zero = src_h.sum() + src_o.sum()
            return {"h_bbox": zero, "o_bbox": zero, "h_giou": zero, "o_giou": zero}
        tgt_h = _gather(targets, indices, "h_boxes_cxcywh").to(src_h)
        tgt_o = _gather(targets, indices, "o_boxes_cxcywh").to(src_o)
        has_obj = _gather(targets, indices, "has_object").to(src_o.device)  # [K]
        if self.obj_box_normalizer == "pairs_with_object":
            obj_norm = has_obj.sum() + 1e-4  # reference: local count of pairs with an object
        else:
            obj_norm = num_pairs
        giou_h = elementwise_generalized_box_iou(box_cxcywh_to_xyxy(src_h),
                                                 box_cxcywh_to_xyxy(tgt_h))
        giou_o = elementwise_generalized_box_iou(box_cxcywh_to_xyxy(src_o),
                                                 box_cxcywh_to_xyxy(tgt_o))
        # Where there is no object the target box is all zeros; mask (not index) the terms as
        # the reference does, with where() so a NaN GIoU there cannot leak into gradients.
        l1_o = F.l1_loss(src_o, tgt_o, reduction="none").sum(-1)
        return {
            "h_bbox": F.l1_loss(src_h, tgt_h, reduction="none").sum() / num_pairs,
            "o_bbox": torch.where(has_obj, l1_o, 0.0).sum() / obj_norm,
            "h_giou": (1 - giou_h).sum() / num_pairs,
            "o_giou": torch.where(has_obj, 1 - giou_o, 0.0).sum() / obj_norm,
        }


def build_criterion(matcher_cfg: MatcherConfig, loss_cfg: LossConfig, label_space: LabelSpace,
                    interaction_columns: Tensor | None = None,
                    extra_terms: Mapping[str, tuple[float, LossTerm]] | None = None,
                    unseen_objects: Tensor | None = None,
                    pair_extras: PairExtras | None = None) -> SetCriterion:
    """The criterion (with its matcher) of a config."""
    matcher = HungarianMatcher(label_space, matcher_cfg.cost_obj_class,
                               matcher_cfg.cost_interaction, matcher_cfg.cost_bbox,
                               matcher_cfg.cost_giou, interaction_columns)
    weights = {"obj_ce": loss_cfg.obj_ce, "interaction": loss_cfg.interaction,
               "verb": loss_cfg.verb, "bbox": loss_cfg.bbox, "giou": loss_cfg.giou}
    return SetCriterion(matcher, weights, loss_cfg.eos_coef, loss_cfg.focal_alpha,
                        loss_cfg.aux_loss, loss_cfg.obj_box_normalizer, extra_terms,
                        unseen_objects, pair_extras)
