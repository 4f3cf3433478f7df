import copy

import numpy as np
import open_clip
import pytest
import torch
from clip_test_utils import save_torchscript, tiny_open_clip
from PIL import Image

from openhoi.config import ClipConfig, load_config
from openhoi.errors import ConfigError
from openhoi.models.clip.clip_knowledge import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ClipKnowledge,
    build_clip_knowledge,
    prepare_clip_input,
)
from openhoi.models.clip.clip_loading import TINY_ARCH
from openhoi.structures import ImageBatch


@pytest.fixture(scope="module")
def ref():
    # frozen like the adapter's CLIP: PyTorch picks other (equally exact) attention kernels for
    # parameters that require grad, which changes the last bits
    return tiny_open_clip(seed=5).requires_grad_(False)


@pytest.fixture(scope="module", params=["state_dict", "torchscript"])
def knowledge(request, ref, tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    if request.param == "state_dict":
        torch.save(ref.state_dict(), path)
    else:
        save_torchscript(copy.deepcopy(ref), path, openai_meta=True)
    return build_clip_knowledge(ClipConfig(arch=TINY_ARCH, weights=str(path)))


def test_sizes(knowledge):
    assert (knowledge.width, knowledge.embed_dim, knowledge.image_size) == (48, 32, 32)
    assert knowledge.grid_size == (4, 4)
    assert tuple(knowledge.visual_projection.shape) == (48, 32)
    assert len(knowledge.weights_sha256) == 64


@torch.no_grad()
def test_features_match_open_clip(knowledge, ref):
    pixels = torch.randn(3, 3, 32, 32)
    feats = knowledge.encode_image(pixels)
    assert feats.global_feature.shape == (3, 32) and feats.spatial_tokens.shape == (3, 17, 48)
    assert torch.equal(feats.global_feature, ref.encode_image(pixels))
    # open_clip's own token output: ln_post on every token, class token dropped
    visual = copy.deepcopy(ref.visual)
    visual.output_tokens = True
    pooled, tokens = visual(pixels)
    assert torch.equal(feats.patch_tokens, tokens)
    assert torch.equal(feats.spatial_tokens[:, 0] @ ref.visual.proj, pooled)


@torch.no_grad()
def test_text_matches_open_clip(knowledge, ref):
    texts = ["a photo of a person riding a horse", "a photo of nothing", "a cup"]
    full = ref.encode_text(open_clip.get_tokenizer(TINY_ARCH)(texts))  # 77 tokens each
    # the adapter drops the padding after the longest prompt's <end>: same features
    assert torch.allclose(knowledge.encode_text(texts), full, atol=1e-5)
    assert torch.allclose(knowledge.encode_text(texts, batch_size=1), full, atol=1e-5)


def test_tokenizer_is_openai_bpe_offline():
    tokens = open_clip.get_tokenizer("ViT-B-32-quickgelu")(["a photo of a"])[0]
    # <start>, "a", "photo", "of", "a", <end>: OpenAI CLIP's BPE ids, from the bundled vocab
    assert tokens[:6].tolist() == [49406, 320, 1125, 539, 320, 49407]
    assert tokens[6:].abs().sum() == 0 and tokens.shape == (77,)


def test_frozen_by_default(knowledge):
    assert not any(p.requires_grad for p in knowledge.parameters())
    knowledge.train()
    assert not knowledge.model.training  # a frozen CLIP stays in eval mode
    out = knowledge.encode_image(torch.randn(1, 3, 32, 32))
    assert not out.global_feature.requires_grad


def test_trainable_flag(tmp_path, ref):
    path = tmp_path / "w.pt"
    torch.save(ref.state_dict(), path)
    clip = build_clip_knowledge(ClipConfig(arch=TINY_ARCH, weights=str(path), trainable=True))
    assert all(p.requires_grad for p in clip.parameters())
    clip.train()
    assert clip.model.training
    clip.encode_image(torch.randn(2, 3, 32, 32)).spatial_tokens.sum().backward()
    assert clip.model.visual.conv1.weight.grad is not None


def test_random_init_only_for_tiny():
    with pytest.raises(ConfigError, match="model.clip.weights"):
        build_clip_knowledge(ClipConfig(arch="ViT-B-32-quickgelu"))
    clip = build_clip_knowledge(ClipConfig(arch=TINY_ARCH))
    assert clip.weights_sha256 is None


def test_non_vit_arch_is_refused():
    model = tiny_open_clip()
    model.visual = torch.nn.Conv2d(3, 8, 3)  # a tower without class token (ResNet-like)
    with pytest.raises(ConfigError, match="RN50-quickgelu is not a ViT"):
        ClipKnowledge(model, open_clip.get_tokenizer(TINY_ARCH), arch="RN50-quickgelu")
    pooled = tiny_open_clip()
    pooled.visual.pool_type = "avg"  # average-pooled ViTs have no HOICLIP class token either
    with pytest.raises(ConfigError, match="not a ViT"):
        ClipKnowledge(pooled, open_clip.get_tokenizer(TINY_ARCH))


def test_config_validation():
    with pytest.raises(ConfigError, match="model.clip: lr"):
        load_config(overrides=["model.clip.lr=0"])
    with pytest.raises(ConfigError, match="object_template"):
        load_config(overrides=["model.clip.object_template=a photo"])
    cfg = load_config(overrides=["model.clip.arch=openhoi-tiny", "model.clip.precision=fp16"])
    assert cfg.model.clip.precision == "fp16" and not cfg.model.clip.trainable


def _textured(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([127 + 120 * np.sin(xx / 7.0 + c) * np.cos(yy / 9.0) for c in range(3)], -1)
    return (arr + rng.normal(0, 10, arr.shape)).clip(0, 255).astype(np.uint8)


def test_clip_input_matches_hoiclip_pil_path():
    """The padded detector batch gives CLIP the input HOICLIP's clip_preprocess(PIL) gives."""
    arrays = [_textured(90, 131, 0), _textured(121, 70, 1)]
    batch = torch.full((2, 3, 121, 131), 5.0)  # padding full of garbage must not leak in
    for i, arr in enumerate(arrays):
        x = torch.from_numpy(arr).permute(2, 0, 1).float() / 255
        x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None,
                                                                                           None]
        batch[i, :, :arr.shape[0], :arr.shape[1]] = x
    sizes = torch.tensor([a.shape[:2] for a in arrays])
    ours = prepare_clip_input(batch, sizes, 32, open_clip.OPENAI_DATASET_MEAN,
                              open_clip.OPENAI_DATASET_STD)
    hoiclip = open_clip.image_transform(32, is_train=False, resize_mode="shortest",
                                        interpolation="bicubic")  # = OpenAI's _transform
    for i, arr in enumerate(arrays):
        diff = (ours[i] - hoiclip(Image.fromarray(arr))).abs()
        assert diff.mean() < 0.01 and diff.max() < 0.06  # < 2 grey levels (uint8 rounding)


def test_squash_keeps_whole_image():
    img = torch.zeros(1, 3, 10, 40)
    img[..., :5] = 1.0  # a bright strip on the far left, cut off by a centre crop
    size = torch.tensor([[10, 40]])
    crop = prepare_clip_input(img, size, 8, (0, 0, 0), (1, 1, 1), (0, 0, 0), (1, 1, 1))
    squash = prepare_clip_input(img, size, 8, (0, 0, 0), (1, 1, 1), (0, 0, 0), (1, 1, 1),
                                mode="squash")
    assert crop.shape == squash.shape == (1, 3, 8, 8)
    assert crop[..., 0].max() < 0.01 and squash[..., 0].min() > 0.9


def test_forward_on_image_batch(knowledge):
    images = torch.randn(2, 3, 48, 40)
    batch = ImageBatch(images, torch.zeros(2, 48, 40, dtype=torch.bool),
                       torch.tensor([[48, 40], [30, 36]]))
    feats = knowledge(batch)
    direct = knowledge.encode_image(knowledge.prepare_images(batch))
    assert torch.equal(feats.global_feature, direct.global_feature)
    assert feats.spatial_tokens.shape == (2, 17, 48)


@pytest.mark.slow
@torch.no_grad()
def test_vit_b32_recipe_shapes():
    """HOICLIP's CLIP: V_g [B, 512], V_s [B, 50, 768] (7x7 patches + class token)."""
    from openhoi.models.clip.clip_loading import load_clip_model

    model, _ = load_clip_model("ViT-B-32-quickgelu", None)
    clip = ClipKnowledge(model, open_clip.get_tokenizer("ViT-B-32-quickgelu"))
    feats = clip.encode_image(torch.zeros(1, 3, 224, 224))
    assert feats.global_feature.shape == (1, 512) and feats.spatial_tokens.shape == (1, 50, 768)
    assert (clip.width, clip.embed_dim, clip.image_size, clip.grid_size) == (768, 512, 224, (7, 7))
