"""Winograd F(2x2, 3x3) convolutions (``openhoi.ops.winograd``): the same values and gradients
as ``F.conv2d``, in float64 to 1e-12 and in float32 at the channel threshold."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conv_cases import conv_inputs
from openhoi.ops.conv import conv2d, direct_convolutions, winograd_applies
from openhoi.ops.winograd import MIN_CHANNELS, filter_transform, winograd_conv2d

SHAPES = [  # (N, C, K, H, W): even and odd sizes, one pixel, one channel, rectangular
    (2, 3, 4, 6, 8), (1, 2, 5, 7, 5), (2, 4, 3, 1, 1), (1, 1, 1, 2, 3), (3, 5, 2, 9, 4),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("with_bias", [True, False])
def test_values_and_gradients_equal_the_direct_convolution(shape, channels_last, with_bias):
    x, weight, bias = conv_inputs(*shape, channels_last=channels_last)
    bias = bias if with_bias else None
    got = winograd_conv2d(x, weight, bias)
    expected = F.conv2d(x, weight, bias, padding=1)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    grad = torch.randn_like(expected)
    inputs = (x, weight) + ((bias,) if with_bias else ())
    for a, b in zip(torch.autograd.grad(got, inputs, grad),
                    torch.autograd.grad(expected, inputs, grad), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_gradcheck():
    x, weight, bias = conv_inputs(2, 2, 3, 5, 4)
    assert torch.autograd.gradcheck(winograd_conv2d, (x, weight, bias))


@pytest.mark.parametrize("needs", [(True, False, False), (False, True, True), (False, True, False)])
def test_only_the_gradients_asked_for(needs):
    """A frozen input (ResNet's layer after a frozen stage) or frozen weights: only the other
    gradients are computed, and they are the direct convolution's."""
    x, weight, bias = conv_inputs(2, 3, 4, 6, 6, needs=needs)
    leaves = [t for t in (x, weight, bias) if t.requires_grad]
    got = torch.autograd.grad(winograd_conv2d(x, weight, bias).sum(), leaves)
    expected = torch.autograd.grad(F.conv2d(x, weight, bias, padding=1).sum(), leaves)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)


def test_filter_transform_hand_values():
    """``U = G g G^T`` for one filter: the corner taps pass through, the middle averages."""
    g = torch.arange(9, dtype=torch.float64).view(1, 1, 3, 3)
    u = filter_transform(g).view(4, 4)
    G = torch.tensor([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=torch.float64)
    torch.testing.assert_close(u, G @ g[0, 0] @ G.t())
    assert u[0, 0] == 0 and u[3, 3] == 8 and u[0, 3] == 2


def test_float32_at_the_threshold_takes_the_path_and_agrees_to_rounding():
    x, weight, bias = conv_inputs(1, MIN_CHANNELS, MIN_CHANNELS, 6, 10, torch.float32, True)
    weight.data.mul_(0.05)
    assert winograd_applies(x, weight, 1, 1)
    got = conv2d(x, weight, bias, padding=1)
    expected = F.conv2d(x, weight, bias, padding=1)
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert got._base is None  # not a view: in-place ops after it keep their gradients
    torch.testing.assert_close(got, expected, rtol=0, atol=2e-5 * expected.abs().max().item())
    grad = torch.randn_like(expected)
    for a, b in zip(torch.autograd.grad(got, (x, weight, bias), grad),
                    torch.autograd.grad(expected, (x, weight, bias), grad), strict=True):
        assert ((a - b).norm() / b.norm()).item() < 1e-5


def test_in_place_after_the_convolution_keeps_gradients():
    x, weight, bias = conv_inputs(2, 3, 4, 6, 6)
    got = winograd_conv2d(x, weight, bias).relu_()
    expected = F.conv2d(x, weight, bias, padding=1).relu_()
    for a, b in zip(torch.autograd.grad(got.sum(), (x, weight)),
                    torch.autograd.grad(expected.sum(), (x, weight)), strict=True):
        torch.testing.assert_close(a, b)


def test_direct_convolutions_context():
    x, weight, _ = conv_inputs(1, MIN_CHANNELS, MIN_CHANNELS, 4, 4, torch.float32)
    assert winograd_applies(x, weight, 1, 1)
    with direct_convolutions():
        with direct_convolutions():
            assert not winograd_applies(x, weight, 1, 1)
        assert not winograd_applies(x, weight, 1, 1)
    assert winograd_applies(x, weight, 1, 1)


def test_inference_mode_and_no_grad():
    x, weight, bias = (t.detach() for t in conv_inputs(2, 3, 4, 5, 7))
    expected = F.conv2d(x, weight, bias, padding=1)
    with torch.inference_mode():
        torch.testing.assert_close(winograd_conv2d(x, weight, bias), expected)
    with torch.no_grad():
        torch.testing.assert_close(winograd_conv2d(x, weight, bias), expected)
