"""Every shipped DEFR recipe loads and builds its model: synthetic ones for real, full-size
ones without weight files (pretrained=False: the shapes a checkpoint fills) on the meta
device."""

import json

import pytest
import torch

from openhoi.config import RECIPE_DIR, load_config, to_dict
from openhoi.label_space import load_label_space
from openhoi.models.defr.build import build_defr
from openhoi.models.defr.model import DefrModel

RECIPES = sorted(p.stem for p in RECIPE_DIR.glob("*.yaml")
                 if load_config(p).model.architecture == "defr")
_BUILT: dict[str, DefrModel] = {}


def test_defr_table_recipes_are_shipped():
    for backbone in ("clip", "imagenet"):
        for init in ("rand", "clip", "sentence"):
            for loss in ("bce", "sign"):
                assert f"hico_defr_{backbone}_{init}_{loss}" in RECIPES
    assert {"hico_defr", "hico_defr_zeroshot_clip", "hico_defr_linear_probe"} <= set(RECIPES)
    for arm in ("lang_lse", "lang_bce", "rand_lse", "rand_bce"):
        assert f"synthetic_defr_{arm}" in RECIPES


def test_best_run_is_defr_recipe():
    cfg = load_config("hico_defr")
    b, t = cfg.model.backbone, cfg.train
    assert (b.arch, b.image_size, b.kind) == ("ViT-B-16-quickgelu", 672, "open_clip")
    assert (t.batch_size, t.lr, t.epochs, t.weight_decay) == (32, 5e-6, 10, 0.0)
    assert (t.scheduler, t.restart_epochs) == ("cosine_restarts", 5)
    assert cfg.model.classifier.logit_scale == 4.61 and cfg.model.loss.kind == "lse_sign"


@pytest.mark.parametrize("name", RECIPES)
def test_defr_recipe_loads_and_builds(name):
    cfg = load_config(name)
    space = load_label_space(cfg.data.label_space or cfg.data.dataset)
    key = json.dumps([to_dict(cfg.model), space.fingerprint], sort_keys=True)
    if key not in _BUILT:
        if cfg.data.dataset == "synthetic":
            torch.manual_seed(0)
            _BUILT[key] = build_defr(cfg.model, space).model
        else:
            with torch.device("meta"):
                _BUILT[key] = build_defr(cfg.model, space, pretrained=False).model
    model = _BUILT[key]
    head = model.classifier
    rows = head.weight if hasattr(head, "weight") else head.linear.weight
    assert rows.shape[0] == space.num_interactions
    assert model.backbone_trainable == cfg.model.backbone.trainable
    if cfg.model.backbone.kind == "open_clip" and cfg.data.dataset != "synthetic":
        grid = cfg.model.backbone.image_size // model.backbone.visual.conv1.kernel_size[0]
        assert model.backbone.visual.positional_embedding.shape[0] == 1 + grid * grid
