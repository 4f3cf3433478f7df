import pytest
from PIL import Image

from engine_toys import run_toy, toy_config
from openhoi.cli import main
from openhoi.engine.metrics import MetricsLog
from openhoi.engine.plots import plot_run, score_keys
from openhoi.errors import OpenHOIError


def test_plot_command_draws_loss_and_score_curves(tmp_path, capsys):
    run_toy(tmp_path, toy_config(epochs=2))
    assert main(["plot", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "plots" / "loss.png"), str(tmp_path / "plots" / "map.png")]
    for p in printed:
        with Image.open(p) as im:
            assert im.size == (960, 600)


def test_score_keys_prefer_map_and_skip_counts():
    assert score_keys([{"mAP": 0.1, "mAP_rare": None, "num_images": 3, "epoch": 1}]) == ["mAP"]
    assert score_keys([{"accuracy": 0.5, "num_images": 3, "best": True}]) == ["accuracy"]


def test_plot_without_metrics_is_a_clear_error(tmp_path):
    with pytest.raises(OpenHOIError, match="no metrics log"):
        plot_run(tmp_path)
    MetricsLog(tmp_path / "metrics.jsonl").write("val", 0, mAP=0.1)
    with pytest.raises(OpenHOIError, match="no training record"):
        plot_run(tmp_path)
