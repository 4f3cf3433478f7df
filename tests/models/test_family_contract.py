"""A family is added by one module, one table line and a recipe: the toy family of
``toy_family.py`` trains, evaluates, predicts and round-trips its checkpoint through the CLI,
with no change to the engine, predict, the CLI or open vocabulary."""

import json

import pytest
import torch
import toy_family
import yaml
from PIL import Image

from openhoi.checkpoint import make_checkpoint, save_checkpoint
from openhoi.cli import main
from openhoi.config import Config, load_config
from openhoi.data.dataset import resolve_label_space
from openhoi.data.synthetic import generate_synthetic
from openhoi.errors import ConfigError
from openhoi.models import build


@pytest.fixture
def toy_table(monkeypatch):
    monkeypatch.setitem(build.ARCHITECTURES, "toy", toy_family.ARCHITECTURE)


@pytest.fixture(scope="module")
def syn_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    generate_synthetic(root, num_images=12, seed=5, test_fraction=0.25)
    return root


def _recipe(tmp_path, root):
    recipe = {"data": {"dataset": "synthetic", "root": str(root), "train_scales": [64],
                       "test_scale": 64, "max_size": 80, "crop_prob": 0.0, "num_workers": 0},
              "model": {"architecture": "toy", "hidden": 8, "num_queries": 3},
              "train": {"epochs": 2, "batch_size": 3, "lr": 1e-3, "log_every": 1}}
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_the_table_chooses_the_config_section(toy_table):
    config = load_config(data={"model": {"architecture": "toy", "hidden": 4}})
    assert type(config.model) is toy_family.ToyConfig and config.model.hidden == 4
    assert not hasattr(config.model, "detector")  # no detector section forced on it
    with pytest.raises(ConfigError, match="unknown config key 'model.detector'"):
        load_config(data={"model": {"architecture": "toy", "detector": {}}})
    with pytest.raises(ConfigError, match="unknown model family 'nope'.*'toy'"):
        load_config(data={"model": {"architecture": "nope"}})
    assert type(Config().model).__name__ == "HOICLIPConfig"  # the default family


def test_toy_family_trains_evaluates_predicts_through_the_cli(toy_table, syn_root, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--config", str(_recipe(tmp_path, syn_root)), "--output", str(run),
                 "--no-progress"]) == 0
    test_metrics = json.loads((run / "test_metrics.json").read_text())
    assert 0.0 <= test_metrics["mAP"] <= 1.0 and test_metrics["num_images"] == 3
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"] == {"architecture": "toy", "hidden": 8, "num_queries": 3,
                              **{k: saved["model"][k] for k in ("matcher", "loss",
                                                                "postprocess")},
                              "onednn_linear": True, "fast_conv": True}  # base ModelConfig's

    out = tmp_path / "eval.json"
    weights = str(run / "model.safetensors")
    assert main(["evaluate", "--dataset", "synthetic", "--checkpoint", weights,
                 "--data-root", str(syn_root), "--output", str(out), "--device", "cpu"]) == 0
    assert json.loads(out.read_text())["mAP"] == pytest.approx(test_metrics["mAP"])

    image = tmp_path / "photo.png"
    Image.new("RGB", (50, 40), (120, 30, 200)).save(image)
    lines = tmp_path / "pred.jsonl"
    assert main(["predict", str(image), "--checkpoint", weights,
                 "--out", str(lines), "--draw", str(tmp_path / "pics"), "--top-k", "2"]) == 0
    record = json.loads(lines.read_text().splitlines()[0])
    assert (record["width"], record["height"]) == (50, 40) and len(record["triplets"]) == 2

    exported = tmp_path / "export.safetensors"
    assert main(["export", str(run / "checkpoints" / "last.pt"), str(exported)]) == 0
    a, b = build.load_model(run / "checkpoints" / "last.pt"), build.load_model(exported)
    assert isinstance(a.model, toy_family.ToyDetector) and a.config == b.config
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k


def test_a_family_without_open_vocabulary_says_so(toy_table, syn_root, tmp_path, capsys):
    config = load_config(_recipe(tmp_path, syn_root))
    space = resolve_label_space(config.data)
    ckpt = tmp_path / "toy.pt"
    model = build.build_model_parts(config, space).model
    save_checkpoint(ckpt, make_checkpoint(model=model, config=config, label_space=space))
    image = tmp_path / "photo.png"
    Image.new("RGB", (32, 32)).save(image)
    assert main(["predict", str(image), "--checkpoint", str(ckpt),
                 "--interactions", "ride horse"]) == 2
    assert "does not support open-vocabulary" in capsys.readouterr().err
