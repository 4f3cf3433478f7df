"""Convolutions through openhoi's CPU kernels where they beat oneDNN's, ``F.conv2d`` elsewhere.

PyTorch computes float32 CPU convolutions in oneDNN, which runs most of a ResNet at this
project's CPUs' float32 peak. Two kinds gain from another algorithm (``benchmarks/bench_conv.py``):

* 3x3 stride-1 convolutions with 256 channels or more: Winograd's F(2x2, 3x3), 2.25x fewer
  products (``openhoi.ops.winograd``);
* 3x3 stride-2 convolutions with 128 channels or more, in training: their weight gradient as
  one matrix product of the gathered taps (``openhoi.ops.strided_conv``).

The kernels compute; this module decides where they run (:func:`winograd_applies`,
:func:`stride2_applies`, one geometry and dtype check for both). :func:`conv2d` is
``F.conv2d`` choosing among them; :func:`module_conv2d` is a module's convolution with given
weights (the folded ResNet's); :class:`Conv2d` is ``nn.Conv2d`` through it;
:func:`use_fast_conv` turns a model's eligible ``nn.Conv2d`` modules into :class:`Conv2d` and
back (``model.fast_conv``, applied by ``openhoi.models.build``). Every other convolution,
dtype, device, bf16 autocast and ``torch.compile`` take ``F.conv2d``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from openhoi.ops import strided_conv, winograd

_DIRECT = [0]  # > 0 inside direct_convolutions()


@contextlib.contextmanager
def direct_convolutions() -> Iterator[None]:
    """No convolution inside takes the Winograd path (to count a model's FLOPs as its
    convolutions define them: ``benchmarks/infer_measure.count_flops``)."""
    _DIRECT[0] += 1
    try:
        yield
    finally:
        _DIRECT[0] -= 1


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _kernel_path(kernel: Sequence[int], stride: int | Sequence[int],
                 padding: int | Sequence[int] | str, dilation: int | Sequence[int],
                 groups: int) -> str | None:
    """Which of openhoi's kernels fits this geometry: ``winograd`` (3x3, stride 1),
    ``stride2`` (3x3, stride 2), both with padding 1, dilation 1 and one group; else None."""
    if (tuple(kernel) != (3, 3) or groups != 1 or isinstance(padding, str)
            or _pair(padding) != (1, 1) or _pair(dilation) != (1, 1)):
        return None
    return {(1, 1): "winograd", (2, 2): "stride2"}.get(_pair(stride))


def _cpu_float32(x: Tensor, weight: Tensor) -> bool:
    """A non-empty float32 CPU batch and weight, outside autocast and ``torch.compile``."""
    return (x.device.type == "cpu" and x.dtype == torch.float32
            and weight.dtype == torch.float32 and x.dim() == 4 and weight.dim() == 4
            and x.numel() > 0 and not torch.is_autocast_enabled("cpu")
            and not torch.compiler.is_compiling())


def winograd_applies(x: Tensor, weight: Tensor, stride: int | Sequence[int] = 1,
                     padding: int | Sequence[int] | str = 0,
                     dilation: int | Sequence[int] = 1, groups: int = 1,
                     min_channels: int = winograd.MIN_CHANNELS) -> bool:
    """Whether :func:`conv2d` computes this convolution by Winograd's algorithm."""
    return (not _DIRECT[0] and _cpu_float32(x, weight)
            and _kernel_path(weight.shape[2:], stride, padding, dilation, groups) == "winograd"
            and min(weight.shape[0], weight.shape[1]) >= min_channels)


def stride2_applies(x: Tensor, weight: Tensor, stride: int | Sequence[int] = 1,
                    padding: int | Sequence[int] | str = 0,
                    dilation: int | Sequence[int] = 1, groups: int = 1,
                    min_channels: int = strided_conv.MIN_CHANNELS) -> bool:
    """Whether :func:`conv2d` takes the gathered weight gradient (a weight that needs its
    gradient, or nothing is gained)."""
    return (_cpu_float32(x, weight)
            and _kernel_path(weight.shape[2:], stride, padding, dilation, groups) == "stride2"
            and weight.shape[1] >= min_channels
            and torch.is_grad_enabled() and weight.requires_grad)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
           stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 0,
           dilation: int | Sequence[int] = 1, groups: int = 1, fast: bool = True,
           min_channels: int = winograd.MIN_CHANNELS) -> Tensor:
    """``F.conv2d``, by openhoi's kernels where they apply and ``fast`` is on
    (``min_channels``: the fewest channels the Winograd path takes)."""
    if fast:
        if winograd_applies(x, weight, stride, padding, dilation, groups, min_channels):
            return winograd.winograd_conv2d(x, weight, bias)
        if stride2_applies(x, weight, stride, padding, dilation, groups):
            return strided_conv.stride2_conv3x3(x, weight, bias)
    return F.conv2d(x, weight, bias, stride, padding, dilation, groups)


def module_conv2d(conv: nn.Conv2d, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``conv``'s convolution of ``x`` with ``weight`` and ``bias`` (its own, or a folded copy
    of them): its geometry, and openhoi's kernels where ``conv`` is a :class:`Conv2d` with
    ``fast_conv`` on (zero padding assumed)."""
    fast = isinstance(conv, Conv2d) and conv.fast_conv
    return conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups,
                  fast=fast, min_channels=conv.min_channels if fast else winograd.MIN_CHANNELS)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same arguments, parameters and state dict) through :func:`conv2d`
    (``fast_conv``: whether openhoi's kernels may take it; ``min_channels``: the fewest
    channels of the Winograd path)."""

    fast_conv: bool = True
    min_channels: int = winograd.MIN_CHANNELS

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if self.padding_mode != "zeros":
            return super()._conv_forward(x, weight, bias)
        return module_conv2d(self, x, weight, bias)


def _eligible(conv: nn.Module) -> bool:
    """A convolution whose geometry one of openhoi's kernels fits (channels and dtype are
    checked per call)."""
    return (isinstance(conv, nn.Conv2d) and conv.padding_mode == "zeros"
            and _kernel_path(conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                             conv.groups) is not None)
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
