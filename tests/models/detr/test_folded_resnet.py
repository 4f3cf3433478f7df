"""The ResNet forward with frozen norms folded into the convolutions (``folded_resnet.py``):
same features and same gradients as the module forward, for both block kinds."""

import pytest
import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from openhoi.models.detr.backbone import Backbone
from openhoi.models.detr.folded_resnet import conv_frozen_bn, foldable, folded_forward


def _randomize_norms(module: nn.Module) -> None:
    """Frozen statistics far from the identity, so a wrong fold shows."""
    g = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, FrozenBatchNorm2d):
            c = m.weight.numel()
            m.weight.copy_(0.5 + torch.rand(c, generator=g))
            m.bias.copy_(torch.randn(c, generator=g))
            m.running_mean.copy_(torch.randn(c, generator=g))
            m.running_var.copy_(0.5 + 2 * torch.rand(c, generator=g))


def test_conv_frozen_bn_hand_values():
    conv = nn.Conv2d(1, 1, 1, bias=True)
    conv.weight.data.fill_(2.0)
    conv.bias.data.fill_(1.0)
    bn = FrozenBatchNorm2d(1)
    bn.weight.fill_(3.0)
    bn.bias.fill_(0.5)
    bn.running_mean.fill_(4.0)
    bn.running_var.fill_(1.0 - bn.eps)  # scale exactly 3
    x = torch.tensor([[[[1.0, -2.0]]]])
    # conv: 2x + 1 -> [3, -3]; bn: (y - 4) * 3 + 0.5 -> [-2.5, -20.5]
    torch.testing.assert_close(conv_frozen_bn(x, conv, bn), torch.tensor([[[[-2.5, -20.5]]]]))


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_folded_forward_matches_module_forward_and_gradients(name, channels_last):
    torch.manual_seed(0)
    backbone = Backbone(name, channels_last=channels_last)
    _randomize_norms(backbone)
    backbone.double()  # float64: the two orders of rounding agree to ~1e-12
    x = torch.randn(2, 3, 96, 128, dtype=torch.float64)
    assert foldable(backbone.body)
    expected = backbone.body(x)
    expected.square().mean().backward()
    grads = {n: p.grad.clone() for n, p in backbone.named_parameters() if p.grad is not None}
    backbone.zero_grad(set_to_none=True)
    got = folded_forward(backbone.body, x)
    got.square().mean().backward()
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9 * expected.abs().max().item())
    assert grads and grads.keys() == {n for n, p in backbone.named_parameters()
                                      if p.grad is not None}
    for n, p in backbone.named_parameters():
        if p.grad is not None:  # DETR's rule: layer2.. train, stem + layer1 frozen
            error = (p.grad - grads[n]).norm() / grads[n].norm()
            assert error < 1e-9, (n, error.item())  # rounding only; a wrong fold gives ~1
    assert not backbone.body.conv1.weight.requires_grad


def test_trainable_batchnorm_is_not_folded_and_the_backbone_still_runs():
    backbone = Backbone("resnet18", norm="bn", frozen_stages=0).train()
    assert not foldable(backbone.body)
    features, mask = backbone(torch.randn(2, 3, 64, 64), torch.zeros(2, 64, 64, dtype=torch.bool))
    assert features.shape == (2, 512, 2, 2) and mask.shape == (2, 2, 2)
    assert backbone.body.bn1.running_mean.abs().sum() > 0  # batch statistics were used


def test_backbone_forward_uses_the_fold():
    torch.manual_seed(0)
    backbone = Backbone("resnet18")
    _randomize_norms(backbone)
    x = torch.randn(1, 3, 64, 64)
    assert not torch.equal(backbone.body(x), folded_forward(backbone.body, x))  # rounding differs
    features, _ = backbone(x, torch.zeros(1, 64, 64, dtype=torch.bool))
    torch.testing.assert_close(features, folded_forward(backbone.body, x), rtol=0, atol=0)


def test_folded_forward_with_fast_convs_matches_the_direct_convolutions(monkeypatch):
    """ResNet-50's 256- and 512-channel stride-1 3x3 convolutions by Winograd's algorithm and
    its trainable stride-2 3x3 ones with gathered weight gradients (float32,
    ``model.fast_conv``): features and gradients agree with oneDNN's convolutions to float
    rounding, and the paths are taken for exactly those layers."""
    from openhoi.ops import strided_conv, winograd
    from openhoi.ops.conv import use_fast_conv

    torch.manual_seed(0)
    backbone = Backbone("resnet50", channels_last=True)
    _randomize_norms(backbone)
    x = torch.randn(2, 3, 96, 128).contiguous(memory_format=torch.channels_last)
    runs, calls = {}, []
    for module, name in ((winograd, "winograd_conv2d"), (strided_conv, "stride2_conv3x3")):
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _o=original, _n=name: calls.append(_n)
                            or _o(*a))
    for enabled in (False, True):
        use_fast_conv(backbone, enabled)
        calls.clear()
        out = folded_forward(backbone.body, x)
        out.square().mean().backward()
        runs[enabled] = (out.detach(), {n: p.grad.clone() for n, p in
                                        backbone.named_parameters() if p.grad is not None})
        backbone.zero_grad(set_to_none=True)
        # layer3: 5, layer4: 2 stride-1; layer2.0 .. layer4.0's stride-2 (layer1 is frozen)
        assert sorted(calls) == (["stride2_conv3x3"] * 3 + ["winograd_conv2d"] * 7
                                 if enabled else [])
    (direct, gd), (wino, gw) = runs[False], runs[True]
    torch.testing.assert_close(wino, direct, rtol=0, atol=1e-5 * direct.abs().max().item())
    assert gd.keys() == gw.keys()
    for n in gd:
        assert ((gw[n] - gd[n]).norm() / gd[n].norm()).item() < 1e-4, n
