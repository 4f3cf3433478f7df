"""Dropout whose CPU mask costs a quarter of ``torch.nn.functional.dropout``'s.

On the CPU, ``F.dropout`` draws one ``bernoulli_`` float per element from the Mersenne
twister (about 6 ns an element on a 2-core AMD EPYC, 6% of a HOICLIP training step at
2 x 512x640). ``dropout`` here draws 64 random bits per four elements from the same seeded
generator (``torch.Tensor.random_`` on int64, the low 63 bits uniform), keeps 15 bits of each
16-bit lane and keeps an element when those bits are at least ``round(p * 2**15)``: every element
is kept independently with probability ``1 - round(p * 2**15) / 2**15`` (0.9 - 6.1e-6 for
``p = 0.1``; ``bernoulli_`` compares a 24-bit float, so it quantises too) and scaled by
``1 / (1 - p)`` as ``F.dropout`` does. The mask is kept for the backward pass in the input's
dtype (four bytes an element in float32 where ``F.dropout`` keeps one: at DETR's encoder, 2 x
800x1200, 58 MB instead of 14 MB per attention layer).

Other devices (CUDA draws its masks fast), integer inputs, ``p`` of 0 or 1 and evaluation
fall back to ``F.dropout``; so does everything when a module's ``fast_dropout`` is False
(``train.fast_dropout: false`` sets that on the whole model: torch's own masks, another
random stream).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_LANE_BITS = 15
_LANE_MASK = (1 << _LANE_BITS) - 1


def scaled_keep_mask(shape: torch.Size | tuple[int, ...], p: float,
                     dtype: torch.dtype = torch.float32, scale: float | None = None,
                     generator: torch.Generator | None = None) -> Tensor:
    """``shape`` of ``scale`` (kept, probability ``1 - round(p * 2**15) / 2**15``) or 0,
    independent; ``dtype`` floating point, ``scale`` by default ``1 / (1 - p)``."""
    n = 1
    for s in shape:
        n *= s
    bits = torch.empty((n + 3) // 4, dtype=torch.int64).random_(generator=generator)
    lanes = bits.view(torch.int16)[:n].view(shape).bitwise_and_(_LANE_MASK)
    mask = torch.ge(lanes, round(p * (1 << _LANE_BITS)), out=torch.empty(shape, dtype=dtype))
    return mask.mul_(1.0 / (1.0 - p) if scale is None else scale)


class _Masked(torch.autograd.Function):
    """``x * mask * scale``, the mask saved for the backward pass (a float mask: multiplying by
    a bool one converts it element by element, 20 times slower on attention-sized tensors)."""

    @staticmethod
    def forward(ctx, x: Tensor, mask: Tensor, scale: float) -> Tensor:  # noqa: ANN001
        ctx.save_for_backward(mask)
        ctx.scale = scale
        out = x * mask
        return out if scale == 1.0 else out.mul_(scale)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # noqa: ANN001
        (mask,) = ctx.saved_tensors
        out = grad * mask
        return (out if ctx.scale == 1.0 else out.mul_(ctx.scale)), None, None


def dropout(x: Tensor, p: float, training: bool, fast: bool = True) -> Tensor:
    """``F.dropout(x, p, training)``, with the cheap mask on CPU floating-point tensors.

    In float32 and float64 the mask holds ``1 / (1 - p)`` itself (one pass); in lower
    precisions it holds 0 / 1 and the scale is applied as a float afterwards, as ``F.dropout``
    does (``1 / 0.9`` rounded to bfloat16 is 0.16% short, a bias every kept element would carry).
    """
    if not (fast and training and 0.0 < p < 1.0 and x.device.type == "cpu"
            and x.is_floating_point()):
        return F.dropout(x, p, training)
    if x.dtype in (torch.float32, torch.float64):
        return _Masked.apply(x, scaled_keep_mask(x.shape, p, x.dtype), 1.0)
    return _Masked.apply(x, scaled_keep_mask(x.shape, p, x.dtype, scale=1.0), 1.0 / (1.0 - p))


class Dropout(nn.Dropout):
    """``nn.Dropout`` (same arguments, no state) through :func:`dropout`."""

    fast_dropout: bool = True

    def forward(self, x: Tensor) -> Tensor:
        if self.inplace:
            return F.dropout(x, self.p, self.training, inplace=True)
        return dropout(x, self.p, self.training, self.fast_dropout)


def set_fast_dropout(model: nn.Module, enabled: bool) -> int:
    """Choose the cheap masks (True) or torch's (False) in every module of ``model`` that has
    a ``fast_dropout`` switch; returns how many it set."""
    count = 0
    for module in model.modules():
        if hasattr(module, "fast_dropout"):
            module.fast_dropout = enabled
            count += 1
    return count
