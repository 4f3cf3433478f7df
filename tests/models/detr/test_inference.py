import pytest
import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from openhoi.models.build import build_model
from openhoi.models.detr.backbone import Backbone
from openhoi.models.detr.inference import (
    fold_conv_batchnorm,
    fold_frozen_batchnorm,
    inference_model,
)


def _assert_close_to_scale(actual: torch.Tensor, expected: torch.Tensor, rel: float = 1e-5):
    """Equal up to float rounding: max abs difference within ``rel`` of the largest value."""
    torch.testing.assert_close(actual, expected, rtol=0,
                               atol=rel * float(expected.abs().max()))


def _random_stats_(module: nn.Module, seed: int = 0) -> None:
    """Non-trivial frozen statistics, so a fold that ignored one of them would show."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (FrozenBatchNorm2d, nn.BatchNorm2d)):
            c = m.weight.shape[0]
            m.weight.data.copy_(0.5 + torch.rand(c, generator=g))
            m.bias.data.copy_(0.2 * torch.randn(c, generator=g))
            m.running_mean.copy_(0.2 * torch.randn(c, generator=g))
            m.running_var.copy_(0.5 + torch.rand(c, generator=g))


def test_fold_conv_batchnorm_hand_values():
    # 1x1 conv, 2 -> 2 channels, weight [[1, 2], [3, 4]], bias (1, -1); BN gamma (2, 1),
    # beta (0, 1), mean (1, 0), var (3, 0) with eps 1: scale s = gamma / sqrt(var + eps) =
    # (1, 1); so y0 = (x0 + 2 x1 + 1) - 1 = x0 + 2 x1 and y1 = 3 x0 + 4 x1 - 1 + 1.
    conv = nn.Conv2d(2, 2, 1)
    bn = FrozenBatchNorm2d(2, eps=1.0)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(2, 2, 1, 1))
        conv.bias.copy_(torch.tensor([1.0, -1.0]))
        bn.weight.copy_(torch.tensor([2.0, 1.0]))
        bn.bias.copy_(torch.tensor([0.0, 1.0]))
        bn.running_mean.copy_(torch.tensor([1.0, 0.0]))
        bn.running_var.copy_(torch.tensor([3.0, 0.0]))
    fused = fold_conv_batchnorm(conv, bn)
    x = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)  # x0 = 1, x1 = 2
    assert fused(x).flatten().tolist() == [5.0, 11.0]
    assert fused.bias.tolist() == [0.0, 0.0]
    assert conv.bias.tolist() == [1.0, -1.0]  # the original is untouched


def test_fold_frozen_batchnorm_resnet_matches_and_leaves_original():
    net = Backbone("resnet18").eval()
    _random_stats_(net)
    folded = fold_frozen_batchnorm(net)
    num_bn = sum(isinstance(m, FrozenBatchNorm2d) for m in net.modules())
    assert num_bn == 20  # resnet18: stem + 8 blocks x 2 + 3 downsample
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, nn.Identity) for m in folded.modules()) == num_bn
    images = torch.randn(2, 3, 64, 96)
    mask = torch.zeros(2, 64, 96, dtype=torch.bool)
    with torch.no_grad():
        (a, ma), (b, mb) = net(images, mask), folded(images, mask)
    _assert_close_to_scale(b, a)
    assert torch.equal(ma, mb)


def test_fold_trainable_batchnorm_only_in_eval_mode():
    net = Backbone("resnet18", norm="bn", frozen_stages=0, return_layer="layer3")
    _random_stats_(net)
    assert not any(isinstance(m, nn.Identity) for m in fold_frozen_batchnorm(net).modules())
    net.eval()  # running statistics: a fixed affine map that folds
    folded = fold_frozen_batchnorm(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    images, mask = torch.randn(2, 3, 64, 96), torch.zeros(2, 64, 96, dtype=torch.bool)
    with torch.no_grad():
        _assert_close_to_scale(folded(images, mask)[0], net(images, mask)[0])


def test_channels_last_backbone_same_features():
    net = Backbone("resnet18").eval()
    _random_stats_(net, seed=1)
    images = torch.randn(1, 3, 64, 64)
    mask = torch.zeros(1, 64, 64, dtype=torch.bool)
    with torch.no_grad():
        a = net(images, mask)[0]
        net.channels_last = True
        b = net(images, mask)[0]
    assert b.is_contiguous(memory_format=torch.channels_last)
    _assert_close_to_scale(b, a)


@pytest.fixture(scope="module")
def models(synthetic_space, tiny_cfg):
    out = {}
    space = synthetic_space
    for arch in ("hoiclip", "gen_vlkt"):
        torch.manual_seed(0)
        cfg = tiny_cfg(architecture=arch)
        e = 32  # openhoi-tiny CLIP's embedding size; random text embeddings (no text tower)
        model = build_model(
            cfg, space, interaction_text=torch.randn(space.num_interactions, e),
            object_text=torch.randn(space.num_objects + 1, e)).eval()
        with torch.no_grad():
            _random_stats_(model)
        out[arch] = model
    return out


@pytest.mark.parametrize("arch", ["hoiclip", "gen_vlkt"])
def test_inference_model_same_outputs_shared_modules(models, make_batch, arch):
    model = models[arch]
    fast = inference_model(model)
    batch = make_batch([(64, 80), (48, 64)])
    with torch.no_grad():
        a, b = model(batch), fast(batch)
    for out_a, out_b in zip((a, *a.aux), (b, *b.aux), strict=True):
        for name in ("obj_logits", "h_boxes_cxcywh", "o_boxes_cxcywh", "interaction_logits"):
            # folded convolutions round differently from conv + FrozenBatchNorm (oneDNN
            # picks other kernels for them): a few 1e-5-sized differences on logits of ~0.2
            torch.testing.assert_close(getattr(out_b, name), getattr(out_a, name),
                                       rtol=1e-4, atol=5e-5)
        assert out_a.extras.keys() == out_b.extras.keys()
    # Everything but the backbone is shared; the model keeps its own frozen BatchNorms.
    assert fast.clip is model.clip and fast.head is model.head
    assert fast.detector.encoder is model.detector.encoder
    assert fast.detector.backbone is not model.detector.backbone
    assert any(isinstance(m, FrozenBatchNorm2d) for m in model.modules())
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in fast.modules())
    assert fast.detector.backbone.channels_last is True


def test_clip_extras_off_skips_clip_for_gen_vlkt_only(models, make_batch):
    batch = make_batch([(64, 80)])
    calls = []
    for arch, model in models.items():
        hook = model.clip.register_forward_hook(lambda *a, arch=arch: calls.append(arch))
        try:
            with torch.no_grad():
                plain = model(batch)
                lean = inference_model(model, clip_extras=False)(batch)
        finally:
            hook.remove()
        if arch == "hoiclip":  # its head reads CLIP: extras stay
            assert calls.count(arch) == 2 and lean.extras.keys() == plain.extras.keys()
        else:
            assert calls.count(arch) == 1
            assert "zs_logits" not in lean.extras and "clip_image_embed" not in lean.extras
            assert "zs_logits" in plain.extras
            torch.testing.assert_close(lean.interaction_logits, plain.interaction_logits,
                                       rtol=1e-5, atol=1e-5)
    assert models["gen_vlkt"].clip_extras is True  # the view's setting is its own


def test_folded_copy_keeps_fast_convolutions():
    """The inference copy of a backbone whose 3x3 convolutions run through openhoi's kernels
    (``model.fast_conv``) keeps them, and its features equal the module's."""
    from openhoi.ops.conv import Conv2d, use_fast_conv

    torch.manual_seed(0)
    backbone = Backbone("resnet50", channels_last=True).eval()
    _random_stats_(backbone)
    assert use_fast_conv(backbone, True) == 16  # every 3x3 convolution (stride 1 or 2)
    x = torch.randn(1, 3, 96, 160)
    folded = fold_frozen_batchnorm(backbone.body).to(memory_format=torch.channels_last)
    assert sum(type(m) is Conv2d for m in folded.modules()) == 16
    with torch.no_grad():
        expected = backbone.body(x)
        use_fast_conv(backbone, False)
        _assert_close_to_scale(folded(x), expected)
        _assert_close_to_scale(folded(x), backbone.body(x))
