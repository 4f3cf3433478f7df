"""DEFR's HOI-detection attention mask: the class token of the last blocks sees only the
patches inside a pair's boxes (``hoi_detection/hoi_head.py``)."""

import pytest
import torch

from openhoi.config import load_config
from openhoi.errors import ConfigError
from openhoi.label_space import load_label_space
from openhoi.models.defr.backbone import box_attention_mask
from openhoi.models.defr.build import build_defr

NEG = float("-inf")
CLIP_TINY = ["model.backbone.kind=open_clip", "model.backbone.arch=openhoi-tiny",
             "model.backbone.image_size=32", "model.classifier.init=random",
             "model.classifier.embed_dim=null"]


def test_mask_by_hand():
    # 2 x 2 grid; human on patch (row 0, col 0), object snapped from [1.2, 1.5, 1.6, 1.9]
    # to patch (1, 1) by DEFR's floor / ceil
    boxes = torch.tensor([[[0.0, 0.0, 1.0, 1.0], [1.2, 1.5, 1.6, 1.9]]])
    m = box_attention_mask(boxes, (2, 2), num_heads=3)
    assert m.shape == (3, 5, 5)
    assert torch.equal(m[0, 0], torch.tensor([0.0, 0.0, NEG, NEG, 0.0]))
    assert torch.equal(m[:, 1:], torch.zeros(3, 4, 5))  # patch tokens attend everywhere
    assert torch.equal(m[1], m[0]) and torch.equal(m[2], m[0])


def test_boxes_clip_to_the_grid_and_pairs_are_pair_major():
    boxes = torch.tensor([[[-3.0, -3.0, 9.0, 9.0], [0.0, 0.0, 0.0, 0.0]],
                          [[0.0, 1.0, 1.0, 2.0], [0.0, 1.0, 1.0, 2.0]]])
    m = box_attention_mask(boxes, (2, 2), num_heads=2)  # [P * heads, 5, 5]
    assert torch.equal(m[0, 0], torch.zeros(5)) and torch.equal(m[1, 0], torch.zeros(5))
    assert torch.equal(m[2, 0], torch.tensor([0.0, NEG, NEG, 0.0, NEG]))


@pytest.fixture(scope="module")
def clip_model():
    config = load_config("synthetic_defr", CLIP_TINY)
    torch.manual_seed(0)
    return build_defr(config.model, load_label_space("synthetic")).model.eval()


@pytest.mark.parametrize("layers", [1, 2])
def test_whole_image_boxes_give_the_image_logits(clip_model, layers):
    """Boxes covering the image leave attention unchanged: the image's own logits."""
    pixels = torch.randn(1, 3, 32, 32)
    boxes = torch.tensor([[[0.0, 0.0, 32.0, 32.0], [4.0, 4.0, 8.0, 8.0]]])
    with torch.no_grad():
        got = clip_model.box_masked_logits(pixels, boxes, layers)
        want = clip_model.classifier(clip_model.features(pixels))
    assert torch.allclose(got, want, atol=1e-5)


def test_each_pair_is_scored_on_its_own_boxes(clip_model):
    pixels = torch.randn(1, 3, 32, 32)
    pairs = torch.tensor([[[0.0, 0.0, 8.0, 8.0], [24.0, 24.0, 32.0, 32.0]],
                          [[8.0, 0.0, 16.0, 16.0], [0.0, 16.0, 8.0, 32.0]],
                          [[0.0, 0.0, 32.0, 32.0], [0.0, 0.0, 1.0, 1.0]]])
    with torch.no_grad():
        batch = clip_model.box_masked_logits(pixels, pairs, 1)
        alone = torch.cat([clip_model.box_masked_logits(pixels, p[None], 1) for p in pairs])
    assert torch.allclose(batch, alone, atol=1e-5)
    assert not torch.allclose(batch[0], batch[1], atol=1e-3)  # the mask changes the result


def test_other_backbones_refuse_the_mask():
    config = load_config("synthetic_defr", ["model.backbone.image_size=32",
                                            "model.classifier.init=random"])
    model = build_defr(config.model, load_label_space("synthetic")).model
    assert not model.supports_box_mask
    with pytest.raises(ConfigError, match="CLIP ViT"):
        model.box_masked_logits(torch.zeros(1, 3, 32, 32), torch.zeros(1, 2, 4), 1)
