"""`openhoi demo` end to end at toy size: every artefact it promises is written."""

import json

import pytest
import torch

from openhoi.cli import main
from openhoi.demo import is_right, learned
from openhoi.structures import Triplet


@pytest.fixture
def one_thread():
    """Toy-size work runs faster on one thread; later tests get the machine back."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_demo_writes_report_pictures_checkpoint_and_predictions(tmp_path, capsys, one_thread):
    out = tmp_path / "demo"
    sets = ["data.train_scales=[64]", "data.test_scale=64", "data.max_size=80",
            "train.batch_size=2"]
    args = ["demo", "--out", str(out), "--images", "12", "--epochs", "1", "--no-progress",
            "--device", "cpu"]
    assert main([*args, *[a for s in sets for a in ("--set", s)]]) == 0
    printed = capsys.readouterr().out
    assert "mAP (Full)" in printed and "report:" in printed
    report = (out / "report.md").read_text()
    assert "| mAP (Full) |" in report and "run/plots/loss.png" in report
    pictures = sorted((out / "pictures").glob("*.png"))
    assert pictures and all(f"pictures/{p.name}" in report for p in pictures)
    assert all(p.name.startswith(("right_", "wrong_")) for p in pictures)
    assert "ground truth" in report and "test images" in report
    assert (out / "run" / "plots" / "loss.png").is_file()
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    num_test = len(json.loads((out / "data" / "annotations" / "test_hico.json").read_text()))
    assert len(records) == num_test and all("triplets" in r for r in records)
    assert (out / "run" / "test_metrics.json").is_file()


def _triplet(interaction, h, o, score=1.0):
    return Triplet(h, o, "kite", "fly", interaction, score)


def test_right_means_same_interaction_and_both_boxes_overlapping():
    truth = [_triplet(3, (0, 0, 10, 10), (20, 0, 30, 10))]
    assert is_right(_triplet(3, (1, 0, 10, 10), (20, 1, 30, 10)), truth)
    assert not is_right(_triplet(4, (0, 0, 10, 10), (20, 0, 30, 10)), truth)  # other class
    assert not is_right(_triplet(3, (0, 0, 10, 10), (25, 0, 35, 10)), truth)  # IoU 1/3
    assert not is_right(_triplet(3, (20, 0, 30, 10), (0, 0, 10, 10)), truth)  # swapped


def test_learned_needs_a_margin_over_the_untrained_model():
    assert learned({"mAP": 0.0}, {"mAP": 0.2})
    assert not learned({"mAP": 0.0}, {"mAP": 0.005})
    assert not learned({"mAP": 0.3}, {"mAP": 0.3})
