"""EZ-HOI's test-time scoring (UPT ``postprocessing``): for every pair and every verb valid
for its object, ``sigmoid(logit) * s_h^lambda * s_o^lambda`` with ``lambda = 2.8``
(``--hyper_lambda``), the interaction being (verb, object)."""

from __future__ import annotations

import torch
from torch import Tensor

from openhoi.label_space import LabelSpace
from openhoi.structures import HOIPredictions, HOIRawOutput


class EZHOIPostProcess:
    def __init__(self, space: LabelSpace, score_power: float = 2.8) -> None:
        self.table = space.interaction_table  # [V, O]
        self.human_label = space.human_label
        self.power = score_power

    @torch.no_grad()
    def __call__(self, raw: HOIRawOutput, orig_sizes: Tensor,
                 image_ids: list[str]) -> list[HOIPredictions]:
        out = []
        table = self.table.to(raw.verb_logits.device)
        for b, image_id in enumerate(image_ids):
            m = raw.extras["pair_mask"][b]
            obj = raw.extras["pair_objects"][b][m]  # [P]
            s = raw.extras["instance_scores"][b][m].pow(self.power).prod(-1)  # [P]
            inter = table[:, obj].T  # [P, V]
            pair, verb = (inter >= 0).nonzero(as_tuple=True)
            scores = torch.sigmoid(raw.verb_logits[b][m][pair, verb]) * s[pair]
            h, w = (float(v) for v in orig_sizes[b])
            wh = torch.tensor([w, h, w, h], device=obj.device)
            boxes = torch.cat([_xyxy(raw.h_boxes_cxcywh[b][m]), _xyxy(raw.o_boxes_cxcywh[b][m])])
            p = len(obj)
            labels = torch.cat([torch.full_like(obj, self.human_label), obj])
            pair_idx = torch.stack([pair, pair + p], -1)  # humans first, then objects
            out.append(HOIPredictions(boxes_xyxy=boxes * wh, labels=labels, pair_idx=pair_idx,
                                      interactions=inter[pair, verb], scores=scores.float(),
                                      image_id=image_id))
        return out


def _xyxy(cxcywh: Tensor) -> Tensor:
    return torch.cat([cxcywh[..., :2] - cxcywh[..., 2:] / 2, cxcywh[..., :2] + cxcywh[..., 2:] / 2],
                     -1)
