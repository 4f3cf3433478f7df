"""Every EZ-HOI recipe loads, builds, and has the trainable parameters counted by hand; the
count is reconciled with EZ-HOI's released code and the paper's 6.85M (ViT-B/16) / 14.07M
(ViT-L/14@336) in the README (section EZ-HOI)."""

from __future__ import annotations

import pytest
import torch

from openhoi.config import RECIPE_DIR, load_config
from openhoi.label_space import load_label_space
from openhoi.models.build import build_model
from openhoi.models.ez_hoi.model import EZHOI

RECIPES = sorted(p.stem for p in RECIPE_DIR.glob("*ez_hoi*.yaml"))
FULL = [r for r in RECIPES if r.startswith("hicodet_")]


def lin(i: int, o: int) -> int:
    return i * o + o


def by_hand(w: int, e: int, d_text: int, layers: int, tokens: int, utpl: bool, depth: int = 9,
            n: int = 2, d: int = 64) -> dict[str, int]:
    """Trainable parameters of openhoi's EZ-HOI, and of EZ-HOI's released code, by hand."""
    mha = 4 * d * d + 4 * d  # in_proj (3d x d + 3d) + out_proj (d x d + d)
    ffn = lin(d, 2 * d) + lin(2 * d, d)
    dec_cross = mha + ffn + 2 * 2 * d  # norm2, norm3
    dec_self = 2 * mha + ffn + 3 * 2 * d

    def mlp(i: int) -> int:
        return lin(i, 128) + lin(128, 128) + lin(128, d)

    def adapter(width: int, prior: int | None, self_attention: bool) -> int:
        return (lin(width, d) + lin(d, width) + (mlp(prior) if prior else 0)
                + (dec_self if self_attention else dec_cross))

    head = tokens * w + 2 * w + w * e  # positional embedding, ln_post, proj (fine-tuned)
    instance = layers * (w + lin(w, d) + lin(d, w) + dec_self) + mlp(5 + e)
    prompts = (depth * n * d_text + adapter(d_text, e, False)
               + (adapter(d_text, d_text, True) if utpl else 0)
               + depth * lin(d_text, w) + adapter(w, e, False))
    pair = lin(2 * e, e) + lin(e, e) + adapter(e, None, True) + 1  # vis_fuse, img_align, scale
    ours = head + instance + prompts + pair
    # EZ-HOI's code: registers `ctx` (n x D) but keeps the per-layer prompts in a plain list
    # (not parameters); its cross-attention adapters carry an unused norm1 (2 x 2d); its
    # img_align adapter builds an unused prior MLP.
    released = ours - depth * n * d_text + n * d_text + 2 * 2 * d + mlp(e)
    # The paper's figure matches the released count without CLIP's fine-tuned visual head and
    # without one 64-wide adapter over the E-dim features (img_align's, with its unused MLP)
    paper_style = released - head - (adapter(e, None, True) + mlp(e))
    return {"ours": ours, "released": released, "paper_style": paper_style}


def _empty_build(cfg, space, monkeypatch) -> EZHOI:
    """The recipe's model with CLIP and DETR allocated uninitialised (meta, then ``to_empty``):
    shapes are real, values are not; nothing pretrained is read."""
    import open_clip

    import openhoi.models.ez_hoi.build as ez_build

    create = open_clip.create_model

    def empty_clip(*args, **kw):
        kw["device"] = "meta"
        with torch.device("meta"):
            return create(*args, **kw).to_empty(device="cpu")

    detr = ez_build.build_detector

    def empty_detr(*args, **kw):
        with torch.device("meta"):
            return detr(*args, **kw).to_empty(device="cpu")

    monkeypatch.setattr(open_clip, "create_model", empty_clip)
    monkeypatch.setattr(ez_build, "build_detector", empty_detr)
    return build_model(cfg.model, space, pretrained=False)


def test_paper_settings_are_shipped():
    for arch in ("vitb16", "vitl14_336"):
        assert f"hicodet_ez_hoi_{arch}" in RECIPES
        for split in ("rf_uc", "nf_uc", "uo", "uv"):
            assert f"hicodet_ez_hoi_{arch}_zs_{split}" in RECIPES
    assert "synthetic_tiny_ez_hoi" in RECIPES


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_settings(name):
    cfg = load_config(name)
    assert cfg.model.architecture == "ez_hoi"
    assert cfg.model.zero_shot == cfg.data.zero_shot  # UTPL adapts the split's unseen classes
    if name.startswith("hicodet_"):
        t = cfg.train
        assert (t.epochs, t.lr, t.weight_decay, t.clip_max_norm, t.lr_drop) == (
            12, 1e-3, 1e-4, 0.1, 10)
        p = cfg.model.prompts
        assert (p.num_tokens, p.depth, p.init, p.adapter_dim) == (2, 9, "A photo of", 64)
        assert cfg.model.instances.box_score_thresh == 0.2
        assert (cfg.model.loss.focal_alpha, cfg.model.loss.focal_gamma) == (0.5, 0.2)


@pytest.mark.parametrize("name", FULL)
def test_full_recipe_builds_with_counted_parameters(name, monkeypatch):
    cfg = load_config(name)
    space = load_label_space("hicodet")
    model = _empty_build(cfg, space, monkeypatch)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    clip = model.clip
    tokens = model.clip.model.visual.positional_embedding.shape[0]
    layers = len(clip.model.visual.transformer.resblocks)
    d_text = clip.model.token_embedding.embedding_dim
    counts = by_hand(clip.width, clip.embed_dim, d_text, layers, tokens,
                     utpl=cfg.model.zero_shot is not None)
    assert trainable == counts["ours"]
    assert all(not p.requires_grad for p in model.clip.parameters())
    assert all(not p.requires_grad for p in model.detector.parameters())
    if "vitb16_zs" in name:
        assert (trainable, counts["released"], counts["paper_style"]) == (
            7_517_569, 7_600_065, 6_847_233)  # the paper: 6.85M
    if "vitl14_336_zs" in name:
        assert (trainable, counts["released"], counts["paper_style"]) == (
            15_743_873, 15_855_041, 14_203_137)  # the paper: 14.07M, see the README


def test_tiny_recipe_builds(tmp_path):
    cfg = load_config("synthetic_tiny_ez_hoi")
    torch.manual_seed(0)
    model = build_model(cfg.model, load_label_space("synthetic"))
    assert isinstance(model, EZHOI)
    assert model.prompts.unseen_adapter is not None
