"""3x3 stride-2 convolutions whose weight gradient is one matrix product on the CPU.

oneDNN (PyTorch's CPU convolution) computes the weight gradient of a stride-2 3x3
convolution at a fraction of its speed elsewhere: ResNet-50's ``layer2.0.conv2`` (128
channels, 2 x 128x160 in, a 512x640 batch) takes 49 ms for 3 GFLOP (62 GFLOP/s on a 2-core AMD
EPYC, where its forward and input gradient run at ~200). Gathering the nine taps of every
output pixel (``[P, 9 * C]``, the input read at stride 2) and multiplying by the output gradient
(``[P, K]``) gives the same gradient in 19-25 ms; 256 and 512 channels gain 10-20% the same
way (``benchmarks/bench_conv.py``). The forward and the input gradient stay oneDNN's, so
only the weight gradient's summation order changes (float rounding, ``tests/ops``).

``openhoi.ops.conv.stride2_applies`` says where ``openhoi.ops.conv.conv2d`` takes it: float32 CPU
tensors outside autocast and compilation, a 3x3 kernel with stride 2, padding 1, dilation 1,
one group, at least ``min_channels`` input channels, and a weight that needs its gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

MIN_CHANNELS = 128
"""The fewest input channels for which the gathered product pays (measured: 128 channels
2x, 256 and 512 1.1-1.2x)."""


def gathered_taps(x: Tensor, ho: int, wo: int) -> Tensor:
    """The nine taps of every output pixel of a 3x3, stride-2, padding-1 convolution:
    ``[N, C, H, W]`` -> ``[N * ho * wo, 9 * C]`` (tap-major, zeros where a tap is padding)."""
    n, c, h, w = x.shape
    xn = x.permute(0, 2, 3, 1)
    cols = x.new_empty(n, ho, wo, 3, 3, c)
    for p in range(3):
        for q in range(3):
            dst = cols[:, :, :, p, q]
            i0, j0 = int(p == 0), int(q == 0)  # the first output row / column reads padding
            r0, c0 = 2 * i0 + p - 1, 2 * j0 + q - 1
            ni = min(ho - i0, (h - 1 - r0) // 2 + 1)
            nj = min(wo - j0, (w - 1 - c0) // 2 + 1)
            dst[:, i0:i0 + ni, j0:j0 + nj] = xn[:, r0:r0 + 2 * ni - 1:2, c0:c0 + 2 * nj - 1:2]
            if i0:
                dst[:, 0].zero_()
            if i0 + ni < ho:
                dst[:, i0 + ni:].zero_()
            if j0:
                dst[:, :, 0].zero_()
            if j0 + nj < wo:
                dst[:, :, j0 + nj:].zero_()
    return cols.view(n * ho * wo, 9 * c)


class _Stride2Conv3x3(torch.autograd.Function):
    """``conv2d(x, W, b, stride=2, padding=1)``: oneDNN's forward and input gradient, the
    weight gradient as one product of the gathered taps."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:  # noqa: ANN001
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return F.conv2d(x, weight, bias, 2, 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:  # noqa: ANN001
        x, weight = ctx.saved_tensors
        k, c = weight.shape[:2]
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = torch.ops.aten.convolution_backward(
                grad, x, weight, None, [2, 2], [1, 1], [1, 1], False, [0, 0], 1,
                [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            ho, wo = grad.shape[2:]
            taps = gathered_taps(x, ho, wo)  # [P, 9C]
            g = grad.permute(0, 2, 3, 1).reshape(-1, k)  # [P, K]
            dw = torch.empty_like(weight).copy_(  # in the weight's layout
                torch.mm(taps.t(), g).view(3, 3, c, k).permute(3, 2, 0, 1))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = grad.sum((0, 2, 3))
        return dx, dw, db


def stride2_conv3x3(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.conv2d(x, weight, bias, stride=2, padding=1)`` for a 3x3 ``weight``, its weight
    gradient one matrix product (the caller checks that it pays: ``openhoi.ops.conv``)."""
    if weight.dim() != 4 or tuple(weight.shape[2:]) != (3, 3) or x.dim() != 4 \
            or x.shape[1] != weight.shape[1]:
        raise ValueError(f"stride2_conv3x3: a [K, C, 3, 3] weight for a [N, C, H, W] input "
                         f"expected, got {list(weight.shape)} for {list(x.shape)}")
    return _Stride2Conv3x3.apply(x, weight, bias)
