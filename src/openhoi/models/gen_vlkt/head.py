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

import torch
from torch import Tensor, nn

from openhoi.models.detr.detector import DetectorOutput
from openhoi.models.detr.interaction_head import InteractionHeadOutput


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

    reads_clip = False
    """The head never reads CLIP's image tower (GEN-VLKT runs none at inference)."""

    def interact(self, det: DetectorOutput, clip_feats: object, clip: nn.Module
                 ) -> InteractionHeadOutput:
        """The head on the detector's output (``HOIDetector``); CLIP is not read."""
        return self(det.h_hs, det.o_hs, det.memory, det.memory_mask, det.memory_pos)

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
