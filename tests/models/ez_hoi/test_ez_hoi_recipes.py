"""Every EZ-HOI recipe loads, builds, and has the trainable parameters counted by hand; the
count is reconciled with EZ-HOI's own model class (measured by benchmarks/ez_hoi_reference.py)
and the paper's 6.85M (ViT-B/16) / 14.07M (ViT-L/14@336) in the README (section EZ-HOI)."""

from __future__ import annotations

import math

import pytest
import torch

from openhoi.config import RECIPE_DIR, load_config
from openhoi.label_space import load_label_space
from openhoi.models.build import build_model
from openhoi.models.ez_hoi.model import EZHOI

RECIPES = sorted(p.stem for p in RECIPE_DIR.glob("*ez_hoi*.yaml"))
FULL = [r for r in RECIPES if r.startswith("hicodet_")]


REFERENCE_TRAINABLE = {"vitb16": 6_854_337, "vitl14_336": 14_076_353}
"""EZ-HOI's own ``UPT`` built on CPU with the released zero-shot flags (``scripts/hico_test_
vit{B,L}_zs.sh``), trainable parameters by ``main_tip_finetune.main``'s ``requires_grad`` loop:
``benchmarks/ez_hoi_reference.py`` (``build_ez_reference`` + ``trainable_parameters``)."""
PAPER = {"vitb16": "6.85M", "vitl14_336": "14.07M"}


def lin(i: int, o: int) -> int:
    return i * o + o


def by_hand(w: int, e: int, d_text: int, layers: int, utpl: bool, depth: int = 9,
            n: int = 2, d: int = 64) -> dict[str, dict[str, int]]:
    """Trainable parameters by component, of openhoi's EZ-HOI and of EZ-HOI's released code."""
    mha = 4 * d * d + 4 * d  # in_proj (3d x d + 3d) + out_proj (d x d + d)
    ffn = lin(d, 2 * d) + lin(2 * d, d)
    norm = 2 * d
    dec_cross = mha + ffn + 2 * norm  # norm2, norm3
    dec_self = 2 * mha + ffn + 3 * norm

    def mlp(i: int) -> int:
        return lin(i, 128) + lin(128, 128) + lin(128, d)

    def bottleneck(width: int) -> int:
        return lin(width, d) + lin(d, width)

    ours = {
        "instance adapters": layers * (w + bottleneck(w) + dec_cross),
        "instance priors MLP": mlp(5 + e),
        "prompt tokens": depth * n * d_text,
        "text prompt adapter": bottleneck(d_text) + mlp(e) + dec_cross,
        "UTPL adapter": (bottleneck(d_text) + mlp(d_text) + dec_self) if utpl else 0,
        "text->visual maps": depth * lin(d_text, w),
        "image prompt adapter": bottleneck(w) + mlp(e) + dec_cross,
        "vis_fuse": lin(2 * e, e) + lin(e, e),
        "img_align adapter": bottleneck(e) + dec_self,
        "logit scale": 1,
    }
    # EZ-HOI: its cross-attention-only layers (ADA-CM's in every image block, the text and
    # image prompt adapters') build an unused norm1; img_align's self-context adapter builds an
    # unused prior MLP; the per-layer prompts are a plain list (not parameters) while the
    # unused MaPLe context `ctx` (n x D) is registered.
    reference = dict(ours)
    reference["instance adapters"] += layers * norm
    reference["text prompt adapter"] += norm
    reference["image prompt adapter"] += norm
    reference["img_align adapter"] += mlp(e)
    reference["prompt tokens"] = n * d_text
    return {"ours": ours, "reference": reference}


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

    detr = ez_build.build_plain_detr

    def empty_detr(*args, **kw):
        with torch.device("meta"):
            return detr(*args, **kw).to_empty(device="cpu")

    monkeypatch.setattr(open_clip, "create_model", empty_clip)
    monkeypatch.setattr(ez_build, "build_plain_detr", empty_detr)
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
    layers = len(clip.model.visual.transformer.resblocks)
    d_text = clip.model.token_embedding.embedding_dim
    utpl = cfg.model.zero_shot is not None
    parts = by_hand(clip.width, clip.embed_dim, d_text, layers, utpl)
    assert trainable == sum(parts["ours"].values())
    assert all(not p.requires_grad for p in model.clip.parameters())
    assert all(not p.requires_grad for p in model.detector.parameters())
    if not utpl:
        return
    backbone = "vitb16" if "vitb16" in name else "vitl14_336"
    reference = sum(parts["reference"].values())
    assert reference == REFERENCE_TRAINABLE[backbone]
    # The README's reconciliation, parameter by parameter: EZ-HOI's count = openhoi's + the
    # unused prior MLP of img_align (E -> 128 -> 128 -> 64) + the unused norm1 (2 x 64) of its
    # (layers + 2) cross-attention-only decoder layers - the (depth - 1) x n x D prompt tokens
    # it keeps unregistered (it registers the unused n x D `ctx` instead of layer 0's).
    e, d = clip.embed_dim, 64
    prior_mlp = lin(e, 128) + lin(128, 128) + lin(128, d)
    assert reference - trainable == prior_mlp + (layers + 2) * 2 * d - 8 * 2 * d_text
    # The paper prints the count truncated to two decimals (14,076,353 -> 14.07M)
    assert f"{math.floor(reference / 1e4) / 100:.2f}M" == PAPER[backbone]


def test_tiny_recipe_builds(tmp_path):
    cfg = load_config("synthetic_tiny_ez_hoi")
    torch.manual_seed(0)
    model = build_model(cfg.model, load_label_space("synthetic"))
    assert isinstance(model, EZHOI)
    assert model.prompts.unseen_adapter is not None
