"""GEN-VLKT's interaction branch, the baseline HOICLIP is compared with (Liao et al., 2022).

The guided-embedding interaction decoder (GEN): zero-initialised interaction queries whose
positional query at layer l is the mean of the human and object outputs of instance-decoder
layer l, attending to the detector memory (no CLIP tokens). Its outputs are mapped to CLIP's
embedding space (Linear + LayerNorm), L2-normalised and scored by the text-initialised
interaction classifier times a learnable scale. The mean feature over queries is pulled
towards CLIP's image embedding by the criterion's feature-mimic loss (VLKT).

Reference: ``GEN.forward`` (``models/gen.py``) and ``GEN_VLKT.forward``
(``models/gen_vlkt.py``) of YueLiao/gen-vlkt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from openhoi.models.detr.interaction_head import InteractionHeadOutput
from openhoi.models.detr.matcher import Indices, PairTargets
from openhoi.structures import HOIRawOutput


class GenVLKTHead(nn.Module):
    """The interaction branch of GEN-VLKT.

    Args:
        decoder: GEN's interaction decoder, called as
            ``decoder(tgt [B, Q, D], memory [B, S, D], memory_mask [B, S], memory_pos [B, S, D],
            query_pos [L, B, Q, D]) -> [L, B, Q, D]`` with layer ``l`` using ``query_pos[l]``
            and every output passed through the decoder's final LayerNorm.
        hidden_dim: D.
        embed_dim: E, CLIP's embedding width.
        classifier: ``[..., E] -> [..., I]`` unscaled cosine logits (``CosineClassifier``
            without its own scale), text-initialised.
        init_temperature: the logit scale starts at ``log(1 / init_temperature)``.
    """

    def __init__(
        self,
        decoder: nn.Module,
        hidden_dim: int,
        embed_dim: int,
        classifier: nn.Module,
        init_temperature: float = 0.07,
    ) -> None:
        super().__init__()
        self.decoder = decoder
        # GEN-VLKT ``hoi_class_fc``: interaction feature -> CLIP embedding space.
        self.embed = nn.Sequential(nn.Linear(hidden_dim, embed_dim), nn.LayerNorm(embed_dim))
        self.classifier = classifier
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    def forward(
        self,
        h_hs: Tensor,
        o_hs: Tensor,
        memory: Tensor,
        memory_padding_mask: Tensor,
        memory_pos: Tensor,
    ) -> InteractionHeadOutput:
        """Score every query pair.

        Args:
            h_hs: ``[L, B, Q, D]`` human outputs of every instance-decoder layer.
            o_hs: ``[L, B, Q, D]`` object outputs of every instance-decoder layer.
            memory: ``[B, S, D]`` detector encoder memory.
            memory_padding_mask: ``[B, S]`` bool, True on padding.
            memory_pos: ``[B, S, D]`` position encoding of the memory.
        """
        guided = (h_hs + o_hs) / 2.0  # [L, B, Q, D] GEN's position-guided interaction queries
        tgt = torch.zeros_like(guided[0])  # [B, Q, D]
        out = self.decoder(tgt, memory, memory_padding_mask, memory_pos, guided)  # [L, B, Q, D]
        features = self.embed(out)  # [L, B, Q, E]
        logits = self.logit_scale.exp() * self.classifier(features)
        return InteractionHeadOutput(logits, features)


def feature_mimic_loss(outputs: HOIRawOutput, targets: Sequence[PairTargets], indices: Indices,
                       num_pairs: float) -> Tensor:
    """GEN-VLKT's feature-mimic loss of one decoder layer (a criterion ``LossTerm``).

    ``L1(mean over queries of the interaction features, CLIP image embedding)``, elementwise
    mean over ``[B, E]``, CLIP's side without gradient (GEN-VLKT ``SetCriterionHOI.mimic_loss``:
    ``F.l1_loss(inter_memory.mean(1), clip_model.encode_image(clip_inputs))``). The features
    are ``extras["interaction_features"]`` (before L2 normalisation) and the target
    ``extras["clip_image_embed"]`` (V_g, not normalised). Matching plays no part.
    """
    features = outputs.extras["interaction_features"]  # [B, Q, E]
    target = outputs.extras["clip_image_embed"].detach()  # [B, E]
    return F.l1_loss(features.mean(dim=1), target.to(features.dtype))
