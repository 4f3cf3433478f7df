"""Loss functions shared by HOI criteria (pure functions, no module state)."""

from __future__ import annotations

import torch
from torch import Tensor


def clamped_sigmoid(logits: Tensor, eps: float = 1e-4) -> Tensor:
    """``sigmoid`` clamped to ``[eps, 1 - eps]`` so the focal loss's logs stay finite.

    GEN-VLKT/HOICLIP ``_sigmoid`` (``models/gen_vlkt.py``), applied before the interaction loss.
    """
    return logits.sigmoid().clamp(min=eps, max=1 - eps)


def cornernet_focal_loss(probs: Tensor, targets: Tensor, alpha: float = 0.5) -> Tensor:
    """CornerNet-style modified focal loss with a positive/negative balance ``alpha``.

    ``-[sum_pos alpha (1-p)^2 log p + sum_neg (1-alpha) p^2 log(1-p)] / num_pos``, and the
    un-normalised negative sum when there is no positive. Exactly ``SetCriterionHOI._neg_loss``
    of GEN-VLKT/HOICLIP (``models/gen_vlkt.py``; GEN-VLKT Sec. 3.4 / QPIC's verb loss):
    positives are entries equal to 1, negatives entries below 1, ``num_pos`` counts the
    positives of the whole tensor.

    Args:
        probs: probabilities in (0, 1), any shape.
        targets: same shape, values in [0, 1].
        alpha: weight of the positive term; the negative term gets ``1 - alpha``.

    Returns:
        A scalar tensor.
    """
    pos = targets.eq(1).to(probs.dtype)
    neg = targets.lt(1).to(probs.dtype)
    pos_loss = (alpha * torch.log(probs) * torch.pow(1 - probs, 2) * pos).sum()
    neg_loss = ((1 - alpha) * torch.log(1 - probs) * torch.pow(probs, 2) * neg).sum()
    # With no positive, pos_loss is 0 and the clamp makes this the plain -neg_loss (no sync).
    return -(pos_loss + neg_loss) / pos.sum().clamp(min=1)


def gaussian_focal_loss(probs: Tensor, targets: Tensor, valid: Tensor | None = None,
                        alpha: float = 2.0, beta: float = 4.0) -> Tensor:
    """CenterNet's penalty-reduced focal loss on a heat map with Gaussian targets.

    ``-1/N sum (1-p)^alpha log p`` over peaks (``targets == 1``) ``+ (1-y)^beta p^alpha
    log(1-p)`` over every other cell, ``N`` = number of peaks (at least 1) (Zhou et al.,
    "Objects as Points", 2019, eq. 1).

    Args:
        probs: probabilities in (0, 1), any shape.
        targets: same shape, in [0, 1]; 1 exactly at the peaks.
        valid: same shape, bool; cells outside (image padding) do not count.
    """
    pos = targets.eq(1)
    neg = ~pos
    if valid is not None:
        pos, neg = pos & valid, neg & valid
    pos_loss = (torch.log(probs) * (1 - probs).pow(alpha))[pos].sum()
    neg_loss = (torch.log(1 - probs) * probs.pow(alpha) * (1 - targets).pow(beta))[neg].sum()
    return -(pos_loss + neg_loss) / pos.sum().clamp(min=1)
