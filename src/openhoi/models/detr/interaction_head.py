"""What an interaction branch returns to ``HOIDetector``: per-layer logits and features."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class InteractionHeadOutput:
    """Output of an interaction head for ``L`` layers, ``B`` images and ``Q`` query pairs.

    Attributes:
        interaction_logits: ``[L, B, Q, I]`` training logits (HOICLIP: S_inter + alpha * S_v,
            eq. 10; GEN-VLKT: the text classifier's logits).
        features: ``[L, B, Q, E]`` interaction features in CLIP's embedding space before
            normalisation (the reference's ``inter_memory``, input of the mimic loss).
        verb_logits: ``[L, B, Q, V]`` verb logits of the verb adapter, else None.
    """

    interaction_logits: Tensor
    features: Tensor
    verb_logits: Tensor | None = None
