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


def lse_sign_loss(logits: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    r"""DEFR's LSE-Sign loss, ``L = log(1 + sum_j exp(-y_j s_j))`` over non-ignored classes.

    DEFR (Jin et al., 2022, eq. 4) replaces the per-class BCE of a multi-label classifier by
    one log-sum-exp over all classes of an image, so that the largest violations dominate and
    every class competes against the same margin 0.

    Derivation of the stable form: with ``y_j in {+1, -1}`` and scores ``s_j``,

    .. math::
        L = \log\Big(e^0 + \sum_j e^{-y_j s_j}\Big) = \operatorname{LSE}(0, -y_1 s_1, \dots,
        -y_C s_C),

    and ``LSE(z) = m + log sum_k exp(z_k - m)`` with ``m = max_k z_k`` never overflows (every
    exponent is <= 0) and never loses the leading term (the maximum contributes exp(0) = 1).
    An ignored class (``y_j = 0``, HICO's ambiguous label) contributes ``exp(-inf) = 0``: its
    entry is set to ``-inf`` before the LSE, which also gives it a zero gradient. Because the
    constant entry 0 is always present the LSE is finite even when every class is ignored
    (then ``L = log 1 = 0``). The gradient is ``dL/ds_j = -y_j softmax(z)_j``: bounded by 1.

    DEFR's ``criterion.py`` ``SignLoss`` computes the same LSE but flips only ``targets == 1``,
    so its ambiguous labels (set to 0 by its data loader) count as negatives; here 0 means
    "ignore" as the HICO protocol and the issue ask (pass -1 to reproduce DEFR exactly).

    Args:
        logits: ``[B, C]`` scores ``s``.
        targets: ``[B, C]`` in {1, -1, 0}: positive, negative, ignored.
        reduction: ``mean`` over images (DEFR's ``loss.mean()``), ``sum`` or ``none`` (``[B]``).

    Returns:
        A scalar (``mean``/``sum``) or the ``[B]`` per-image losses.
    """
    if logits.shape != targets.shape or logits.dim() != 2:
        raise ValueError(f"lse_sign_loss: logits {tuple(logits.shape)} and targets "
                         f"{tuple(targets.shape)} must both be [B, C]")
    z = -targets.to(logits.dtype) * logits  # [B, C], -y_j s_j
    z = z.masked_fill(targets == 0, float("-inf"))  # ignored classes drop out of the sum
    zero = z.new_zeros(z.shape[0], 1)  # [B, 1], the "1 +" term
    per_image = torch.logsumexp(torch.cat([zero, z], dim=1), dim=1)  # [B]
    return _reduce(per_image, reduction)


def masked_bce_loss(logits: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy with logits over targets in {1, -1, 0 = ignored}.

    ``mean`` averages over the non-ignored entries (DEFR's ``nn.BCEWithLogitsLoss()`` averages
    over every entry, its ambiguous labels counting as negatives); ``none`` gives ``[B]`` sums.
    """
    if logits.shape != targets.shape or logits.dim() != 2:
        raise ValueError(f"masked_bce_loss: logits {tuple(logits.shape)} and targets "
                         f"{tuple(targets.shape)} must both be [B, C]")
    keep = targets != 0  # [B, C]
    per_entry = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, (targets > 0).to(logits.dtype), reduction="none") * keep
    if reduction == "mean":
        return per_entry.sum() / keep.sum().clamp(min=1)
    return _reduce(per_entry.sum(1), reduction)


def multilabel_softmax_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Softmax cross-entropy against an image's positives as a uniform distribution.

    CLIP-Adapter (Gao et al.) trains with ``F.cross_entropy(logits, label)`` on single-label
    datasets. The multi-label form of Mahajan et al. (ECCV 2018, "Exploring the limits of
    weakly supervised pretraining", Sec. 2) keeps the softmax: ``L = -sum_j q_j log
    softmax(s)_j`` with ``q`` uniform over the image's positives, which is exactly CLIP-Adapter's
    loss when an image has one label. Like CLIP's own training objective it depends only on
    score differences, so a frozen, bias-free cosine classifier needs no absolute margin (BCE
    and LSE-Sign compare every score with 0).

    Args:
        logits: ``[B, C]`` scores.
        targets: ``[B, C]`` in {1, -1, 0}: positive, negative, ignored (ignored classes leave
            the softmax).

    Returns:
        The mean over images with at least one positive (0, with a gradient, when none has).
    """
    if logits.shape != targets.shape or logits.dim() != 2:
        raise ValueError(f"multilabel_softmax_loss: logits {tuple(logits.shape)} and targets "
                         f"{tuple(targets.shape)} must both be [B, C]")
    pos = (targets > 0).to(logits.dtype)  # [B, C]
    has = pos.sum(1) > 0  # [B]
    if not has.any():
        return logits.sum() * 0.0
    log_p = logits.masked_fill(targets == 0, float("-inf"))[has].log_softmax(1)  # [B', C]
    q = pos[has] / pos[has].sum(1, keepdim=True)  # [B', C], uniform over positives
    return -(q * log_p.masked_fill(q == 0, 0.0)).sum(1).mean()


def _reduce(per_image: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return per_image.mean()
    if reduction == "sum":
        return per_image.sum()
    if reduction == "none":
        return per_image
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
