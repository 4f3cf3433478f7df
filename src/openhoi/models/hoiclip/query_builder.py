"""Interaction queries Q_inter from the instance decoder's human and object outputs.

Two rules, picked by ``InteractionConfig.query_builder``: HOICLIP eq. 4 (``mean``) and
variant (b) (``mix``). Both map the detector width D to the interaction decoder's width W
(CLIP's visual width) and end in a LayerNorm.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MeanQueryBuilder(nn.Module):
    """HOICLIP eq. 4: Q_inter = LN(Linear((O_h + O_o) / 2)).

    Reference: ``queries2spacial_proj`` + ``queries2spacial_proj_norm`` in HOICLIP's
    ``models/models_hoiclip/gen.py``, applied to the last instance-decoder layer.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, h: Tensor, o: Tensor) -> Tensor:
        """``h``, ``o``: ``[..., Q, D]`` -> ``[..., Q, W]``."""
        return self.norm(self.proj((h + o) / 2.0))


class MixQueryBuilder(nn.Module):
    """Variant (b): a learnable 2x2 'horizontal' mix of (O_o, O_h), a shared 'vertical' map.

    ``X_k = m_k0 * O_o + m_k1 * O_h`` for k = 0, 1 (``mix`` is the 2x2 matrix m), then
    ``Q_inter = LN(Linear(X_0) + Linear(X_1))`` with one ``Linear`` shared by both rows, as
    an MLP-Mixer block mixes tokens across one axis and channels across the other.
    ``mix`` starts at the identity: Linear(O_o) + Linear(O_h) = 2 * Linear(mean) up to the
    bias, so after the LayerNorm variant (b) starts as eq. 4 and learns to depart from it.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.mix = nn.Parameter(torch.eye(2))
        self.proj = nn.Linear(in_dim, out_dim)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, h: Tensor, o: Tensor) -> Tensor:
        """``h``, ``o``: ``[..., Q, D]`` -> ``[..., Q, W]``."""
        stacked = torch.stack((o, h), dim=-1)  # [..., Q, D, 2] (O_o, O_h)
        mixed = stacked @ self.mix.t()  # [..., Q, D, 2]: column k = m_k0 O_o + m_k1 O_h
        return self.norm(self.proj(mixed[..., 0]) + self.proj(mixed[..., 1]))


QUERY_BUILDERS: dict[str, type[nn.Module]] = {"mean": MeanQueryBuilder, "mix": MixQueryBuilder}


def build_query_builder(kind: str, in_dim: int, out_dim: int) -> nn.Module:
    """The Q_inter module named by ``InteractionConfig.query_builder``."""
    return QUERY_BUILDERS[kind](in_dim, out_dim)
