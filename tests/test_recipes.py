"""Every shipped recipe loads and builds its model (full-size ones on the meta device)."""

from __future__ import annotations

import json

import pytest
import torch

from openhoi.config import RECIPE_DIR, load_config, to_dict
from openhoi.data.class_lists import ClassEntry, InteractionEntry
from openhoi.data.label_space_builder import AnnotationSource, build_label_space
from openhoi.label_space import load_label_space
from openhoi.models.build import build_model
from openhoi.models.detr.hoi_detector import HOIDetector

RECIPES = sorted(p.stem for p in RECIPE_DIR.glob("*.yaml")
                 if load_config(p).model.architecture in ("hoiclip", "gen_vlkt"))
"""One-stage (HOIDetector) recipes; the others are built by their family's tests
(tests/models/defr/, tests/models/ez_hoi/test_ez_hoi_recipes.py)."""
TINY_CLIP = "openhoi-tiny"


def _space(cfg):
    if cfg.data.dataset == "custom":  # the template: a label space built for classes of its own
        return build_label_space(
            "custom", [ClassEntry("person", 1), ClassEntry("teapot", 2), ClassEntry("kayak", 3)],
            [ClassEntry("pour", 1), ClassEntry("paddle", 2), ClassEntry("wave", 3)],
            [AnnotationSource("none", [])], no_object_verbs=["wave"],
            interactions=[InteractionEntry("pour", "teapot"), InteractionEntry("paddle", "kayak")])
    return load_label_space(cfg.data.label_space or cfg.data.dataset)


_BUILT: dict[str, HOIDetector] = {}


def _build(cfg, space) -> HOIDetector:
    """The recipe's model, built once per distinct (model config, label space): tiny ones for
    real, full-size ones on the meta device."""
    key = json.dumps([to_dict(cfg.model), space.fingerprint], sort_keys=True)
    if key not in _BUILT:
        if cfg.model.clip.arch == TINY_CLIP:
            torch.manual_seed(0)
            _BUILT[key] = build_model(cfg.model, space)
        else:
            _BUILT[key] = _build_meta(cfg, space)
    return _BUILT[key]


def _build_meta(cfg, space) -> HOIDetector:
    """The recipe's model with every tensor on the meta device (no memory, no weights)."""
    import open_clip

    from openhoi.models.clip.clip_knowledge import ClipKnowledge
    from openhoi.models.clip.clip_loading import register_openhoi_configs

    register_openhoi_configs()
    arch = cfg.model.clip.arch
    with torch.device("meta"):
        clip = ClipKnowledge(open_clip.create_model(arch, device="meta"),
                             open_clip.get_tokenizer(arch), arch=arch)
        e = clip.embed_dim
        return build_model(
            cfg.model, space, clip=clip, verb_repr=torch.empty(space.num_verbs, e),
            interaction_text=torch.empty(space.num_interactions, e),
            object_text=torch.empty(space.num_objects + 1, e))


def test_recipes_are_shipped():
    assert {"hicodet_hoiclip", "vcoco_hoiclip", "hicodet_gen_vlkt", "synthetic_tiny",
            "custom_template"} <= set(RECIPES)
    for split in ("rf_uc", "nf_uc", "uo", "uv"):
        assert f"hicodet_hoiclip_zs_{split}" in RECIPES
    for frac in (1, 5, 15, 25, 50):
        assert f"hicodet_hoiclip_frac{frac}" in RECIPES


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_loads_and_builds(name):
    cfg = load_config(name)
    space = _space(cfg)
    if cfg.data.zero_shot is not None:
        assert space.zero_shot_split(cfg.data.zero_shot).unseen_interactions
    if cfg.data.fraction < 1:
        assert cfg.data.fraction in space.extra["low_data"]["fractions"]
    model = _build(cfg, space)
    assert isinstance(model, HOIDetector)
    assert model.detector.num_queries == cfg.model.detector.num_queries
    assert model.head.classifier.num_classes == space.num_interactions


def test_full_hoiclip_decoder_size_by_hand():
    """The interaction decoder of the HICO-DET recipe at ViT-B/32 width, counted by hand."""
    cfg = load_config("hicodet_hoiclip")
    model = _build(cfg, _space(cfg))
    w, ff, layers = 768, 2048, 3
    attention = 4 * w * w + 4 * w  # in_proj (3W x W + 3W) + out_proj (W x W + W)
    ffn = 2 * w * ff + ff + w
    norms = 4 * 2 * w  # self, CLIP cross, detector cross, FFN
    expected = layers * (3 * attention + ffn + norms) + 2 * w  # + final LayerNorm
    assert sum(p.numel() for p in model.head.decoder.parameters()) == expected
    assert model.clip.width == w and model.clip.embed_dim == 512
