"""EZ-HOI checkpoints in pocket's release layout: conversion, the inputs its files lack
(per-layer prompts, detections), error cases, the CLI, and the save -> load round trip."""

from __future__ import annotations

import json

import pytest
import torch
from ez_hoi_layout import DEPTH, N_CTX, ez_hoi_checkpoint
from reference_layouts import TEXT_W, hoiclip_layout, random_state, release

from openhoi.cli import main
from openhoi.errors import CheckpointError, ConfigError
from openhoi.label_space import load_label_space
from openhoi.models.build import load_model
from openhoi.models.convert import convert_checkpoint, save_converted
from openhoi.structures import ImageBatch

H, W = 64, 80


@pytest.fixture(scope="module")
def space():
    return load_label_space("hicodet")


@pytest.fixture(scope="module")
def classes(space):
    """One class per verb plus two unseen classes of UV, as EZ-HOI's selection would have."""
    first = {}
    for i, v in enumerate(space.interaction_verb.tolist()):
        first.setdefault(v, i)
    unseen = list(space.zero_shot_split("uv").unseen_interactions)[:2]
    return sorted(set(first.values()) | set(unseen))


@pytest.fixture(scope="module")
def files(tmp_path_factory, space, classes):
    root = tmp_path_factory.mktemp("ez")
    ckpt = ez_hoi_checkpoint(space, classes)
    torch.save(ckpt, root / "ckpt_00120_12.pt")
    torch.save(torch.randn(DEPTH, N_CTX, TEXT_W), root / "prompts.pt")
    dets = {"format": "openhoi-detections", "version": 1, "boxes": "xyxy_abs", "images": {
        "a.jpg": {"size": [H, W], "boxes": [[2, 3, 40, 60], [30, 5, 78, 62], [10, 20, 50, 50],
                                            [45, 10, 70, 40]],
                  "scores": [0.9, 0.8, 0.7, 0.6], "labels": [0, 0, 41, 56]}}}
    (root / "dets.json").write_text(json.dumps(dets))
    return {"root": root, "ckpt": root / "ckpt_00120_12.pt", "prompts": root / "prompts.pt",
            "dets": root / "dets.json", "state": ckpt["model_state_dict"]}


def _convert(files, **kw):
    args = {"prompts": files["prompts"], "detections": files["dets"], "zero_shot": "uv"}
    args.update(kw)
    return convert_checkpoint(files["ckpt"], "ez-hoi", **args)


@pytest.fixture(scope="module")
def converted(files):
    return _convert(files)


def _batch() -> ImageBatch:
    g = torch.Generator().manual_seed(0)
    return ImageBatch(torch.randn(1, 3, H, W, generator=g), torch.zeros(1, H, W, dtype=torch.bool),
                      torch.tensor([[H, W]]), ("a.jpg",))


def test_tensors_land_where_ez_hoi_uses_them(converted, files, classes):
    model, state = converted.model, files["state"]
    pl = "clip_head.prompt_learner."
    pairs = {
        "pair_adapter.down.weight": "mem_adapter.down_proj_mem.weight",
        "pair_adapter.layer.self_attn.in_proj_weight":
            "mem_adapter.mhsa_layers.0.self_attn.in_proj_weight",
        "prompts.to_visual.0.weight": pl + "proj.weight",
        "prompts.text_adapter.prior_proj.layers.2.bias":
            pl + "txtcls_pt_adapter.down_proj_prior.layers.2.bias",
        "prompts.image_adapter.layer.cross_attn.out_proj.weight":
            pl + "img_clip_pt_adapter.mhsa_layers.0.multihead_attn.out_proj.weight",
        "prompts.unseen_adapter.layer.norm1.weight":
            pl + "unseen_pt_adapter.mhsa_layers.0.norm1.weight",
        "image_tower.adapters.1.scale": "clip_head.image_encoder.transformer.resblocks.1."
                                        "adaptermlp.scale",
        "image_tower.adapters.0.layer.cross_attn.in_proj_weight":
            "clip_head.image_encoder.transformer.resblocks.0.adaptermlp.mhsa_layers.0."
            "multihead_attn.in_proj_weight",
        "clip.model.visual.proj": "clip_head.image_encoder.proj",
        "clip.model.transformer.resblocks.0.mlp.c_fc.weight":
            "clip_head.transformer.resblocks.0.mlp.c_fc.weight",
        "instance_proj.layers.0.weight": "priors_downproj.layers.0.weight",
        "vis_fuse.2.bias": "vis_fuse.2.bias",
        "logit_scale": "logit_scale_HO",
    }
    ours = model.state_dict()
    for key, theirs in pairs.items():
        assert torch.equal(ours[key], state[theirs]), key
    assert torch.equal(model.prompts.text_prompts, torch.load(files["prompts"]))
    assert model.class_index.tolist() == classes
    assert not model.image_tower.train_head  # EZ-HOI's visual head is CLIP's, frozen
    report = converted.report
    assert "detector.class_embed.weight" in report.ignored
    assert any(k.endswith("adaptermlp.mhsa_layers.0.norm1.weight") for k in report.ignored)
    assert "mem_adapter.down_proj_prior.layers.0.weight" in report.ignored
    assert report.inferred["model.prompts.depth"][0] == DEPTH
    assert converted.config.model.prompts.text_position == "released_tail"


