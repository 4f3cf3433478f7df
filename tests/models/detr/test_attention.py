"""``MultiheadAttention``: the training path computes ``nn.MultiheadAttention``'s result."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from openhoi.models.detr.attention import MultiheadAttention, adopt_attention
from openhoi.ops.dropout import set_fast_dropout
from openhoi.ops.linear import use_onednn_linear

E, H = 32, 4


def _pair() -> tuple[MultiheadAttention, nn.MultiheadAttention]:
    torch.manual_seed(0)
    ours = MultiheadAttention(E, H, dropout=0.1, batch_first=True).double()
    ref = nn.MultiheadAttention(E, H, dropout=0.0, batch_first=True).double().eval()
    ref.load_state_dict(ours.state_dict())
    ours.dropout = 1e-9  # the training path, every weight kept (scale 1 + 1e-9)
    return ours.train(), ref


def _inputs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 4:] = True
    return {"q": torch.randn(2, 5, E, dtype=torch.float64, generator=g),
            "mem": torch.randn(2, 7, E, dtype=torch.float64, generator=g),
            "pad": pad,
            "bias": torch.randn(2 * H, 5, 7, dtype=torch.float64, generator=g),
            "bool_mask": torch.rand(5, 7, generator=g) > 0.7}


@pytest.mark.parametrize("masks", [(), ("pad",), ("bias",), ("pad", "bool_mask"),
                                   ("no_pad",)])
def test_cross_attention_values_and_gradients(masks: tuple[str, ...]) -> None:
    ours, ref = _pair()
    x = _inputs()
    kwargs = {}
    if "pad" in masks:
        kwargs["key_padding_mask"] = x["pad"]
    if "no_pad" in masks:
        kwargs["key_padding_mask"] = torch.zeros(2, 7, dtype=torch.bool)
    if "bias" in masks:
        kwargs["attn_mask"] = x["bias"]
    if "bool_mask" in masks:
        kwargs["attn_mask"] = x["bool_mask"]
    q = x["q"].requires_grad_()
    out = ours(q, x["mem"], x["mem"], need_weights=False, **kwargs)
    assert out[1] is None
    expected = ref(q, x["mem"], x["mem"], need_weights=False, **kwargs)[0]
    torch.testing.assert_close(out[0], expected)
    (g_ours,) = torch.autograd.grad(out[0].square().sum(), q)
    (g_ref,) = torch.autograd.grad(expected.square().sum(), q)
    torch.testing.assert_close(g_ours, g_ref)


def test_self_attention_shares_the_packed_projection() -> None:
    ours, ref = _pair()
    q = _inputs()["q"]
    torch.testing.assert_close(ours(q, q, q, need_weights=False)[0],
                               ref(q, q, q, need_weights=False)[0])
    k = q + 1.0  # query is not key: three projections
    torch.testing.assert_close(ours(q, k, q, need_weights=False)[0],
                               ref(q, k, q, need_weights=False)[0])
    torch.testing.assert_close(ours(q, k, k, need_weights=False)[0],  # key is value
                               ref(q, k, k, need_weights=False)[0])


def test_dropout_reaches_the_attention_weights_and_follows_the_seed() -> None:
    torch.manual_seed(0)
    m = MultiheadAttention(E, H, dropout=0.5, batch_first=True).train()
    q = torch.randn(2, 6, E)
    torch.manual_seed(1)
    a = m(q, q, q, need_weights=False)[0]
    torch.manual_seed(1)
    assert torch.equal(m(q, q, q, need_weights=False)[0], a)
    m.eval()
    assert not torch.allclose(m(q, q, q, need_weights=False)[0], a)


def test_other_cases_are_torchs_forward() -> None:
    ours, ref = _pair()
    q = _inputs()["q"]
    out, weights = ours(q, q, q)  # need_weights: torch's path, weights returned
    assert weights is not None and weights.shape == (2, 5, 5)
    set_fast_dropout(ours, False)
    assert ours.fast_dropout is False
    ours.eval()
    torch.testing.assert_close(ours(q, q, q, need_weights=False)[0],
                               ref(q, q, q, need_weights=False)[0])
    assert ours.state_dict().keys() == ref.state_dict().keys()


def _eval_pair(mask_dtype: torch.dtype = torch.float32
               ) -> tuple[MultiheadAttention, nn.MultiheadAttention, dict[str, torch.Tensor]]:
    """float32 modules in evaluation (the oneDNN path) and float32 inputs."""
    ours, ref = _pair()
    ours, ref = ours.float().eval(), ref.float().eval()
    x = {k: v.float() if v.is_floating_point() else v for k, v in _inputs().items()}
    return ours, ref, x


@pytest.mark.parametrize("masks", [(), ("pad",), ("bias",), ("pad", "bool_mask"), ("pad", "bias")])
@pytest.mark.parametrize("grad", [False, True])
def test_evaluation_path_is_torchs_result(masks: tuple[str, ...], grad: bool,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Without dropout, float32 on the CPU: oneDNN projections and scaled_dot_product_attention
    give torch's values (and gradients, e.g. a frozen CLIP tower inside a training step)."""
    ours, ref, x = _eval_pair()
    torch_forward = nn.MultiheadAttention.forward
    monkeypatch.setattr(nn.MultiheadAttention, "forward",
                        lambda *a, **k: pytest.fail("took torch's path"))
    kwargs = {}
    if "pad" in masks:
        kwargs["key_padding_mask"] = x["pad"]
    if "bias" in masks:
        kwargs["attn_mask"] = x["bias"]
    if "bool_mask" in masks:
        kwargs["attn_mask"] = x["bool_mask"]
    q = x["q"].requires_grad_(grad)
    with torch.set_grad_enabled(grad):
        out = ours(q, x["mem"], x["mem"], need_weights=False, **kwargs)[0]
    monkeypatch.setattr(nn.MultiheadAttention, "forward", torch_forward)
    expected = ref(q, x["mem"], x["mem"], need_weights=False, **kwargs)[0]
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    if grad:
        torch.testing.assert_close(torch.autograd.grad(out.square().sum(), q),
                                   torch.autograd.grad(expected.square().sum(), q),
                                   rtol=1e-4, atol=1e-5)


