import math

import torch
from torchvision.ops.misc import FrozenBatchNorm2d

from openhoi.models.detr.backbone import Backbone
from openhoi.models.detr.position_encoding import SinePositionEncoding


def test_backbone_shapes_mask_and_frozen_batchnorm():
    net = Backbone("resnet18")
    images = torch.randn(2, 3, 64, 96)
    mask = torch.zeros(2, 64, 96, dtype=torch.bool)
    mask[1, :, 64:] = True  # second image is 64 x 64
    feats, small = net(images, mask)
    assert feats.shape == (2, 512, 2, 3) and net.num_channels == 512
    assert small.tolist() == [[[False] * 3] * 2, [[False, False, True]] * 2]
    assert any(isinstance(m, FrozenBatchNorm2d) for m in net.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


def test_backbone_trainable_stages_follow_detr_rule():
    net = Backbone("resnet18", train_backbone=True)
    grads = {n.split(".")[0]: p.requires_grad for n, p in net.body.named_parameters()}
    assert grads == {"conv1": False, "layer1": False, "layer2": True, "layer3": True,
                     "layer4": True}
    frozen = Backbone("resnet18", train_backbone=False)
    assert not any(p.requires_grad for p in frozen.parameters())


def test_backbone_dilation_keeps_stride_16():
    feats, _ = Backbone("resnet50", dilation=True)(torch.randn(1, 3, 64, 64),
                                                   torch.zeros(1, 64, 64, dtype=torch.bool))
    assert feats.shape == (1, 2048, 4, 4)


def test_sine_encoding_hand_values():
    enc = SinePositionEncoding(num_pos_feats=4, temperature=100.0, normalize=True)
    mask = torch.zeros(1, 2, 3, dtype=torch.bool)
    mask[0, :, 2] = True  # last column is padding: x extent is 2 cells
    pos = enc(mask)
    assert pos.shape == (1, 8, 2, 3)
    eps, scale = 1e-6, 2 * math.pi
    # cell (row 1, col 0): y = 2 / 2 * 2pi, x = 1 / 2 * 2pi; dim_t = [1, 1, 10, 10]
    y, x = 2 / (2 + eps) * scale, 1 / (2 + eps) * scale
    expected = [math.sin(y), math.cos(y), math.sin(y / 10), math.cos(y / 10),
                math.sin(x), math.cos(x), math.sin(x / 10), math.cos(x / 10)]
    assert torch.allclose(pos[0, :, 1, 0], torch.tensor(expected), atol=1e-6)
    # padding does not change the encoding of valid cells
    assert torch.allclose(enc(torch.zeros(1, 2, 2, dtype=torch.bool))[0, :, 1, 0],
                          pos[0, :, 1, 0], atol=1e-6)


def test_from_scratch_backbone_trains_everything_with_batchnorm_and_stride_16():
    net = Backbone("resnet18", norm="bn", frozen_stages=0, return_layer="layer3")
    assert all(p.requires_grad for p in net.parameters())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert "layer4" not in dict(net.body.named_children())
    feats, small = net(torch.randn(2, 3, 64, 96), torch.zeros(2, 64, 96, dtype=torch.bool))
    assert feats.shape == (2, 256, 4, 6) and net.num_channels == 256 and small.shape == (2, 4, 6)
    assert Backbone("resnet50", return_layer="layer3").num_channels == 1024


def test_channels_last_backbone_trains_like_the_default_layout():
    torch.manual_seed(0)
    plain = Backbone("resnet18", norm="bn", frozen_stages=0)
    fast = Backbone("resnet18", norm="bn", frozen_stages=0, channels_last=True)
    fast.load_state_dict(plain.state_dict())  # same keys and shapes; values copied in place
    conv = fast.body.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(),
                                                 fast.state_dict().values()))
    images, mask = torch.randn(2, 3, 64, 96), torch.zeros(2, 64, 96, dtype=torch.bool)
    out_plain, out_fast = plain(images, mask)[0], fast(images, mask)[0]
    assert out_fast.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out_fast, out_plain, rtol=1e-4, atol=1e-4)
    out_plain.square().mean().backward()
    out_fast.square().mean().backward()
    torch.testing.assert_close(fast.body.layer2[0].conv1.weight.grad,
                               plain.body.layer2[0].conv1.weight.grad, rtol=1e-3, atol=1e-5)
