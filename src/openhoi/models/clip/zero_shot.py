"""HOICLIP's training-free zero-shot enhancement (HOICLIP Sec. 3.4).

The model scores the whole image against every interaction's text embedding with CLIP's
global feature V_g (S_zs, ``ZeroShotScorer``, put in ``HOIRawOutput.extras["zs_logits"]``);
the post-processor keeps each image's k best, zeroes the rest and adds sigmoid(S_zs) to the
interaction scores of every pair of that image (``enhance_scores``).

Reference: ``clip_hoi_score`` in HOICLIP's ``models/models_hoiclip/gen.py`` and the top-k
step in ``engine.evaluate_hoi``. As there, the zeroed classes still receive sigmoid(0) = 0.5:
a constant per image, which does not change any ranking inside a class.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from openhoi.structures import HOIRawOutput


class ZeroShotScorer(nn.Module):
    """S_zs = cos(V_g, T_i) for every interaction i: ``[B, E] -> [B, I]``.

    ``text_embed`` (``[I, E]``) are CLIP text embeddings of every interaction of the label
    space, seen and unseen; they are stored normalised and never trained.
    """

    def __init__(self, text_embed: Tensor) -> None:
        super().__init__()
        self.register_buffer("text_embed", F.normalize(text_embed.float(), dim=-1))

    def forward(self, image_embed: Tensor) -> Tensor:
        """``image_embed``: ``[B, E]`` CLIP image embedding V_g (any norm) -> ``[B, I]``."""
        return F.normalize(image_embed, dim=-1) @ self.text_embed.t().to(image_embed.dtype)


def zero_shot_prior(zs_logits: Tensor, topk: int) -> Tensor:
    """``[B, I]`` sigmoid of S_zs with all but each image's ``topk`` best classes zeroed."""
    k = min(topk, zs_logits.shape[-1])
    keep = torch.zeros_like(zs_logits, dtype=torch.bool)
    keep.scatter_(-1, zs_logits.topk(k, dim=-1).indices, True)
    return torch.where(keep, zs_logits, torch.zeros_like(zs_logits)).sigmoid()


def enhance_scores(interaction_scores: Tensor, zs_logits: Tensor, topk: int) -> Tensor:
    """Add the top-k CLIP interaction prior of each image to each of its pairs.

    Args:
        interaction_scores: ``[B, Q, I]`` sigmoid of the interaction logits, before any
            product or sum with object scores.
        zs_logits: ``[B, I]`` S_zs from ``ZeroShotScorer``.
        topk: k; the other classes of an image get S_zs = 0 (then sigmoid(0) = 0.5).

    Returns:
        ``[B, Q, I]`` ``interaction_scores + sigmoid(S_zs with all but the top-k zeroed)``.
    """
    prior = zero_shot_prior(zs_logits, topk)  # [B, I]
    return interaction_scores + prior.unsqueeze(1).to(interaction_scores.dtype)


class ZeroShotEnhancement:
    """The post-processor's score term (``openhoi.models.detr.postprocess.ScoreTerm``): the prior
    of ``zero_shot_prior`` from ``outputs.extras["zs_logits"]``, ``[B, 1, I]``, added to the
    interaction probabilities of every pair before they meet the object scores."""

    def __init__(self, topk: int) -> None:
        if topk < 1:
            raise ValueError(f"topk must be >= 1, got {topk}")
        self.topk = topk

    def __call__(self, outputs: HOIRawOutput) -> Tensor:
        zs_logits = outputs.extras.get("zs_logits")
        if zs_logits is None:
            raise ValueError("the zero-shot enhancement needs extras['zs_logits'] (S_zs), "
                             "which this model's output does not carry")
        return zero_shot_prior(zs_logits.float(), self.topk).unsqueeze(1)  # [B, 1, I]

    def __repr__(self) -> str:
        return f"ZeroShotEnhancement(topk={self.topk})"