def test_evaluation_self_attention_one_packed_product() -> None:
    ours, ref, x = _eval_pair()
    q = x["q"]
    causal = torch.full((5, 5), float("-inf")).triu(1)  # open_clip's text mask
    for mask in (None, causal):
        torch.testing.assert_close(ours(q, q, q, need_weights=False, attn_mask=mask)[0],
                                   ref(q, q, q, need_weights=False, attn_mask=mask)[0],
                                   rtol=1e-5, atol=1e-5)


def test_adopt_attention_and_the_onednn_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.MultiheadAttention(E, H, batch_first=True)).eval()
    ref = copy.deepcopy(model)
    assert adopt_attention(model) == 1 and type(model[0]) is MultiheadAttention
    assert model.state_dict().keys() == ref.state_dict().keys()
    q = torch.randn(2, 5, E)
    torch.testing.assert_close(model[0](q, q, q, need_weights=False)[0],
                               ref[0](q, q, q, need_weights=False)[0], rtol=1e-5, atol=1e-5)
    use_onednn_linear(model, enabled=False)  # torch's own forward again
    assert model[0].onednn_linear is False
    calls = []
    torch_forward = nn.MultiheadAttention.forward
    monkeypatch.setattr(nn.MultiheadAttention, "forward",
                        lambda *a, **k: calls.append(1) or torch_forward(*a, **k))
    model[0](q, q, q, need_weights=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16: torch's path whatever the switch
        use_onednn_linear(model, enabled=True)
        model[0](q, q, q, need_weights=False)
    assert calls == [1, 1]
