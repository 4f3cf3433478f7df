"""``HOIDetector``: detector + CLIP knowledge + interaction branch, composed (DETR's model).

``forward(batch) -> HOIRawOutput`` and nothing else: the criterion and the post-processor are
separate objects fed by the same raw output. The CLIP-side tensors every architecture
exposes in ``HOIRawOutput.extras`` (last layer; per-layer ones in each ``aux`` entry too):

* ``clip_image_embed``: ``[B, E]`` CLIP's image embedding V_g, not normalised (the target of
  GEN-VLKT's feature-mimic loss).
* ``zs_logits``: ``[B, I]`` S_zs, cosine of V_g with every interaction's text embedding (the
  training-free zero-shot enhancement, ``openhoi.models.zero_shot.enhance_scores``).
* ``interaction_features`` (every layer): ``[B, Q, E]`` interaction features in CLIP space
  before normalisation (the reference's ``inter_memory``; the mimic loss averages them over Q).

Parameters are named so that ``parameter_groups`` can split them for the engine: ``backbone``
(``detector.backbone.*``), ``clip`` (CLIP's own weights and the CLIP-text-initialised
classifiers), ``rest``.
"""

from __future__ import annotations

from collections.abc import Iterator

from torch import Tensor, nn

from openhoi.models.gen_vlkt_head import GenVLKTHead
from openhoi.models.hoiclip_head import HOICLIPHead
from openhoi.models.zero_shot import ZeroShotScorer
from openhoi.structures import HOIRawOutput, ImageBatch

PARAM_GROUPS = ("backbone", "clip", "rest")


class HOIDetector(nn.Module):
    """An HOI detector with CLIP knowledge: HOICLIP or the GEN-VLKT baseline.

    Args:
        detector: ``ImageBatch -> DetectorOutput`` (``openhoi.models.detector``).
        clip: CLIP knowledge (``openhoi.models.clip_knowledge.ClipKnowledge``): from an
            ``ImageBatch`` its spatial tokens V_s ``[B, N, W]`` and image embedding V_g
            ``[B, E]``, plus its visual projection ``[W, E]``.
        head: ``HOICLIPHead`` or ``GenVLKTHead``.
        zero_shot: S_zs scorer over every interaction's text embedding.
        clip_side: name prefixes (besides ``clip.``) of parameters that belong to the CLIP
            parameter group, e.g. the text-initialised classifiers.
    """

    def __init__(
        self,
        detector: nn.Module,
        clip: nn.Module,
        head: HOICLIPHead | GenVLKTHead,
        zero_shot: ZeroShotScorer,
        clip_side: tuple[str, ...] = ("head.classifier.",),
    ) -> None:
        super().__init__()
        self.detector = detector
        self.clip = clip
        self.head = head
        self.zero_shot = zero_shot
        self.clip_side = ("clip.", *clip_side)

    def forward(self, batch: ImageBatch) -> HOIRawOutput:
        """Raw output of every query pair, last layer first-class and earlier layers in
        ``aux`` (see the module docstring for ``extras``)."""
        det = self.detector(batch)
        clip_tokens, image_embed = self.clip(batch)  # [B, N, W], [B, E]
        if isinstance(self.head, HOICLIPHead):
            out = self.head(det.h_hs[-1], det.o_hs[-1], det.memory, det.memory_mask,
                            clip_tokens, self.clip.visual_projection)
        else:
            out = self.head(det.h_hs, det.o_hs, det.memory, det.memory_mask, det.memory_pos)
        extras = {"clip_image_embed": image_embed, "zs_logits": self.zero_shot(image_embed)}
        return det.raw_output(out.interaction_logits, out.verb_logits, extras=extras,
                              layer_extras={"interaction_features": out.features})

    def parameter_group(self, name: str) -> str:
        """``backbone``, ``clip`` or ``rest``: the engine's learning-rate group of a parameter."""
        if name.startswith("detector.backbone."):
            return "backbone"
        if name.startswith(self.clip_side):
            return "clip"
        return "rest"

    def parameter_groups(self, trainable_only: bool = True) -> dict[str, list[nn.Parameter]]:
        """Parameters by group (``PARAM_GROUPS``), frozen ones left out unless asked for."""
        groups: dict[str, list[nn.Parameter]] = {g: [] for g in PARAM_GROUPS}
        for name, p in self.named_parameters():
            if p.requires_grad or not trainable_only:
                groups[self.parameter_group(name)].append(p)
        return groups

    def named_parameters_in(self, group: str) -> Iterator[tuple[str, Tensor]]:
        """``(name, parameter)`` of one group, frozen ones included."""
        return ((n, p) for n, p in self.named_parameters() if self.parameter_group(n) == group)
