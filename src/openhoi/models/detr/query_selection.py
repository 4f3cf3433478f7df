"""Image-dependent query centres from a human-centre heat map on the encoder memory.

With learned static centres (``openhoi.models.detr.spatial_prior``) every query looks at the same
place in every image, and a detector trained from scratch needs thousands of steps before
its queries move to where the people are. Here a small head scores every memory cell as the
centre of a human (a CenterNet heat map, Zhou et al., "Objects as Points", 2019, trained
densely with its penalty-reduced focal loss, ``centre_heatmap_loss``); the ``Q`` highest
local maxima become the centres of the ``Q`` query pairs, and each pair starts from the memory
feature at its cell (the two-stage query selection of Deformable DETR, Zhu et al., ICLR 2021,
Sec. 4.2, and DINO, Zhang et al., ICLR 2023, Sec. 3.4). Selection is not differentiable: the
heat map learns from its own loss only, and the centres enter the decoder detached.

The human and object query of a pair share the centre; the object query's attention prior
starts twice as wide (``InstanceDecoder``), so the decoder finds the object around its person
(and, with ``box_refine``, re-centres on it). The same head predicts a second heat map, of the
pairs' object centres, trained with the same loss but not used for selection: dense
supervision that teaches the memory where the (small) objects are. On the synthetic recipe it
took the held-out mAP of a second training seed from 0.73% to 5.9% (README, "The demo").
Predicting a human-to-object offset at the centre cell (PPDM-style) was tried and made the
recipe worse: the offsets learn slowly and a wrong one starts the object query away from its
object. Not part of HOICLIP or GEN-VLKT: ``model.detector.query_selection`` is off in their
recipes and on in the synthetic ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from openhoi.models.detr.heads import MLP
from openhoi.models.detr.matcher import Indices, PairTargets
from openhoi.models.detr.spatial_prior import unpadded_size
from openhoi.ops.losses import gaussian_focal_loss
from openhoi.structures import HOIRawOutput


@dataclass
class Selection:
    """Selected query centres of a batch.

    Attributes:
        logits: ``[B, h, w]`` human-centre heat-map logits (padding at -inf).
        valid: ``[B, h, w]`` bool, True on unpadded cells.
        centres: ``[B, k, 2]`` (x, y) of the selected cells, normalised by the unpadded size.
        index: ``[B, k]`` flat memory index of the selected cells.
        object_logits: ``[B, h, w]`` object-centre heat-map logits (an auxiliary target).
    """

    logits: Tensor
    valid: Tensor
    centres: Tensor
    index: Tensor
    object_logits: Tensor | None = None


class CentreSelection(nn.Module):
    """Heat-map head on the memory and top-``k`` peak selection (module docstring).

    Args:
        dim: memory width ``D``.
        prior_prob: initial peak probability of every cell (the last bias starts at
            ``-log((1 - p) / p)``, RetinaNet's focal-loss initialisation).
    """

    def __init__(self, dim: int, prior_prob: float = 0.01) -> None:
        super().__init__()
        self.head = MLP(dim, dim, 2, 2)  # human-centre and object-centre logits
        nn.init.constant_(self.head.layers[-1].bias, -math.log((1 - prior_prob) / prior_prob))

    def forward(self, memory: Tensor, padding_mask: Tensor, feature_size: tuple[int, int],
                k: int) -> Selection:
        """Score the memory cells and select ``k`` centres.

        Args:
            memory: ``[B, h * w, D]`` encoder output.
            padding_mask: ``[B, h * w]`` True on padding.
            feature_size: ``(h, w)``.
            k: number of centres (query pairs).
        """
        h, w = feature_size
        b = memory.shape[0]
        valid = ~padding_mask.view(b, h, w)
        both = self.head(memory).view(b, h, w, 2).float()
        both = both.masked_fill(~valid[..., None], float("-inf"))
        logits, object_logits = both[..., 0], both[..., 1]
        # Local maxima (3x3) first, by score; then the other cells, by score.
        peak = logits == F.max_pool2d(logits[:, None], 3, stride=1, padding=1)[:, 0]
        rank = torch.where(peak, logits, logits - 1e4).flatten(1)  # [B, h * w]
        index = rank.topk(min(k, h * w), dim=1).indices  # [B, k]
        if index.shape[1] < k:  # fewer cells than queries: repeat the best ones
            index = index[:, torch.arange(k, device=index.device) % index.shape[1]]
        valid_w, valid_h = unpadded_size(valid)  # [B] each
        rows, cols = index // w, index % w
        centres = torch.stack([(cols + 0.5) / valid_w[:, None], (rows + 0.5) / valid_h[:, None]],
                              -1).clamp(1e-3, 1 - 1e-3)  # [B, k, 2]
        return Selection(logits, valid, centres, index, object_logits)


def _peak_cell(cx: float, cy: float, vw: float, vh: float) -> tuple[int, int]:
    """(column, row) of the cell holding a normalised point, inside the unpadded grid."""
    return min(max(int(cx * vw), 0), int(vw) - 1), min(max(int(cy * vh), 0), int(vh) - 1)


def centre_targets(boxes_cxcywh: Sequence[Tensor], valid: Tensor) -> Tensor:
    """``[B, h, w]`` Gaussian heat-map targets of boxes (humans, or the pairs' objects), 1 at
    each centre's cell.

    Each box adds ``exp(-d^2 / 2 sigma^2)`` around the cell holding its centre, ``d`` in
    cells, ``sigma`` a sixth of the box's shorter side in cells (at least 0.5; CenterNet's
    size-adaptive radius, simplified); overlapping boxes take the maximum.

    Args:
        boxes_cxcywh: per image ``[M, 4]`` boxes normalised by the unpadded size.
        valid: ``[B, h, w]`` bool, True on unpadded cells.
    """
    b, h, w = valid.shape
    out = torch.zeros(b, h, w, device=valid.device)
    ys = torch.arange(h, device=valid.device, dtype=torch.float32)[:, None]
    xs = torch.arange(w, device=valid.device, dtype=torch.float32)[None]
    sizes = torch.stack(unpadded_size(valid), -1).tolist()  # [B] of (width, height)
    for i, boxes in enumerate(boxes_cxcywh):
        vw, vh = sizes[i]
        for cx, cy, bw, bh in boxes.float().tolist():
            px, py = _peak_cell(cx, cy, vw, vh)
            sigma = max(0.5, min(bw * vw, bh * vh) / 6)
            g = torch.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2 * sigma**2))
            out[i] = torch.maximum(out[i], g)
            out[i, py, px] = 1.0
    return out * valid


def centre_heatmap_loss(out: HOIRawOutput, targets: Sequence[PairTargets], indices: Indices,
                        num_pairs: float) -> Tensor | None:
    """The heat maps' focal loss (``gaussian_focal_loss``): human map on the human boxes of the
    pairs plus object map on their object boxes; None on outputs without a heat map (other
    models, the aux decoder layers)."""
    logits = out.extras.get("centre_logits")
    if logits is None:
        return None
    valid = out.extras["centre_valid"]
    goal = centre_targets([t.h_boxes_cxcywh for t in targets], valid)
    probs = logits.float().sigmoid().clamp(1e-4, 1 - 1e-4)
    loss = gaussian_focal_loss(probs, goal, valid)
    obj = out.extras.get("object_centre_logits")
    if obj is not None:
        goal = centre_targets([t.o_boxes_cxcywh[t.has_object] for t in targets], valid)
        probs = obj.float().sigmoid().clamp(1e-4, 1 - 1e-4)
        loss = loss + gaussian_focal_loss(probs, goal, valid)
    return loss

