"""A V-COCO recipe trains and evaluates end to end: the synthetic benchmark in the V-COCO
layout, validation scored by role AP during training, the test split by the official files."""

import json

import pytest

from openhoi.cli import main
from openhoi.engine.metrics import read_metrics


@pytest.fixture(scope="module")
def vcoco_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn_vcoco")
    assert main(["make-synthetic", "--layout", "vcoco", "--out", str(root), "--images", "20",
                 "--seed", "4"]) == 0
    return root


def test_vcoco_recipe_trains_and_evaluates(vcoco_root, tmp_path):
    sets = {"data.root": str(vcoco_root), "data.train_scales": "[64]", "data.test_scale": 64,
            "data.max_size": 80, "data.val_size": 3, "train.epochs": 2, "train.batch_size": 2,
            "model.detector.num_queries": 4}
    run = tmp_path / "run"
    args = [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
    assert main(["train", "--config", "synthetic_tiny_vcoco", "--output", str(run),
                 "--no-progress", *args]) == 0
    val = [r for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "val"]
    assert [r["epoch"] for r in val] == [0, 1]
    assert all(0.0 <= r["AP_role_scenario_1"] <= 1.0 for r in val)
    test = json.loads((run / "test_metrics.json").read_text())
    assert test["num_images"] == 5  # every image of vcoco_test.ids
    assert {"AP_agent", "AP_role_scenario_1", "AP_role_scenario_2"} <= set(test)
    assert [e for e in test["per_class"]["role"]["role"]] == [
        "obj", "obj", "obj", "obj", "instr", "obj", "instr"]
