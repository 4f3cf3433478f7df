"""EZ-HOI's two training terms (``UPT.compute_interaction_loss`` and the ``sem_loss`` of
``UPT.forward``).

1. Interaction: binary focal loss (alpha 0.5, gamma 0.2; pocket's
   ``binary_focal_loss_with_logits``) on UPT's prior-weighted logit
   ``log(p / (1 + exp(-x) - p) + 1e-8)`` (the logit of ``sigmoid(x) * p``), over the (pair,
   verb) entries whose prior ``p = s_h * s_o`` is non-zero, summed and divided by the number
   of positives. In zero-shot training the prior is zero on unseen (verb, object) classes
   (EZ-HOI's ``zs_object_to_target``).
2. Semantic: ``150 * KL(softmax(cos(frozen description features) / 0.1) ||
   softmax(cos(learned text features) / 0.1))`` summed over rows and divided by the table
   size (EZ-HOI ``kl_loss``: ``F.kl_div(log_softmax(learned/T), log_softmax(frozen/T),
   log_target=True, reduction='sum') / numel``), over three groups averaged: the batch's
   ground-truth classes (one row per annotation, repeats kept), the unseen classes sharing an
   object with them, and both together; the seen group alone when no unseen class relates.
   EZ-HOI indexes its class tables with verb ids there (``hoitxt_features[targets['verb']]``);
   here the rows are the classes themselves, restricted to the prompted ones.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from openhoi.label_space import LabelSpace
from openhoi.models.ez_hoi.pairs import associate
from openhoi.structures import HOIRawOutput, HOITargets


def binary_focal_loss_with_logits(x: Tensor, y: Tensor, alpha: float, gamma: float,
                                  eps: float = 1e-6) -> Tensor:
    """pocket's focal loss, summed: ``|1 - y - alpha| * (|y - sigmoid(x)| + eps)^gamma * BCE``."""
    weight = (1 - y - alpha).abs() * ((y - torch.sigmoid(x)).abs() + eps) ** gamma
    return (weight * F.binary_cross_entropy_with_logits(x, y, reduction="none")).sum()


def similarity_kl(learned: Tensor, frozen: Tensor, temperature: float) -> Tensor:
    """EZ-HOI ``kl_loss(cal_similarity(learned), cal_similarity(frozen))``."""
    a, b = F.normalize(learned, dim=-1), F.normalize(frozen, dim=-1)
    sim_l, sim_f = a @ a.T, b @ b.T
    kl = F.kl_div(F.log_softmax(sim_l / temperature, 1), F.log_softmax(sim_f / temperature, 1),
                  reduction="sum", log_target=True)
    return kl / sim_l.numel()


class EZHOICriterion(nn.Module):
    """Interaction focal loss + semantic KL.

    Args:
        space: label space.
        seen: ``[I]`` bool, interactions present in training (all True without zero-shot).
    """

    def __init__(self, space: LabelSpace, seen: Tensor, alpha: float = 0.5, gamma: float = 0.2,
                 fg_iou: float = 0.5, semantic_weight: float = 150.0,
                 temperature: float = 0.1) -> None:
        super().__init__()
        table = space.interaction_table  # [V, O]
        allowed = (table >= 0) & seen[table.clamp(min=0)]
        self.register_buffer("object_to_verbs", allowed.T.contiguous())  # [O, V]
        self.register_buffer("seen", seen)
        self.register_buffer("interaction_object", space.interaction_object)
        self.space = space
        self.alpha, self.gamma, self.fg_iou = alpha, gamma, fg_iou
        self.semantic_weight, self.temperature = semantic_weight, temperature

    def forward(self, raw: HOIRawOutput, targets: list[HOITargets],
                num_pairs: float) -> dict[str, Tensor]:
        terms = {"interaction": self.interaction_loss(raw, targets)}
        if self.semantic_weight > 0:
            terms["semantic"] = self.semantic_weight * self.semantic_loss(raw, targets)
        return terms

    def interaction_loss(self, raw: HOIRawOutput, targets: list[HOITargets]) -> Tensor:
        logits, labels, priors = [], [], []
        for b, t in enumerate(targets):
            m = raw.extras["pair_mask"][b]
            obj = raw.extras["pair_objects"][b][m]
            s = raw.extras["instance_scores"][b][m]  # [P, 2]
            wh = torch.tensor([t.size[1], t.size[0]], device=s.device).float().repeat(2)
            h = (raw.h_boxes_cxcywh[b][m]), (raw.o_boxes_cxcywh[b][m])
            h_xyxy, o_xyxy = (_xyxy(x) * wh for x in h)
            gt_h, gt_o = t.pair_boxes_xyxy()
            labels.append(associate(h_xyxy, o_xyxy, gt_h, gt_o, t.verbs, self.fg_iou))
            priors.append(self.object_to_verbs[obj].float() * s.prod(-1, keepdim=True))
            logits.append(raw.verb_logits[b][m])
        prior, y, x = torch.cat(priors), torch.cat(labels), torch.cat(logits)
        keep = prior > 0
        prior, y, x = prior[keep], y[keep], x[keep]
        n_pos = int(y.sum())
        z = torch.log(prior / (1 + torch.exp(-x) - prior) + 1e-8)  # logit of sigmoid(x) * prior
        loss = binary_focal_loss_with_logits(z, y, self.alpha, self.gamma)
        return loss / n_pos if n_pos else loss * 0.0

    def semantic_loss(self, raw: HOIRawOutput, targets: list[HOITargets]) -> Tensor:
        text = raw.extras["text_features"]  # [C, E]
        desc = raw.extras["class_descriptions"]  # [C, E]
        index = raw.extras["class_index"]  # [C]
        row_of = torch.full((self.space.num_interactions,), -1, dtype=torch.long,
                            device=text.device)
        row_of[index] = torch.arange(len(index), device=text.device)
        gt = torch.cat([self._gt_interactions(t) for t in targets])  # [A]
        seen_rows = row_of[gt]
        seen_rows = seen_rows[seen_rows >= 0]
        if len(seen_rows) == 0:
            return text.sum() * 0.0
        loss = similarity_kl(text[seen_rows], desc[seen_rows], self.temperature)
        objects = self.interaction_object[gt].unique()
        unseen = (~self.seen[index]) & torch.isin(self.interaction_object[index], objects)
        unseen_rows = unseen.nonzero().squeeze(1)
        if len(unseen_rows) == 0:
            return loss
        both = torch.cat([seen_rows, unseen_rows])
        return (loss + similarity_kl(text[unseen_rows], desc[unseen_rows], self.temperature)
                + similarity_kl(text[both], desc[both], self.temperature)) / 3

    def _gt_interactions(self, t: HOITargets) -> Tensor:
        """Interaction of every annotated (pair, verb), repeats kept."""
        obj = t.pair_object_labels(-1)
        rows, verbs = t.verbs.nonzero(as_tuple=True)
        table = self.space.interaction_table.to(obj.device)
        inter = table[verbs, obj[rows].clamp(min=0)]
        return inter[(obj[rows] >= 0) & (inter >= 0)]


def _xyxy(cxcywh: Tensor) -> Tensor:
    return torch.cat([cxcywh[..., :2] - cxcywh[..., 2:] / 2, cxcywh[..., :2] + cxcywh[..., 2:] / 2],
                     -1)