def test_round_trip_gives_identical_outputs(converted, tmp_path):
    out = save_converted(converted, tmp_path / "ez.pt")
    loaded = load_model(out)
    batch = _batch()
    with torch.no_grad():
        a, b = converted.model(batch), loaded.model(batch)
    assert a.extras["pair_mask"].sum() == 2 * 3  # 2 humans x 3 other instances
    assert torch.equal(a.verb_logits, b.verb_logits)
    assert torch.isfinite(a.verb_logits[a.extras["pair_mask"]]).all()


def test_prompts_change_the_outputs(files, converted, tmp_path):
    """The unsaved per-layer prompts matter (they make the visual prompts)."""
    other = tmp_path / "other.pt"
    torch.save(torch.randn(DEPTH, N_CTX, TEXT_W) * 3, other)
    changed = _convert(files, prompts=other)
    with torch.no_grad():
        a, b = converted.model(_batch()), changed.model(_batch())
    m = a.extras["pair_mask"]
    assert not torch.allclose(a.verb_logits[m], b.verb_logits[m])


def test_cli_converts(files, tmp_path, capsys):
    out = tmp_path / "cli.pt"
    rc = main(["convert", "--from", "ez-hoi", str(files["ckpt"]), str(out), "--prompts",
               str(files["prompts"]), "--detections", str(files["dets"]), "--zero-shot", "uv"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "(ez-hoi)" in printed and "txtcls_ctx_pt" not in printed
    loaded = load_model(out)
    assert loaded.config.model.instances.detections_file == str(files["dets"])
    assert torch.equal(loaded.model.prompts.text_prompts, torch.load(files["prompts"]))


def test_cli_without_prompts_exits_2_and_says_how(files, tmp_path, capsys):
    rc = main(["convert", "--from", "ez-hoi", str(files["ckpt"]), str(tmp_path / "x.pt"),
               "--detections", str(files["dets"])])
    assert rc == 2
    assert "txtcls_ctx_pt" in capsys.readouterr().err


def test_missing_inputs_are_errors(files, tmp_path):
    with pytest.raises(ConfigError, match="txtcls_ctx_pt"):
        _convert(files, prompts=None)
    with pytest.raises(ConfigError, match="no detector.*--detections"):
        _variant(files, tmp_path, lambda s: [s.pop(k) for k in list(s)
                                             if k.startswith("detector.")], detections=None)
    with pytest.raises(ConfigError, match="'rf_uc'"):
        _convert(files, zero_shot="rare_first")


def test_prompts_of_the_wrong_shape(files, tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save(torch.randn(DEPTH + 1, N_CTX, TEXT_W), bad)
    with pytest.raises(CheckpointError, match=r"bad\.pt.*\[2, 2, 32\].*\[1, 2, 32\]"):
        _convert(files, prompts=bad)


def _variant(files, tmp_path, edit, **kw):
    ckpt = torch.load(files["ckpt"])
    edit(ckpt["model_state_dict"])
    path = tmp_path / "variant.pt"
    torch.save(ckpt, path)
    return _convert(dict(files, ckpt=path), **kw)


def test_unknown_and_missing_tensors_are_named(files, tmp_path):
    with pytest.raises(CheckpointError, match=r"mem_adapter\.extra\.weight"):
        _variant(files, tmp_path, lambda s: s.update({"mem_adapter.extra.weight": torch.ones(2)}))
    with pytest.raises(CheckpointError, match=r"vis_fuse\.0\.weight"):
        _variant(files, tmp_path, lambda s: s.pop("vis_fuse.0.weight"))


def test_prompted_classes_must_be_label_space_classes(files, tmp_path):
    def scramble(s):
        s["clip_head.prompt_learner.token_prompts"][3] += 1.0

    with pytest.raises(CheckpointError, match="token_prompts row 3"):
        _variant(files, tmp_path, scramble)

    def wrong_verbs(s):
        s["label_HO"] = s["label_HO"].roll(1, dims=1)

    with pytest.raises(CheckpointError, match="label_HO"):
        _variant(files, tmp_path, wrong_verbs)


def test_other_layouts_are_refused(tmp_path, space):
    state = random_state(hoiclip_layout(space.num_interactions, space.num_objects + 1,
                                        space.num_verbs))
    path = tmp_path / "hoiclip.pth"
    torch.save(release(state), path)
    with pytest.raises(CheckpointError, match="not an EZ-HOI checkpoint"):
        convert_checkpoint(path, "ez-hoi", prompts=path, detections=path)
    with pytest.raises(ConfigError, match="EZ-HOI inputs"):
        convert_checkpoint(path, "hoiclip", prompts=path)
