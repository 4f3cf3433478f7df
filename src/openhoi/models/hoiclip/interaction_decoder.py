"""HOICLIP's interaction decoder with knowledge integration (HOICLIP Sec. 3.2, eq. 3 and 5).

It runs at CLIP's visual width W. Each layer: self-attention over the interaction queries,
then two cross-attentions, one to CLIP's spatial tokens V_s and one to the detector memory
projected to width W (V_d', eq. 3), whose residual outputs are summed (eq. 5) and fed to an
FFN. Post-norm, DETR style. All tensors are batch-first.

Reference: ``TransformerDecoderFusionLayer`` / ``TransformerDecoderCLIP`` in HOICLIP's
``models/models_hoiclip/gen.py``. The reference shares one attention module and one
LayerNorm between the two cross-attentions; here that is ``shared_cross_attention=True``,
while the default gives each its own, as the paper's eq. 5 writes two cross-attentions.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from openhoi.models.detr.attention import MultiheadAttention
from openhoi.ops.dropout import Dropout


class DetectorMemoryProjection(nn.Module):
    """HOICLIP eq. 3: V_d' = LN(Linear(V_d)), the detector memory at CLIP's width.

    Reference: ``obj_class_fc`` + ``obj_class_ln`` applied to the encoder memory in
    HOICLIP's ``gen.py`` (the names are the reference's, the role is this one).
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, memory: Tensor) -> Tensor:
        """``memory``: ``[B, S, D]`` -> ``[B, S, W]``."""
        return self.norm(self.proj(memory))


class KnowledgeIntegrationLayer(nn.Module):
    """One interaction-decoder layer (HOICLIP eq. 5), post-norm.

    ``Q = LN(Q + SelfAttn(Q))``;
    ``C = LN_s(Q + CrossAttn_s(Q, V_s)) + LN_d(Q + CrossAttn_d(Q, V_d'))``;
    ``O = LN(C + FFN(C))``.
    With ``shared=True``, CrossAttn_d is CrossAttn_s and LN_d is LN_s (the reference code).
    No positional embeddings enter any attention here, as in the reference.
    """

    def __init__(
        self,
        width: int,
        num_heads: int,
        dim_feedforward: int,
        dropout: float = 0.1,
        shared: bool = False,
    ) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(width, num_heads, dropout=dropout,
                                            batch_first=True)
        self.norm_self = nn.LayerNorm(width)
        self.clip_attn = MultiheadAttention(width, num_heads, dropout=dropout,
                                            batch_first=True)
        self.norm_clip = nn.LayerNorm(width)
        # Shared: no modules of their own, so the state dict has no duplicate keys.
        self.det_attn = None if shared else MultiheadAttention(
            width, num_heads, dropout=dropout, batch_first=True)
        self.norm_det = None if shared else nn.LayerNorm(width)
        self.linear1 = nn.Linear(width, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, width)
        self.norm_ffn = nn.LayerNorm(width)
        self.dropout = Dropout(dropout)

    @property
    def shared(self) -> bool:
        return self.det_attn is None

    def forward(
        self,
        query: Tensor,
        clip_tokens: Tensor,
        det_memory: Tensor,
        det_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """One layer.

        Args:
            query: ``[B, Q, W]`` interaction queries.
            clip_tokens: ``[B, N, W]`` CLIP spatial tokens V_s.
            det_memory: ``[B, S, W]`` projected detector memory V_d'.
            det_padding_mask: ``[B, S]`` bool, True where V_d' is padding; None attends all.

        Returns:
            ``[B, Q, W]``.
        """
        q = self.norm_self(query + self.dropout(
            self.self_attn(query, query, query, need_weights=False)[0]))
        det_attn = self.clip_attn if self.det_attn is None else self.det_attn
        norm_det = self.norm_clip if self.norm_det is None else self.norm_det
        from_clip = self.clip_attn(q, clip_tokens, clip_tokens, need_weights=False)[0]
        from_det = det_attn(q, det_memory, det_memory, key_padding_mask=det_padding_mask,
                            need_weights=False)[0]
        # HOICLIP eq. 5: the two retrieved contexts are summed before the FFN.
        c = self.norm_clip(q + self.dropout(from_clip)) + norm_det(q + self.dropout(from_det))
        ffn = self.linear2(self.dropout(F.relu(self.linear1(c))))
        return self.norm_ffn(c + self.dropout(ffn))


class InteractionDecoder(nn.Module):
    """A stack of ``KnowledgeIntegrationLayer`` with one shared output LayerNorm.

    Every layer's output goes through ``norm`` and is returned (the reference's
    ``return_intermediate``); the next layer sees the un-normalised output.
    """

    def __init__(
        self,
        width: int,
        num_layers: int,
        num_heads: int,
        dim_feedforward: int,
        dropout: float = 0.1,
        shared_cross_attention: bool = False,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            KnowledgeIntegrationLayer(width, num_heads, dim_feedforward, dropout,
                                      shared_cross_attention)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(width)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # As the reference (and DETR): Xavier-uniform on every matrix.
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(
        self,
        query: Tensor,
        clip_tokens: Tensor,
        det_memory: Tensor,
        det_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """Decode. Shapes as in ``KnowledgeIntegrationLayer.forward``; returns
        ``[L, B, Q, W]``, the normalised output of every layer (last = final)."""
        out, intermediate = query, []
        for layer in self.layers:
            out = layer(out, clip_tokens, det_memory, det_padding_mask)
            intermediate.append(self.norm(out))
        return torch.stack(intermediate)  # [L, B, Q, W]
