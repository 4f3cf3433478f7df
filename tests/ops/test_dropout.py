"""The cheap CPU dropout: keep probability, independence, scaling, gradient, fallbacks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from openhoi.ops.dropout import Dropout, dropout, scaled_keep_mask, set_fast_dropout


def test_mask_keeps_each_element_with_one_minus_p() -> None:
    torch.manual_seed(0)
    p, n = 0.1, 4_000_001  # odd: the last 64-bit word is only partly used
    mask = scaled_keep_mask((n,), p)
    kept = mask > 0
    assert mask.unique().tolist() == [0.0, pytest.approx(1 / 0.9)]
    expected = 1 - round(p * 2**15) / 2**15
    sigma = (expected * (1 - expected) / n) ** 0.5
    assert abs(kept.float().mean().item() - expected) < 5 * sigma


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_lanes_of_one_word_are_independent(p: float) -> None:
    """Four elements share a 64-bit word: the top lane (one bit short) keeps as often as the
    others and no lane predicts its neighbour."""
    torch.manual_seed(1)
    kept = (scaled_keep_mask((1_000_000, 4), p) > 0).float()
    rates = kept.mean(0)
    assert (rates - (1 - p)).abs().max() < 0.004
    centred = kept - rates
    corr = (centred[:, :-1] * centred[:, 1:]).mean(0) / (rates[:-1] * (1 - rates[:-1]))
    assert corr.abs().max() < 0.01


def test_seeded_and_fresh_per_call() -> None:
    torch.manual_seed(3)
    a, b = scaled_keep_mask((1000,), 0.3), scaled_keep_mask((1000,), 0.3)
    torch.manual_seed(3)
    assert torch.equal(scaled_keep_mask((1000,), 0.3), a)
    assert not torch.equal(a, b)


def test_output_and_gradient_are_the_masked_scaled_input() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 33, dtype=torch.float64, requires_grad=True)
    out = dropout(x, 0.25, training=True)
    mask = (out != 0).double() / 0.75
    torch.testing.assert_close(out, x * mask)
    g = torch.randn_like(out)
    out.backward(g)
    torch.testing.assert_close(x.grad, g * mask)
    assert 0.6 < (out != 0).double().mean() < 0.9


def test_bfloat16_keeps_its_dtype_and_scales_like_torch() -> None:
    """0 / 1 mask, then the float scale: no bias from 1 / 0.9 rounded to bfloat16."""
    x = torch.randn(10_000).to(torch.bfloat16)
    out = dropout(x, 0.1, training=True)
    assert out.dtype == torch.bfloat16
    keep = out != 0
    torch.testing.assert_close(out, x.mul(keep).mul_(1 / 0.9), rtol=0, atol=0)
    ratio = (out[keep].float() / x[keep].float()).mean().item()
    assert abs(ratio - 1 / 0.9) < 2e-3


def test_falls_back_to_torch() -> None:
    x = torch.randn(100)
    assert torch.equal(dropout(x, 0.5, training=False), x)
    assert torch.equal(dropout(x, 0.0, training=True), x)
    assert torch.equal(dropout(x, 1.0, training=True), torch.zeros(100))
    torch.manual_seed(5)
    ours = dropout(x, 0.3, training=True, fast=False)
    torch.manual_seed(5)
    assert torch.equal(ours, F.dropout(x, 0.3, True))


def test_module_and_switch() -> None:
    model = nn.Sequential(nn.Linear(4, 4), Dropout(0.5), nn.Sequential(Dropout(0.2)))
    assert set_fast_dropout(model, False) == 2
    assert all(not m.fast_dropout for m in model.modules() if isinstance(m, Dropout))
    x = torch.randn(200, 4)
    torch.manual_seed(7)
    slow = model[1](x)
    torch.manual_seed(7)
    assert torch.equal(slow, F.dropout(x, 0.5, True))
    set_fast_dropout(model, True)
    assert model[1](x).shape == x.shape
    assert model.state_dict().keys() == {"0.weight", "0.bias"}
    model.eval()
    assert torch.equal(model[1](x), x)
