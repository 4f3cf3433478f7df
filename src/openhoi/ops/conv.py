"""Convolutions through openhoi's CPU kernels where they beat oneDNN's, ``F.conv2d`` elsewhere.

PyTorch computes float32 CPU convolutions in oneDNN, which runs most of a ResNet at this
project's CPUs' float32 peak. Two kinds gain from another algorithm (``benchmarks/bench_conv.py``):

* 3x3 stride-1 convolutions with 256 channels or more: Winograd's F(2x2, 3x3), 2.25x fewer
  products (``openhoi.ops.winograd``);
* 3x3 stride-2 convolutions with 128 channels or more, in training: their weight gradient as
  one matrix product of the gathered taps (``openhoi.ops.strided_conv``).

:func:`conv2d` is ``F.conv2d`` choosing among them; :class:`Conv2d` is ``nn.Conv2d`` through
it; :func:`use_fast_conv` turns a model's eligible ``nn.Conv2d`` modules into :class:`Conv2d`
and back (``model.fast_conv``, applied by ``openhoi.models.build``). Every other convolution,
dtype, device, bf16 autocast and ``torch.compile`` take ``F.conv2d``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from openhoi.ops import strided_conv, winograd


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
           stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
           dilation: int | tuple[int, int] = 1, groups: int = 1, fast: bool = True,
           min_channels: int = winograd.MIN_CHANNELS) -> Tensor:
    """``F.conv2d``, by openhoi's kernels where they apply and ``fast`` is on
    (``min_channels``: the fewest channels the Winograd path takes)."""
    if fast:
        if winograd.winograd_applies(x, weight, stride, padding, dilation, groups,
                                     min_channels):
            return winograd.winograd_conv2d(x, weight, bias)
        if strided_conv.stride2_applies(x, weight, stride, padding, dilation, groups):
            return strided_conv.stride2_conv3x3(x, weight, bias)
    return F.conv2d(x, weight, bias, stride, padding, dilation, groups)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same arguments, parameters and state dict) through :func:`conv2d`
    (``fast_conv``: whether openhoi's kernels may take it; ``min_channels``: the fewest
    channels of the Winograd path)."""

    fast_conv: bool = True
    min_channels: int = winograd.MIN_CHANNELS

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if self.padding_mode != "zeros":
            return super()._conv_forward(x, weight, bias)
        return conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups,
                      fast=self.fast_conv, min_channels=self.min_channels)


def _eligible(conv: nn.Module) -> bool:
    """A 3x3 convolution with stride 1 or 2, padding 1, no groups or dilation (channels and
    dtype are checked per call)."""
    return (isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3)
            and conv.stride in ((1, 1), (2, 2)) and conv.padding == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros")


def use_fast_conv(model: nn.Module, enabled: bool) -> int:
    """Turn every eligible ``nn.Conv2d`` of ``model`` into a :class:`Conv2d` (``enabled``) or
    back into ``nn.Conv2d``, in place (the same objects, parameters and state-dict keys);
    returns how many changed."""
    count = 0
    for module in model.modules():
        if enabled and type(module) is nn.Conv2d and _eligible(module):
            module.__class__ = Conv2d
            count += 1
        elif not enabled and type(module) is Conv2d:
            module.__class__ = nn.Conv2d
            count += 1
    return count
