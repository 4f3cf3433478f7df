"""DETR transformer layers (``models/transformer.py`` of DETR, GEN-VLKT and HOICLIP's ``gen.py``).

Post-norm by default (``normalize_before=False``), ReLU feed-forward, position encodings added
to queries and keys (not values) at every layer. Tensors are batch-first, ``[B, N, D]``;
``nn.MultiheadAttention`` keeps DETR's parameter layout (``in_proj_weight`` etc.), so released
checkpoints map one-to-one. The decoder returns every layer's output through its final norm.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from openhoi.models.detr.attention import MultiheadAttention
from openhoi.ops.dropout import Dropout


def _with_pos(x: Tensor, pos: Tensor | None) -> Tensor:
    return x if pos is None else x + pos


class EncoderLayer(nn.Module):
    """Self-attention + feed-forward, each with residual, dropout and LayerNorm."""

    def __init__(self, dim: int, num_heads: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, normalize_before: bool = False) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(dim, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout = Dropout(dropout)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.normalize_before = normalize_before

    def _ffn(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(F.relu(self.linear1(x))))

    def forward(self, src: Tensor, padding_mask: Tensor | None = None,
                pos: Tensor | None = None) -> Tensor:
        """``src``/``pos`` ``[B, N, D]``, ``padding_mask`` ``[B, N]`` True on padding."""
        if self.normalize_before:
            x = self.norm1(src)
            q = k = _with_pos(x, pos)
            src = src + self.dropout1(self.self_attn(q, k, x, key_padding_mask=padding_mask,
                                                     need_weights=False)[0])
            return src + self.dropout2(self._ffn(self.norm2(src)))
        q = k = _with_pos(src, pos)
        attn = self.self_attn(q, k, src, key_padding_mask=padding_mask, need_weights=False)[0]
        src = self.norm1(src + self.dropout1(attn))
        return self.norm2(src + self.dropout2(self._ffn(src)))


class DecoderLayer(nn.Module):
    """Self-attention over queries, cross-attention to the memory, feed-forward."""

    def __init__(self, dim: int, num_heads: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, normalize_before: bool = False) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.cross_attn = MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(dim, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.dropout = Dropout(dropout)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.normalize_before = normalize_before

    def _ffn(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(F.relu(self.linear1(x))))

    def forward(self, tgt: Tensor, memory: Tensor, memory_padding_mask: Tensor | None = None,
                pos: Tensor | None = None, query_pos: Tensor | None = None,
                attn_bias: Tensor | None = None) -> Tensor:
        """``tgt``/``query_pos`` ``[B, Q, D]``; ``memory``/``pos`` ``[B, N, D]``;
        ``attn_bias`` ``[B * heads, Q, N]`` added to the cross-attention logits (padding
        already at -inf; then ``memory_padding_mask`` is not used)."""
        if attn_bias is not None:
            memory_padding_mask = None
        if self.normalize_before:
            x = self.norm1(tgt)
            q = k = _with_pos(x, query_pos)
            tgt = tgt + self.dropout1(self.self_attn(q, k, x, need_weights=False)[0])
            x = self.norm2(tgt)
            attn = self.cross_attn(_with_pos(x, query_pos), _with_pos(memory, pos), memory,
                                   key_padding_mask=memory_padding_mask, attn_mask=attn_bias,
                                   need_weights=False)[0]
            tgt = tgt + self.dropout2(attn)
            return tgt + self.dropout3(self._ffn(self.norm3(tgt)))
        q = k = _with_pos(tgt, query_pos)
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(q, k, tgt, need_weights=False)[0]))
        attn = self.cross_attn(_with_pos(tgt, query_pos), _with_pos(memory, pos), memory,
                               key_padding_mask=memory_padding_mask, attn_mask=attn_bias,
                               need_weights=False)[0]
        tgt = self.norm2(tgt + self.dropout2(attn))
        return self.norm3(tgt + self.dropout3(self._ffn(tgt)))


def _xavier_(module: nn.Module) -> None:
    """DETR/GEN ``_reset_parameters``: Xavier-uniform on every matrix, other tensors untouched."""
    for p in module.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)


class TransformerEncoder(nn.Module):
    """A stack of ``EncoderLayer``; a final LayerNorm only for pre-norm (DETR's rule)."""

    def __init__(self, num_layers: int, dim: int, num_heads: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, normalize_before: bool = False) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(dim, num_heads, dim_feedforward, dropout, normalize_before)
            for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim) if normalize_before else None
        _xavier_(self)

    def forward(self, src: Tensor, padding_mask: Tensor | None = None,
                pos: Tensor | None = None) -> Tensor:
        """``[B, N, D]`` -> ``[B, N, D]``."""
        for layer in self.layers:
            src = layer(src, padding_mask, pos)
        return src if self.norm is None else self.norm(src)


class TransformerDecoder(nn.Module):
    """A stack of ``DecoderLayer`` returning every layer's output through the final ``norm``.

    ``query_pos`` may be one ``[B, Q, D]`` tensor for all layers or ``[L, B, Q, D]``, one per
    layer (GEN-VLKT's interaction decoder feeds each layer its own instance-guided embedding).
    """

    def __init__(self, num_layers: int, dim: int, num_heads: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, normalize_before: bool = False) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            DecoderLayer(dim, num_heads, dim_feedforward, dropout, normalize_before)
            for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)
        _xavier_(self)

    def forward(self, tgt: Tensor, memory: Tensor, memory_padding_mask: Tensor | None = None,
                pos: Tensor | None = None, query_pos: Tensor | None = None,
                attn_bias: Tensor | None = None) -> Tensor:
        """Returns ``[L, B, Q, D]``: the normed output of every layer (``attn_bias``: see
        ``DecoderLayer.forward``)."""
        per_layer = query_pos is not None and query_pos.dim() == 4
        outputs = []
        for i, layer in enumerate(self.layers):
            qpos = query_pos[i] if per_layer else query_pos
            tgt = layer(tgt, memory, memory_padding_mask, pos, qpos, attn_bias)
            outputs.append(self.norm(tgt))
        return torch.stack(outputs)
