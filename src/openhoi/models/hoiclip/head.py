"""HOICLIP's interaction branch: Q_inter, knowledge integration, classifiers (HOICLIP Sec. 3).

From the instance decoder's last human/object outputs it builds Q_inter (eq. 4), decodes it
against CLIP's spatial tokens V_s and the projected detector memory V_d' (eq. 3, 5), projects
O_inter into CLIP's embedding space with CLIP's own visual projection, and scores it with the
text-initialised interaction classifier (eq. 9) plus alpha times the verb adapter's S_v
(eq. 7-8, 10).

Reference: ``HOICLIP.forward`` (``models/models_hoiclip/hoiclip.py``) and ``GEN.forward``
(``models/models_hoiclip/gen.py``) of Artanic30/HOICLIP.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from openhoi.label_space import LabelSpace
from openhoi.models.clip.clip_knowledge import ClipVisualFeatures
from openhoi.models.detr.detector import DetectorOutput
from openhoi.models.detr.interaction_head import InteractionHeadOutput
from openhoi.models.detr.retarget import rows
from openhoi.models.hoiclip.interaction_decoder import DetectorMemoryProjection, InteractionDecoder
from openhoi.models.hoiclip.verb_adapter import VerbAdapter


class HOICLIPHead(nn.Module):
    """The interaction branch of HOICLIP.

    Args:
        query_builder: ``(h [B, Q, D], o [B, Q, D]) -> [B, Q, W]`` (eq. 4 or variant (b)).
        memory_proj: V_d' of eq. 3, ``[B, S, D] -> [B, S, W]``.
        decoder: the interaction decoder, ``-> [L, B, Q, W]``.
        classifier: ``[..., E] -> [..., I]`` unscaled cosine logits (``CosineClassifier``
            without its own scale): the text-initialised interaction classifier, eq. 9.
        verb_adapter: the verb adapter (eq. 7-8), or None to drop S_v.
        verb_weight: alpha of eq. 10.
        init_temperature: the shared logit scale starts at ``log(1 / init_temperature)``.
        mask_detector_padding: hide padded memory positions from the V_d' cross-attention
            (the reference does not: false reproduces it).
        adapter: ``[..., E] -> [..., E]`` applied to O_inter in CLIP space before both
            classifiers (CLIP-Adapter, ``openhoi.models.clip.adapter``), or None.
    """

    def __init__(
        self,
        query_builder: nn.Module,
        memory_proj: DetectorMemoryProjection,
        decoder: InteractionDecoder,
        classifier: nn.Module,
        verb_adapter: VerbAdapter | None = None,
        verb_weight: float = 0.5,
        init_temperature: float = 0.07,
        mask_detector_padding: bool = True,
        adapter: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.adapter = adapter
        self.mask_detector_padding = mask_detector_padding
        self.query_builder = query_builder
        self.memory_proj = memory_proj
        self.decoder = decoder
        self.classifier = classifier
        self.verb_adapter = verb_adapter
        self.verb_weight = verb_weight
        # One scale for S_inter and S_v, as the reference's ``logit_scale``.
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        # The reference Xavier-initialises every matrix of its transformer module, which
        # holds the Q_inter and V_d' projections too.
        for module in (self.query_builder, self.memory_proj):
            for name, p in module.named_parameters():
                if p.dim() > 1 and name != "mix":
                    nn.init.xavier_uniform_(p)

    reads_clip = True
    """``HOIDetector`` runs CLIP's image tower for this head (it attends to V_s)."""

    def interact(self, det: DetectorOutput, clip_feats: ClipVisualFeatures,
                 clip: nn.Module) -> InteractionHeadOutput:
        """The head on the detector's output and CLIP's image features (``HOIDetector``)."""
        return self(det.h_hs[-1], det.o_hs[-1], det.memory, det.memory_mask,
                    clip_feats.spatial_tokens, clip.visual_projection)  # V_s

    @torch.no_grad()
    def retarget_verbs(self, verb_idx: list[int], new_space: LabelSpace) -> None:
        """Open vocabulary (``HOIDetector.retarget``): the verb adapter scores ``new_space``'s
        verbs; known verbs (``verb_idx[i] >= 0``, their index before) keep E_v, a new verb has
        no visual representation, so its row is zero and S_v adds nothing for it (its score
        comes from S_inter alone)."""
        adapter = self.verb_adapter
        if adapter is None:
            return
        old = adapter.verb_classifier.weight.detach()
        weight = rows(old, verb_idx, torch.zeros(len(verb_idx), old.shape[1]))
        adapter.verb_classifier = nn.Linear(old.shape[1], len(verb_idx), bias=False).to(
            old.device)
        adapter.verb_classifier.weight.copy_(weight)
        adapter.verb_to_interaction = new_space.verb_to_interaction.to(old.device)

    def forward(
        self,
        h: Tensor,
        o: Tensor,
        memory: Tensor,
        memory_padding_mask: Tensor,
        clip_tokens: Tensor,
        visual_proj: Tensor,
    ) -> InteractionHeadOutput:
        """Score every query pair.

        Args:
            h: ``[B, Q, D]`` human outputs of the last instance-decoder layer (O_h).
            o: ``[B, Q, D]`` object outputs of the last instance-decoder layer (O_o).
            memory: ``[B, S, D]`` detector encoder memory V_d.
            memory_padding_mask: ``[B, S]`` bool, True on padding (used when
                ``mask_detector_padding``).
            clip_tokens: ``[B, N, W]`` CLIP spatial tokens V_s.
            visual_proj: ``[W, E]`` CLIP's visual projection.
        """
        query = self.query_builder(h, o)  # [B, Q, W], eq. 4
        det_memory = self.memory_proj(memory)  # [B, S, W], eq. 3
        mask = memory_padding_mask if self.mask_detector_padding else None
        out = self.decoder(query, clip_tokens.to(query.dtype), det_memory, mask)  # eq. 5
        features = out @ visual_proj.to(out.dtype)  # [L, B, Q, E], O_inter in CLIP space
        if self.adapter is not None:
            features = self.adapter(features)  # CLIP-Adapter: a * A(f) + (1 - a) * f
        scale = self.logit_scale.exp()
        logits = scale * self.classifier(features)  # [L, B, Q, I], eq. 9
        verb_logits = None
        if self.verb_adapter is not None:
            verb_logits, verb_inter = self.verb_adapter(features, scale)  # eq. 7-8
            logits = logits + self.verb_weight * verb_inter  # eq. 10
        return InteractionHeadOutput(logits, features, verb_logits)
