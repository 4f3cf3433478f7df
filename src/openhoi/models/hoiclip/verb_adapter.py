"""HOICLIP's verb adapter and verb classifier (HOICLIP Sec. 3.3, eq. 7-8).

An MLP maps the interaction feature O_inter (CLIP embedding space) to a verb feature; its
cosine with each verb's representation E_v (eq. 6, made by ``openhoi verb-repr``) gives verb
logits, which the verb->interaction matrix spreads over every interaction of that verb.

Reference: ``inter2verb`` (``MLP(E, E // 2, E, 3)``), ``verb_projection`` (weights loaded from
``verb.pth``) and ``verb2hoi_proj`` in HOICLIP's ``models/models_hoiclip/hoiclip.py``.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from openhoi.models.detr.heads import MLP


class VerbAdapter(nn.Module):
    """S_v: verb scores of O_inter spread over interactions (HOICLIP eq. 7-8).

    ``verb_logits = scale * <normalize(MLP(O_inter)), E_v>`` (``[..., V]``) and
    ``S_v = verb_logits @ verb_to_interaction`` (``[..., I]``). ``E_v`` is a learnable
    ``[V, E]`` weight (the reference trains it), initialised from the given representations;
    the scale is passed in because HOICLIP shares one ``logit_scale`` with the interaction
    classifier.
    """

    def __init__(
        self,
        embed_dim: int,
        verb_repr: Tensor,
        verb_to_interaction: Tensor,
        num_layers: int = 3,
        trainable_repr: bool = True,
    ) -> None:
        """Args:
            embed_dim: E, CLIP's embedding width.
            verb_repr: ``[V, E]`` initial verb representations E_v (used as given).
            verb_to_interaction: ``[V, I]`` 0/1, ``LabelSpace.verb_to_interaction``.
            num_layers: layers of the adapter MLP (hidden width E // 2).
            trainable_repr: whether E_v is learned.
        """
        super().__init__()
        num_verbs = verb_to_interaction.shape[0]
        if tuple(verb_repr.shape) != (num_verbs, embed_dim):
            raise ValueError(f"verb_repr must be [{num_verbs}, {embed_dim}] (verbs, CLIP "
                             f"embedding), got {list(verb_repr.shape)}")
        self.mlp = MLP(embed_dim, embed_dim // 2, embed_dim, num_layers)
        self.verb_classifier = nn.Linear(embed_dim, num_verbs, bias=False)
        self.verb_classifier.weight.data.copy_(verb_repr)
        self.verb_classifier.weight.requires_grad_(trainable_repr)
        self.register_buffer("verb_to_interaction", verb_to_interaction.float().clone())

    def forward(self, inter_feat: Tensor, logit_scale: Tensor) -> tuple[Tensor, Tensor]:
        """``inter_feat``: ``[..., E]`` O_inter; ``logit_scale``: scalar (already exp'd).

        Returns ``(verb_logits [..., V], interaction_logits [..., I])``.
        """
        verb_feat = F.normalize(self.mlp(inter_feat), dim=-1)  # [..., E]
        verb_logits = logit_scale * self.verb_classifier(verb_feat)  # [..., V]
        return verb_logits, verb_logits @ self.verb_to_interaction  # [..., I]
