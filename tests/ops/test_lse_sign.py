import math

import pytest
import torch

from openhoi.ops.losses import lse_sign_loss, masked_bce_loss


def test_lse_sign_hand_values():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    targets = torch.tensor([[1, -1, 0], [-1, -1, 1]])
    # image 0: log(1 + e^-2 + e^-1), class 2 ignored; image 1: log(1 + e^0 + e^3 + e^2)
    l0 = math.log(1 + math.exp(-2) + math.exp(-1))
    l1 = math.log(1 + 1 + math.exp(3) + math.exp(2))
    per = lse_sign_loss(logits, targets, reduction="none")
    assert torch.allclose(per, torch.tensor([l0, l1]))
    assert torch.allclose(lse_sign_loss(logits, targets), torch.tensor((l0 + l1) / 2))
    assert torch.allclose(lse_sign_loss(logits, targets, "sum"), torch.tensor(l0 + l1))


def test_lse_sign_all_ignored_is_zero_and_single_class_is_softplus():
    assert lse_sign_loss(torch.randn(2, 4), torch.zeros(2, 4)).item() == 0.0
    s = torch.tensor([[0.7]])
    assert torch.allclose(lse_sign_loss(s, torch.tensor([[1]])), torch.log1p(torch.exp(-s)))
    assert torch.allclose(lse_sign_loss(s, torch.tensor([[-1]])), torch.log1p(torch.exp(s)))


def test_lse_sign_matches_defr_sign_loss_when_no_class_is_ignored():
    # DEFR criterion.py SignLoss: negate logits of positives, prepend 0, logsumexp.
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 7, generator=g) * 3
    onehot = (torch.rand(5, 7, generator=g) > 0.7).float()
    ref = logits.clone()
    ref[onehot == 1] *= -1
    ref = torch.logsumexp(torch.cat([torch.zeros(5, 1), ref], 1), 1)
    assert torch.allclose(lse_sign_loss(logits, onehot * 2 - 1, "none"), ref)


def test_lse_sign_gradcheck_float64():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 6, dtype=torch.float64, generator=g, requires_grad=True)
    targets = torch.tensor([[1, -1, 0, -1, 1, 0], [0, 0, 0, 0, 0, -1], [1, 1, -1, -1, 0, 1]])
    assert torch.autograd.gradcheck(lambda s: lse_sign_loss(s, targets, "none"), (logits,))
    loss = lse_sign_loss(logits, targets, "sum")
    loss.backward()
    assert (logits.grad[targets == 0] == 0).all()  # ignored classes get no gradient


def test_lse_sign_large_logits_are_finite():
    logits = torch.tensor([[1e4, -1e4, 1e4], [-1e4, 1e4, 0.0]], requires_grad=True)
    targets = torch.tensor([[-1, 1, 1], [-1, -1, 0]])
    loss = lse_sign_loss(logits, targets, "none")
    assert torch.isfinite(loss).all()
    assert torch.allclose(loss, torch.tensor([1e4 + math.log(2), 1e4]), rtol=1e-6)
    loss.sum().backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().max() <= 1


def test_masked_bce_ignores_zeros_and_rejects_bad_shapes():
    logits = torch.tensor([[2.0, -1.0, 9.0]])
    targets = torch.tensor([[1, -1, 0]])
    expected = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-1))) / 2
    assert torch.allclose(masked_bce_loss(logits, targets), torch.tensor(expected))
    with pytest.raises(ValueError, match=r"\[B, C\]"):
        lse_sign_loss(torch.zeros(3), torch.zeros(3))
