"""``nn.MultiheadAttention`` whose training pass on the CPU draws the cheap dropout masks.

Same parameters, state-dict keys and results as ``nn.MultiheadAttention``; in training on the
CPU (batch first, one packed input projection, no ``need_weights``) it computes
``softmax(q k^T / sqrt(d) + bias) v`` itself so that the attention weights' dropout uses
:func:`openhoi.ops.dropout.dropout` (torch's math path draws a ``bernoulli_`` float per weight:
at DETR's 320-token encoder that is 1.6 M draws a layer), and its projections through
:func:`openhoi.ops.linear.linear` (oneDNN's matmul in float32). Everything else (evaluation, CUDA,
unusual options, ``fast_dropout = False``) is ``nn.MultiheadAttention.forward`` unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from openhoi.ops.dropout import dropout
from openhoi.ops.linear import linear


def _additive(mask: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """A bool mask (True = masked out) as 0 / -inf; a float mask as it is."""
    if mask is None or mask.is_floating_point():
        return mask if mask is None else mask.to(dtype)
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(
        mask, float("-inf"))


class MultiheadAttention(nn.MultiheadAttention):
    """Drop-in ``nn.MultiheadAttention`` (see the module docstring)."""

    fast_dropout: bool = True

    def _own_path(self, query: Tensor, need_weights: bool, is_causal: bool) -> bool:
        return (self.fast_dropout and self.training and self.dropout > 0.0
                and query.device.type == "cpu" and self.batch_first and query.dim() == 3
                and self._qkv_same_embed_dim and self.bias_k is None
                and not self.add_zero_attn and not need_weights and not is_causal)

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        if not self._own_path(query, need_weights, is_causal):
            return super().forward(query, key, value, key_padding_mask=key_padding_mask,
                                   need_weights=need_weights, attn_mask=attn_mask,
                                   average_attn_weights=average_attn_weights,
                                   is_causal=is_causal)
        return self._attend(query, key, value, key_padding_mask, attn_mask), None

    def _attend(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None, attn_mask: Tensor | None) -> Tensor:
        b, length, e = query.shape
        s, h = key.shape[1], self.num_heads
        d = e // h
        w, bias = self.in_proj_weight, self.in_proj_bias
        wq, wk, wv = w.chunk(3)
        bq, bk, bv = (None, None, None) if bias is None else bias.chunk(3)
        if query is key:  # self-attention with positions: one product for q and k
            q, k = linear(query, w[:2 * e], None if bias is None else bias[:2 * e]).chunk(2, -1)
            v = linear(value, wv, bv)
        elif key is value:  # cross-attention without positions on the keys: one for k and v
            q = linear(query, wq, bq)
            k, v = linear(key, w[e:], None if bias is None else bias[e:]).chunk(2, -1)
        else:
            q, k, v = linear(query, wq, bq), linear(key, wk, bk), linear(value, wv, bv)
        q = (q * d ** -0.5).view(b, length, h, d).transpose(1, 2).reshape(b * h, length, d)
        k = k.view(b, s, h, d).transpose(1, 2).reshape(b * h, s, d)
        v = v.view(b, s, h, d).transpose(1, 2).reshape(b * h, s, d)
        scores = torch.bmm(q, k.transpose(1, 2))
        additive = _additive(attn_mask, scores.dtype)
        if additive is not None:  # [L, S] or [B * H, L, S], as nn.MultiheadAttention takes it
            scores = scores + additive
        if key_padding_mask is not None and bool(key_padding_mask.any()):  # none: one pass less
            pad = _additive(key_padding_mask, scores.dtype).view(b, 1, 1, s)
            scores = (scores.view(b, h, length, s) + pad).view(b * h, length, s)
        weights = dropout(scores.softmax(-1), self.dropout, True)
        out = torch.bmm(weights, v).view(b, h, length, d).transpose(1, 2).reshape(b, length, e)
        return linear(out, self.out_proj.weight, self.out_proj.bias)
