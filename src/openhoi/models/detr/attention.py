"""``nn.MultiheadAttention`` with openhoi's CPU kernels: cheap dropout masks in training,
projections in oneDNN's matmul.

Same parameters, state-dict keys and results as ``nn.MultiheadAttention``. On the CPU (batch
first, one packed input projection, no ``need_weights``) it computes the attention itself:

* in training with dropout, ``softmax(q k^T / sqrt(d) + masks) v`` with the attention weights'
  dropout from :func:`openhoi.ops.dropout.dropout` (torch's math path draws a ``bernoulli_``
  float per weight: at DETR's 320-token encoder that is 1.6 M draws a layer);
* otherwise, in float32 outside autocast, ``F.scaled_dot_product_attention`` between
  projections computed by :func:`openhoi.ops.linear.linear` (oneDNN's matmul, where torch's
  own fast path multiplies in MKL): CLIP's towers and every decoder at evaluation.

Every projection goes through :func:`openhoi.ops.linear.linear`, and a self-attention whose
query, key and value are one tensor (CLIP) projects them in one product. Everything else (CUDA,
bf16 autocast, unusual options, ``fast_dropout = False`` in training, ``onednn_linear = False``
otherwise) is ``nn.MultiheadAttention.forward`` unchanged. :func:`adopt_attention` gives this
class to the ``nn.MultiheadAttention`` modules of a model built elsewhere (open_clip's towers).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from openhoi.ops.dropout import dropout
from openhoi.ops.linear import linear as ops_linear
from openhoi.ops.linear import takes_onednn


def _additive(mask: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """A bool mask (True = masked out) as 0 / -inf; a float mask as it is."""
    if mask is None or mask.is_floating_point():
        return mask if mask is None else mask.to(dtype)
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(
        mask, float("-inf"))


class MultiheadAttention(nn.MultiheadAttention):
    """Drop-in ``nn.MultiheadAttention`` (see the module docstring)."""

    fast_dropout: bool = True
    onednn_linear: bool = True

    def _own_path(self, query: Tensor, need_weights: bool, is_causal: bool) -> bool:
        if not (query.device.type == "cpu" and self.batch_first and query.dim() == 3
                and self._qkv_same_embed_dim and self.bias_k is None
                and not self.add_zero_attn and not need_weights and not is_causal):
            return False
        if self.training and self.dropout > 0.0:
            return self.fast_dropout
        return self.onednn_linear and takes_onednn(query, self.in_proj_weight)

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
        linear = ops_linear if self.onednn_linear else F.linear
        wq, wk, wv = w.chunk(3)
        bq, bk, bv = (None, None, None) if bias is None else bias.chunk(3)
        if query is key and key is value:  # plain self-attention: one product for q, k, v
            q, k, v = linear(query, w, bias).chunk(3, -1)
        elif query is key:  # self-attention with positions: one product for q and k
            q, k = linear(query, w[:2 * e], None if bias is None else bias[:2 * e]).chunk(2, -1)
            v = linear(value, wv, bv)
        elif key is value:  # cross-attention without positions on the keys: one for k and v
            q = linear(query, wq, bq)
            k, v = linear(key, w[e:], None if bias is None else bias[e:]).chunk(2, -1)
        else:
            q, k, v = linear(query, wq, bq), linear(key, wk, bk), linear(value, wv, bv)
        if not (self.training and self.dropout > 0.0):
            q, k, v = (t.view(b, -1, h, d).transpose(1, 2) for t in (q, k, v))  # [B, H, *, d]
            mask = self._mask(attn_mask, key_padding_mask, b, length, s, q.dtype)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            return linear(out.transpose(1, 2).reshape(b, length, e), self.out_proj.weight,
                          self.out_proj.bias)
        q = (q * d ** -0.5).view(b, length, h, d).transpose(1, 2).reshape(b * h, length, d)
        k = k.view(b, s, h, d).transpose(1, 2).reshape(b * h, s, d)
        v = v.view(b, s, h, d).transpose(1, 2).reshape(b * h, s, d)
        scores = torch.bmm(q, k.transpose(1, 2))
        mask = self._mask(attn_mask, key_padding_mask, b, length, s, scores.dtype)
        if mask is not None:
            scores = (scores.view(b, h, length, s) + mask).view(b * h, length, s)
        weights = dropout(scores.softmax(-1), self.dropout, True)
        out = torch.bmm(weights, v).view(b, h, length, d).transpose(1, 2).reshape(b, length, e)
        return linear(out, self.out_proj.weight, self.out_proj.bias)

    def _mask(self, attn_mask: Tensor | None, key_padding_mask: Tensor | None, b: int,
              length: int, s: int, dtype: torch.dtype) -> Tensor | None:
        """``attn_mask`` ([L, S] or [B * H, L, S], as ``nn.MultiheadAttention`` takes it) and
        ``key_padding_mask`` ([B, S]), True or -inf = masked out, as one additive mask
        broadcasting to ``[B, H, L, S]`` (no padding anywhere: no pass for it)."""
        mask = _additive(attn_mask, dtype)
        if mask is not None and mask.dim() == 3:
            mask = mask.view(b, self.num_heads, length, s)
        if key_padding_mask is not None and bool(key_padding_mask.any()):
            pad = _additive(key_padding_mask, dtype).view(b, 1, 1, s)
            mask = pad if mask is None else mask + pad
        return mask


def adopt_attention(model: nn.Module) -> int:
    """Give every plain ``nn.MultiheadAttention`` of ``model`` this module's class, in place
    (same objects, parameters and state; only the forward changes); returns how many."""
    count = 0
    for module in model.modules():
        if type(module) is nn.MultiheadAttention:
            module.__class__ = MultiheadAttention
            count += 1
    return count
