"""3x3 stride-2 convolutions with the weight gradient as one product (``openhoi.ops
.strided_conv``): values and all gradients equal ``F.conv2d``'s, odd sizes included."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conv_cases import conv_inputs
from openhoi.ops.conv import stride2_applies
from openhoi.ops.strided_conv import MIN_CHANNELS, gathered_taps, stride2_conv3x3

SHAPES = [(2, 3, 4, 8, 10), (1, 2, 5, 7, 9), (2, 4, 3, 1, 1), (1, 1, 2, 2, 3), (3, 5, 2, 6, 5)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_values_and_gradients_equal_the_direct_convolution(shape, channels_last):
    x, weight, bias = conv_inputs(*shape, channels_last=channels_last)
    got = stride2_conv3x3(x, weight, bias)
    expected = F.conv2d(x, weight, bias, stride=2, padding=1)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    grad = torch.randn_like(expected)
    for a, b in zip(torch.autograd.grad(got, (x, weight, bias), grad),
                    torch.autograd.grad(expected, (x, weight, bias), grad), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_gradcheck():
    assert torch.autograd.gradcheck(stride2_conv3x3, conv_inputs(1, 2, 3, 7, 6))


def test_gathered_taps_hand_values():
    """One channel, a 3x4 image: output pixel (0, 1) reads rows -1..1, columns 1..3."""
    x = torch.arange(12, dtype=torch.float64).view(1, 1, 3, 4)
    taps = gathered_taps(x, 2, 2).view(2, 2, 3, 3)
    torch.testing.assert_close(taps[0, 1], torch.tensor([[0, 0, 0], [1, 2, 3], [5, 6, 7.0]],
                                                        dtype=torch.float64))
    torch.testing.assert_close(taps[1, 0], torch.tensor([[0, 4, 5], [0, 8, 9], [0, 0, 0.0]],
                                                        dtype=torch.float64))


@pytest.mark.parametrize("needs", [(False, True, True), (True, True, False), (True, False, True)])
def test_only_the_gradients_asked_for(needs):
    x, weight, bias = conv_inputs(2, 3, 4, 9, 8, needs=needs)
    leaves = [t for t in (x, weight, bias) if t.requires_grad]
    got = torch.autograd.grad(stride2_conv3x3(x, weight, bias).sum(), leaves)
    expected = torch.autograd.grad(F.conv2d(x, weight, bias, 2, 1).sum(), leaves)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)


def test_float32_weight_gradient_agrees_to_rounding_and_keeps_the_layout():
    x, weight, bias = conv_inputs(2, MIN_CHANNELS, 32, 12, 16, torch.float32, channels_last=True)
    assert stride2_applies(x, weight, 2, 1)
    got = stride2_conv3x3(x, weight, bias)
    expected = F.conv2d(x, weight, bias, 2, 1)
    torch.testing.assert_close(got, expected)
    grad = torch.randn_like(expected)
    (a,) = torch.autograd.grad(got, (weight,), grad)
    (b,) = torch.autograd.grad(expected, (weight,), grad)
    assert a.is_contiguous(memory_format=torch.channels_last)
    assert ((a - b).norm() / b.norm()).item() < 1e-5


def test_applies_only_where_it_pays():
    x, weight, _ = conv_inputs(1, MIN_CHANNELS, 8, 8, 8, torch.float32)
    assert stride2_applies(x, weight, 2, 1)
    assert not stride2_applies(x, weight, 1, 1)  # stride 1
    assert not stride2_applies(x, weight, 2, 0)
    assert not stride2_applies(x[:, :MIN_CHANNELS // 2], weight[:, :MIN_CHANNELS // 2], 2, 1)
    assert not stride2_applies(x.double(), weight.double(), 2, 1)
    assert not stride2_applies(x, weight.detach(), 2, 1)  # no weight gradient: nothing to gain
    with torch.no_grad():
        assert not stride2_applies(x, weight, 2, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not stride2_applies(x, weight, 2, 1)


def test_rejects_other_kernels():
    with pytest.raises(ValueError, match=r"\[K, C, 3, 3\] weight"):
        stride2_conv3x3(torch.randn(1, 3, 4, 4), torch.randn(2, 3, 1, 1))
