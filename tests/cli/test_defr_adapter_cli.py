"""CLIP-Adapter few-shot recognition through the CLI: `make-synthetic`, `train` of the tiny
recipe, `tune-alpha` on the validation hold-out."""

import json

import pytest
import torch
from safetensors.torch import load_file

from openhoi.cli import main
from openhoi.config import load_config
from openhoi.engine.run import seed_everything
from openhoi.label_space import load_label_space
from openhoi.models.defr.build import build_defr

RECIPE = "synthetic_defr_clip_adapter"
FAST = ["data.val_size=10", "train.batch_size=8"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapter") / "data"
    assert main(["make-synthetic", "--out", str(root), "--images", "60", "--seed", "2"]) == 0
    return root


def _sets(values):
    return [x for v in values for x in ("--set", v)]


def test_train_tiny_recipe_end_to_end_keeps_clip_frozen(data, tmp_path):
    run = tmp_path / "run"
    overrides = [f"data.root={data}", *FAST, "train.epochs=2"]
    assert main(["train", "--config", RECIPE, *_sets(overrides), "--output", str(run),
                 "--device", "cpu", "--no-progress"]) == 0
    res = json.loads((run / "test_metrics.json").read_text())
    assert res["num_images_scored"] == res["num_images"] > 0
    summary = json.loads((run / "run.json").read_text())["data"]
    assert summary["shots"] == 4 and summary["val_images"] == 10
    # the frozen CLIP tower and zero-shot classifier leave training bit for bit as built
    config = load_config(run / "config.yaml")
    seed_everything(config.train.seed)
    fresh = build_defr(config.model, load_label_space("synthetic")).model.state_dict()
    trained = load_file(run / "model.safetensors")
    frozen = [k for k in fresh if not k.startswith("adapters.")]
    assert frozen and all(torch.equal(trained[k], fresh[k]) for k in frozen)
    assert any(not torch.equal(trained[k], fresh[k]) for k in fresh if k.startswith("adapters."))


def test_tune_alpha_chooses_on_validation_only(data, tmp_path, capsys):
    out = tmp_path / "sweep"
    overrides = [f"data.root={data}", *FAST, "train.epochs=1"]
    assert main(["tune-alpha", "--config", RECIPE, *_sets(overrides), "--output", str(out),
                 "--alphas", "0.1", "0.6", "--device", "cpu", "--no-progress"]) == 0
    record = json.loads((out / "alpha_sweep.json").read_text())
    assert [r["alpha"] for r in record["runs"]] == [0.1, 0.6] and record["split"] == "val"
    for r in record["runs"]:  # the value is the run's own validation record
        lines = [json.loads(x) for x in (out / f"alpha_{r['alpha']:g}" / "metrics.jsonl")
                 .read_text().splitlines()]
        val = [x["mAP"] for x in lines if x["kind"] == "val"]
        assert val and r["value"] == pytest.approx(max(val))
        assert not (out / f"alpha_{r['alpha']:g}" / "test_metrics.json").exists()
    best = max(record["runs"], key=lambda r: r["value"])
    assert record["chosen_alpha"] == best["alpha"]
    tuned = load_config(out / "tuned.yaml")
    assert tuned.model.adapter.alpha == best["alpha"] and tuned.train.eval_test
    assert f"chosen alpha {best['alpha']:g}" in capsys.readouterr().out


@pytest.mark.parametrize(("overrides", "message"), [
    (["data.val_size=0"], "data.val_size must be > 0"),
    (["model.adapter.where=[]"], "no CLIP-Adapter"),
    (["--alphas", "0.2", "1.5"], "outside [0, 1]"),
])
def test_tune_alpha_refuses_what_it_cannot_tune(data, tmp_path, capsys, overrides, message):
    sets = [v for v in overrides if "=" in v]
    flags = [v for v in overrides if "=" not in v]
    args = ["tune-alpha", "--config", RECIPE, *_sets([f"data.root={data}", *sets]), *flags,
            "--output", str(tmp_path / "x"), "--device", "cpu"]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
