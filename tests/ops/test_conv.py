"""``openhoi.ops.conv``: each convolution goes to the kernel that applies, ``F.conv2d`` for
everything else, and the module swap keeps the model's state."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from openhoi.ops import strided_conv, winograd
from openhoi.ops.conv import Conv2d, conv2d, use_fast_conv
from openhoi.ops.winograd import MIN_CHANNELS


def _spy(monkeypatch):
    """Record which kernel each conv2d call took (they still compute)."""
    calls = []
    for module, name in ((winograd, "winograd_conv2d"), (strided_conv, "stride2_conv3x3")):
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _o=original, _n=name: calls.append(_n)
                            or _o(*a))
    return calls


def test_each_kernel_where_it_applies(monkeypatch):
    calls = _spy(monkeypatch)
    c = MIN_CHANNELS
    x = torch.randn(1, c, 6, 6, requires_grad=True)
    w = torch.randn(c, c, 3, 3, requires_grad=True)
    torch.testing.assert_close(conv2d(x, w, padding=1), F.conv2d(x, w, padding=1),
                               rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(conv2d(x, w, stride=2, padding=1), F.conv2d(x, w, None, 2, 1))
    assert calls == ["winograd_conv2d", "stride2_conv3x3"]
    conv2d(x, w, padding=1, fast=False)
    conv2d(x, w, stride=2, padding=1, fast=False)
    assert calls == ["winograd_conv2d", "stride2_conv3x3"]


@pytest.mark.parametrize("case", ["padding", "same", "dilation", "groups", "kernel", "stride3",
                                  "narrow_in", "narrow_out", "bfloat16", "float64", "autocast",
                                  "empty"])
def test_other_convolutions_take_the_direct_path(case, monkeypatch):
    calls = _spy(monkeypatch)
    c = MIN_CHANNELS
    x = torch.randn(1, c, 4, 4)
    weight = torch.randn(c, c, 3, 3, requires_grad=True)
    kwargs = {"stride": 1, "padding": 1, "dilation": 1, "groups": 1}
    if case == "dilation":
        kwargs[case] = 2
    elif case == "stride3":
        kwargs["stride"] = 3
    elif case == "padding":
        kwargs["padding"] = 0
    elif case == "same":
        kwargs["padding"] = "same"
    elif case == "groups":
        kwargs["groups"] = 2
        weight = torch.randn(c, c // 2, 3, 3)
    elif case == "kernel":
        weight = torch.randn(c, c, 1, 1)
    elif case == "narrow_in":
        x, weight = torch.randn(1, c // 4, 4, 4), torch.randn(c, c // 4, 3, 3)
    elif case == "narrow_out":
        weight = torch.randn(c // 2, c, 3, 3)
    elif case in ("bfloat16", "float64"):
        x, weight = x.to(getattr(torch, case)), weight.to(getattr(torch, case))
    elif case == "empty":
        x = x[:0]
    if case == "autocast":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            conv2d(x, weight, **kwargs)
            conv2d(x, weight, **{**kwargs, "stride": 2})
    else:
        torch.testing.assert_close(conv2d(x, weight, **kwargs), F.conv2d(x, weight, **kwargs))
    assert calls == []


def test_use_fast_conv_swaps_only_eligible_convolutions_and_keeps_state(monkeypatch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, stride=2, padding=1),
                          nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"),
                          nn.Conv2d(4, 4, 3, stride=3, padding=1))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(1, 4, 8, 8)
    expected = model(x)
    assert use_fast_conv(model, True) == 2
    assert [type(m) for m in model] == [Conv2d, Conv2d, nn.Conv2d, nn.Conv2d, nn.Conv2d]
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    torch.testing.assert_close(model(x), expected)  # 4 channels: below both thresholds
    calls = _spy(monkeypatch)
    model[0].min_channels = 1
    torch.testing.assert_close(model(x), expected)
    assert calls == ["winograd_conv2d"]
    model[0].fast_conv = False
    model(x)
    assert calls == ["winograd_conv2d"]
    assert use_fast_conv(model, False) == 2 and type(model[0]) is nn.Conv2d
    assert use_fast_conv(model, False) == 0
