"""GEN-VLKT's visual-linguistic knowledge transfer: the feature-mimic loss pulling the mean
interaction feature towards CLIP's image embedding (a criterion term any family with CLIP
extras may weight; GEN-VLKT's recipe does, HOICLIP's does not)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor
from torch.nn import functional as F

from openhoi.models.detr.matcher import Indices, PairTargets
from openhoi.structures import HOIRawOutput


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
