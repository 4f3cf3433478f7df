import pytest
import torch
from torch.nn import functional as F

from openhoi.models.hoiclip.verb_adapter import MLP, VerbAdapter  # MLP: the detector's


def test_mlp_shape_and_relu_between_layers():
    mlp = MLP(8, 4, 8, 3)
    assert [tuple(lin.weight.shape) for lin in mlp.layers] == [(4, 8), (4, 4), (8, 4)]
    with torch.no_grad():
        for layer in mlp.layers:
            layer.weight.fill_(-1.0)
            layer.bias.zero_()
    # all-positive input -> negative first layer -> ReLU zeroes everything
    assert torch.equal(mlp(torch.ones(1, 8)), torch.zeros(1, 8))


def test_verb_scores_spread_over_interactions():
    v2i = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # verb 0 -> inters 0, 2
    e_v = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    adapter = VerbAdapter(4, e_v, v2i, num_layers=3)
    x = torch.randn(2, 5, 4)
    verb_logits, inter = adapter(x, torch.tensor(10.0))
    f = F.normalize(adapter.mlp(x), dim=-1)
    torch.testing.assert_close(verb_logits, 10.0 * f[..., :2])  # cos with unit axes
    torch.testing.assert_close(inter, verb_logits[..., [0, 1, 0]])


def test_verb_repr_shape_checked():
    with pytest.raises(ValueError, match=r"\[2, 4\]"):
        VerbAdapter(4, torch.zeros(3, 4), torch.zeros(2, 3))


def test_frozen_verb_repr():
    adapter = VerbAdapter(4, torch.zeros(2, 4), torch.zeros(2, 3), trainable_repr=False)
    assert not adapter.verb_classifier.weight.requires_grad
