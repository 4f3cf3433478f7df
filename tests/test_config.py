import pytest

from openhoi.config import (
    Config,
    DataConfig,
    from_dict,
    load_config,
    parse_overrides,
    replace,
    save_config,
    to_dict,
)
from openhoi.errors import ConfigError


def test_defaults_roundtrip_through_dict():
    cfg = Config()
    assert from_dict(Config, to_dict(cfg)) == cfg


def test_overrides_are_parsed_as_yaml_and_nested():
    out = parse_overrides(["data.root=/x", "train.seed=3", "data.label_space=null"])
    assert out == {"data": {"root": "/x", "label_space": None}, "train": {"seed": 3}}


def test_load_config_applies_overrides_and_checks_types(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data:\n  dataset: synthetic\n")
    cfg = load_config(recipe, ["data.root=/data", "train.seed=7"])
    assert cfg.data == DataConfig(dataset="synthetic", root="/data")
    assert cfg.train.seed == 7
    with pytest.raises(ConfigError, match="train.seed"):
        load_config(recipe, ["train.seed=abc"])
    with pytest.raises(ConfigError, match="not one of"):
        load_config(recipe, ["data.dataset=coco"])


def test_unknown_key_is_named_with_suggestion():
    with pytest.raises(ConfigError, match=r"'data.roo'.*'root'"):
        load_config(None, ["data.roo=/x"])


def test_base_chain_and_save_roundtrip(tmp_path):
    (tmp_path / "base.yaml").write_text("data:\n  dataset: vcoco\ntrain:\n  seed: 1\n")
    (tmp_path / "child.yaml").write_text("_base_: base.yaml\ntrain:\n  seed: 2\n")
    cfg = load_config(tmp_path / "child.yaml")
    assert cfg.data.dataset == "vcoco" and cfg.train.seed == 2
    save_config(cfg, tmp_path / "saved.yaml")
    assert load_config(tmp_path / "saved.yaml") == cfg


def test_base_loop_is_an_error(tmp_path):
    (tmp_path / "a.yaml").write_text("_base_: b.yaml\n")
    (tmp_path / "b.yaml").write_text("_base_: a.yaml\n")
    with pytest.raises(ConfigError, match="loops"):
        load_config(tmp_path / "a.yaml")


def test_replace_returns_new_frozen_config():
    cfg = Config()
    new = replace(cfg, {"train.seed": 5})
    assert new.train.seed == 5 and cfg.train.seed == 42


@pytest.mark.parametrize("override, key", [
    ("data.flip_prob=1.5", "flip_prob"),
    ("data.crop_size=[600,384]", "crop_size"),
    ("data.train_scales=[]", "train_scales"),
    ("data.box_tolerance=-1", "box_tolerance"),
])
def test_data_config_rejects_contradictions(override, key):
    with pytest.raises(ConfigError, match=key):
        load_config(None, [override])


def test_exponent_without_dot_is_a_number(tmp_path):
    # YAML 1.1 reads 1e-4 as a string; a learning rate written that way must still work
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  lr: 1e-4\n")
    assert load_config(recipe, ["train.lr_backbone=3E-5"]).train.lr == 1e-4
    assert load_config(recipe, ["train.lr_backbone=3E-5"]).train.lr_backbone == 3e-5
    with pytest.raises(ConfigError, match="train.lr"):
        load_config(recipe, ["train.lr=1e-4x"])
