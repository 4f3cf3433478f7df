"""``openhoi.ops.linear``: oneDNN's products give ``F.linear``'s values and gradients."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from openhoi.ops import linear as linear_module
from openhoi.ops.linear import Linear, linear, onednn_available, use_onednn_linear

needs_onednn = pytest.mark.skipif(not onednn_available(), reason="PyTorch without oneDNN")


def _case(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Inputs of every layout the models pass: views, slices, transposes, strided bias."""
    g = torch.Generator().manual_seed(0)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g)

    return {
        "2d": (r(5, 8), r(3, 8), r(3)),
        "3d no bias": (r(2, 5, 8), r(3, 8), None),
        "4d": (r(2, 3, 5, 8), r(3, 8), r(3)),
        "x transposed": (r(8, 5).t(), r(3, 8), r(3)),
        "x sequence-first": (r(5, 2, 8).transpose(0, 1), r(3, 8), r(3)),
        "x strided": (r(5, 16)[:, ::2], r(3, 8), None),
        "weight transposed": (r(5, 8), r(8, 3).t(), r(3)),
        "packed rows": (r(5, 8), r(9, 8)[3:6], r(9)[3:6]),
        "bias strided": (r(5, 8), r(3, 8), r(6)[::2]),
        "one row": (r(1, 8), r(3, 8), r(3)),
    }[name]


CASES = ["2d", "3d no bias", "4d", "x transposed", "x sequence-first", "x strided",
         "weight transposed", "packed rows", "bias strided", "one row"]


@needs_onednn
@pytest.mark.parametrize("name", CASES)
def test_values_and_gradients_equal_f_linear(name: str) -> None:
    x, w, b = _case(name)
    leaves = [t.detach().clone().requires_grad_() for t in (x, w) + ((b,) if b is not None else ())]
    mine = [t.detach().clone().requires_grad_() for t in leaves]
    out = linear(mine[0], mine[1], mine[2] if b is not None else None)
    expected = F.linear(leaves[0], leaves[1], leaves[2] if b is not None else None)
    assert out.grad_fn is not None and "OneDNN" in type(out.grad_fn).__name__
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    grad = torch.randn(expected.shape, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(torch.autograd.grad(out, mine, grad),
                               torch.autograd.grad(expected, leaves, grad),
                               rtol=1e-5, atol=1e-5)


@needs_onednn
def test_only_the_gradients_asked_for() -> None:
    x, w, b = _case("3d no bias")
    w = w.requires_grad_()
    (grad_w,) = torch.autograd.grad(linear(x, w).sum(), [w])  # x needs no gradient
    torch.testing.assert_close(grad_w, torch.autograd.grad(F.linear(x, w).sum(), [w])[0])
    x = x.requires_grad_()
    (grad_x,) = torch.autograd.grad(linear(x, w.detach()).sum(), [x])  # a frozen layer
    torch.testing.assert_close(grad_x, torch.autograd.grad(F.linear(x, w.detach()).sum(), [x])[0])


@needs_onednn
def test_without_gradients_no_graph_and_same_values() -> None:
    x, w, b = _case("4d")
    with torch.inference_mode():
        out = linear(x, w, b)
    assert out.grad_fn is None
    torch.testing.assert_close(out, F.linear(x, w, b))


@pytest.mark.parametrize("what", ["float64", "autocast", "1d", "empty", "no onednn"])
def test_falls_back_to_f_linear(what: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Other dtypes, bf16 autocast (torch's own oneDNN bf16 path), 1-d and empty inputs, and a
    PyTorch without oneDNN take ``F.linear`` itself."""
    calls = []
    real = F.linear
    monkeypatch.setattr(linear_module.F, "linear", lambda *a: calls.append(1) or real(*a))
    x, w, b = _case("2d")
    if what == "float64":
        x, w, b = x.double(), w.double(), b.double()
    if what == "1d":
        x = x[0]
    if what == "empty":
        x = x[:0]
    if what == "no onednn":
        monkeypatch.setattr(linear_module, "_AVAILABLE", False)
    if what == "autocast":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = linear(x, w, b)
        assert out.dtype == torch.bfloat16
    else:
        out = linear(x, w, b)
        torch.testing.assert_close(out, real(x, w, b))
    assert calls == [1]


def test_use_onednn_linear_keeps_the_modules_and_their_state() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Sequential(nn.Linear(3, 2)),
                          nn.MultiheadAttention(4, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = list(model.parameters())
    first = model[0]
    assert use_onednn_linear(model) == 2  # MultiheadAttention's out_proj is not plain nn.Linear
    assert type(model[0]) is Linear and type(model[2][0]) is Linear and model[0] is first
    assert list(model.parameters()) == params
    assert model.state_dict().keys() == before.keys()
    x = torch.randn(5, 4)
    expected = nn.Sequential(*[copy.deepcopy(m) for m in model[:3]])
    use_onednn_linear(expected, enabled=False)
    torch.testing.assert_close(model[:3](x), expected(x), rtol=1e-5, atol=1e-5)
    assert type(copy.deepcopy(model)[0]) is Linear
    assert use_onednn_linear(model, enabled=False) == 2
    assert type(model[0]) is nn.Linear and use_onednn_linear(model, enabled=False) == 0


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="PyTorch without oneDNN")
def test_the_private_op_exists_where_onednn_does() -> None:
    """``torch.ops.mkldnn._linear_pointwise`` is private: if a PyTorch upgrade renames it, the
    fallback would silently take MKL again; this test says so instead."""
    assert onednn_available()
    x, w, b = _case("2d")
    assert torch.equal(linear_module._matmul_t(x, w, b),
                       torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], ""))
