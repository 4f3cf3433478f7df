"""The shipped tiny recipe learns (issues #6, #19): `openhoi train --config synthetic_tiny`,
unchanged but for the data root, on the seeded synthetic benchmark (the demo's training), scores
well above the untrained model on the held-out test split. Takes about six minutes on two
quiet CPU cores (1,950 steps at 160 px): the longest test of the default suite, and the one
that says the whole training path works."""

import json

import torch

from openhoi.cli import main
from openhoi.config import load_config
from openhoi.data.synthetic import generate_synthetic
from openhoi.demo import evaluate_untrained

MIN_MAP = 0.15
"""Test mAP (HICO-DET python protocol, as a fraction) the trained model must reach: with
aspect-grouped batches 24 epochs reached 32.64% (train.seed 42, this test's) and 27.51%
(seed 0) with one thread but 19.53% (seed 0) with two, and 26 epochs (the recipe) 29.55%
(seed 0, two threads); 23.17% before grouping (AMD EPYC; README, "The demo"); float summation
order (thread count, machine) moves a from-scratch run by several points, so this leaves
a margin of a third below the lowest measurement; the 128 px recipe before it reached 15.35%,
the 8-epoch one 6.44%."""


def test_synthetic_tiny_learns_on_held_out_images(tmp_path):
    data = tmp_path / "data"
    generate_synthetic(data, 400, seed=0)  # `openhoi make-synthetic --images 400`, the demo's
    run = tmp_path / "run"
    args = ["train", "--config", "synthetic_tiny", "--set", f"data.root={data}",
            "--output", str(run), "--device", "cpu", "--no-progress"]
    assert main(args) == 0
    trained = json.loads((run / "test_metrics.json").read_text())
    config = load_config("synthetic_tiny", [f"data.root={data}"])
    untrained = evaluate_untrained(config, torch.device("cpu"))
    print(f"test mAP untrained {untrained['mAP']:.4f} trained {trained['mAP']:.4f} "
          f"(rare {trained['mAP_rare']:.4f}, non-rare {trained['mAP_non_rare']:.4f})")
    assert untrained["mAP"] < 0.002
    assert trained["mAP"] >= MIN_MAP
    assert trained["mAP"] >= 10 * max(untrained["mAP"], 1e-4)
