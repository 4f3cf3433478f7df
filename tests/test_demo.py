"""`openhoi demo` end to end at toy size: every artefact it promises is written."""

import json

import pytest
import torch

from openhoi.cli import main
from openhoi.demo import learned


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
    assert (out / "run" / "plots" / "loss.png").is_file()
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == len(pictures) and all("triplets" in r for r in records)
    assert (out / "run" / "test_metrics.json").is_file()


def test_learned_needs_a_margin_over_the_untrained_model():
    assert learned({"mAP": 0.0}, {"mAP": 0.2})
    assert not learned({"mAP": 0.0}, {"mAP": 0.005})
    assert not learned({"mAP": 0.3}, {"mAP": 0.3})
