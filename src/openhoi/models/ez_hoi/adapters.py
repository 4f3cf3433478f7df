"""EZ-HOI's adapters: a bottleneck around one small post-norm transformer decoder layer.

``PromptAdapter`` is EZ-HOI's ``Adapter`` (``upt_tip_cache_model_free_finetune_distillself.py``):
down-projection to ``dim`` (64), ReLU, a decoder layer whose memory is either prior tokens
through a 3-layer MLP (``down_proj_prior``) or the down-projected input itself
(``mem_adpt_self``), zero-initialised up-projection, residual. ``InstanceAdapter`` is ADA-CM's
instance adapter (EZ-HOI ``CLIP_models_adapter_prior2.Adapter``, ``init_option='lora'``,
``adapter_scalar='learnable_scalar'``): the same bottleneck over instance priors, scaled by a
learnable per-channel vector initialised to 1e-9, *added* to the block input by the caller. Its
decoder layer is cross-attention only: ``CLIP_models_adapter_prior2`` defines its own
``TransformerDecoderLayer`` (self-attention commented out), which shadows the imported one.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from openhoi.models.detr.attention import MultiheadAttention
from openhoi.models.detr.heads import MLP
from openhoi.ops.dropout import Dropout


class DecoderLayer(nn.Module):
    """Post-norm decoder layer, batch first: optional self-attention, cross-attention, ReLU
    FFN of width ``2 * dim`` (DETR's ``TransformerDecoderLayer.forward_post``; without
    self-attention EZ-HOI's ``TransformerDecoderLayer_CA``)."""

    def __init__(self, dim: int, heads: int, dropout: float, self_attention: bool) -> None:
        super().__init__()
        self.self_attn = (MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
                          if self_attention else None)
        self.norm1 = nn.LayerNorm(dim) if self_attention else None
        self.cross_attn = MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, 2 * dim)
        self.linear2 = nn.Linear(2 * dim, dim)
        self.norm3 = nn.LayerNorm(dim)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, memory: Tensor, memory_pad: Tensor | None = None) -> Tensor:
        """``x [B, L, d]`` attends to ``memory [B, M, d]`` (``memory_pad [B, M]`` True = pad)."""
        if self.self_attn is not None:
            x = self.norm1(x + self.dropout(self.self_attn(x, x, x, need_weights=False)[0]))
        att = self.cross_attn(x, memory, memory, key_padding_mask=memory_pad,
                              need_weights=False)[0]
        x = self.norm2(x + self.dropout(att))
        ffn = self.linear2(self.dropout(F.relu(self.linear1(x))))
        return self.norm3(x + self.dropout(ffn))


def _init_bottleneck(down: nn.Linear, up: nn.Linear) -> None:
    nn.init.kaiming_uniform_(down.weight, a=math.sqrt(5))
    nn.init.zeros_(down.bias)
    nn.init.zeros_(up.weight)  # the adapter starts as the identity
    nn.init.zeros_(up.bias)


class PromptAdapter(nn.Module):
    """``x + up(decoder(relu(down(x)), memory))`` with a zero-initialised ``up``.

    Args:
        width: channels of ``x``.
        prior_dim: channels of the prior tokens (memory = ``MLP(prior)``), or None for
            self-context (memory = ``down(x)`` before the ReLU, EZ-HOI's ``mem_adpt_self``).
        self_attention: decoder layer with self-attention (EZ-HOI's ``pt_tune=False``).
    """

    def __init__(self, width: int, prior_dim: int | None, dim: int = 64, heads: int = 2,
                 dropout: float = 0.1, self_attention: bool = False) -> None:
        super().__init__()
        self.down = nn.Linear(width, dim)
        self.up = nn.Linear(dim, width)
        self.prior_proj = MLP(prior_dim, 128, dim, 3) if prior_dim is not None else None
        self.layer = DecoderLayer(dim, heads, dropout, self_attention)
        _init_bottleneck(self.down, self.up)

    def forward(self, x: Tensor, prior: Tensor | None = None,
                prior_pad: Tensor | None = None) -> Tensor:
        """``x [B, L, width]``; ``prior [B, M, prior_dim]`` (``prior_pad [B, M]``)."""
        h = self.down(x)  # [B, L, dim]
        memory = h if self.prior_proj is None else self.prior_proj(prior)
        h = self.layer(F.relu(h), memory, prior_pad if self.prior_proj is not None else None)
        return x + self.up(h)


class InstanceAdapter(nn.Module):
    """ADA-CM's instance adapter: ``scale * up(decoder(relu(down(x)), instances))`` with a
    cross-attention-only decoder layer; the caller adds it to the transformer block's input.
    ``instances`` are already projected to ``dim`` (one shared ``priors_downproj`` MLP,
    ADA-CM ``get_prior``)."""

    def __init__(self, width: int, dim: int = 64, heads: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.down = nn.Linear(width, dim)
        self.up = nn.Linear(dim, width)
        self.layer = DecoderLayer(dim, heads, dropout, self_attention=False)
        self.scale = nn.Parameter(torch.full((width,), 1e-9))
        _init_bottleneck(self.down, self.up)

    def forward(self, x: Tensor, instances: Tensor, instances_pad: Tensor) -> Tensor:
        """``x [B, L, width]``, ``instances [B, N, dim]``, ``instances_pad [B, N]``."""
        h = self.layer(F.relu(self.down(x)), instances, instances_pad)
        return self.up(h) * self.scale

