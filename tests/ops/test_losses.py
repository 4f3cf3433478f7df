import math

import torch

from openhoi.ops.losses import clamped_sigmoid, cornernet_focal_loss, gaussian_focal_loss


def test_focal_loss_hand_value():
    probs = torch.tensor([[0.8, 0.3], [0.1, 0.6]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 0.5]])  # 0.5 counts as negative (< 1)
    a = 0.25
    pos = a * math.log(0.8) * 0.2 ** 2
    neg = (1 - a) * (math.log(0.7) * 0.3 ** 2 + math.log(0.9) * 0.1 ** 2
                     + math.log(0.4) * 0.6 ** 2)
    expected = -(pos + neg) / 1
    assert torch.allclose(cornernet_focal_loss(probs, targets, a), torch.tensor(expected))


def test_focal_loss_without_positives_is_unnormalised_negative_sum():
    probs = torch.tensor([0.2, 0.4])
    expected = -0.5 * (math.log(0.8) * 0.04 + math.log(0.6) * 0.16)
    assert torch.allclose(cornernet_focal_loss(probs, torch.zeros(2), 0.5),
                          torch.tensor(expected))


def test_focal_loss_normalises_by_positive_count():
    probs = torch.full((4,), 0.5)
    one = cornernet_focal_loss(probs[:2], torch.tensor([1.0, 0.0]), 0.5)
    two = cornernet_focal_loss(probs, torch.tensor([1.0, 0.0, 1.0, 0.0]), 0.5)
    assert torch.allclose(one, two)


def test_clamped_sigmoid_keeps_logs_finite():
    p = clamped_sigmoid(torch.tensor([-100.0, 0.0, 100.0]))
    assert torch.allclose(p, torch.tensor([1e-4, 0.5, 1 - 1e-4]))
    loss = cornernet_focal_loss(p, torch.tensor([1.0, 0.0, 0.0]))
    assert torch.isfinite(loss)


def test_gaussian_focal_loss_matches_centernet_eq1_by_hand():
    probs = torch.tensor([0.8, 0.3, 0.1, 0.6])
    targets = torch.tensor([1.0, 0.5, 0.0, 0.0])
    valid = torch.tensor([True, True, True, False])  # the last cell is padding
    pos = (1 - 0.8) ** 2 * math.log(0.8)
    neg = (1 - 0.5) ** 4 * 0.3 ** 2 * math.log(0.7) + 0.1 ** 2 * math.log(0.9)
    assert abs(float(gaussian_focal_loss(probs, targets, valid)) - (-(pos + neg))) < 1e-6
    with_padding = -(pos + neg + 0.6 ** 2 * math.log(0.4))
    assert abs(float(gaussian_focal_loss(probs, targets)) - with_padding) < 1e-6
