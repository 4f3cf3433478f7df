import json

from openhoi.engine.metrics import MetricsLog, RunningMean, read_metrics


def test_log_truncates_a_killed_runs_tail_and_writes_valid_json(tmp_path):
    log = MetricsLog(tmp_path / "m.jsonl")
    for epoch in range(3):
        log.write("train_epoch", epoch, loss=1.0 / (epoch + 1))
    log.write("train_step", 2, loss=float("nan"))
    with open(tmp_path / "m.jsonl", "a") as f:
        f.write('{"kind": "train_st')  # torn line of a killed process
    lines = (tmp_path / "m.jsonl").read_text().splitlines()
    assert json.loads(lines[3])["loss"] == "nan"  # strict JSON, NaN as a string
    assert len(read_metrics(tmp_path / "m.jsonl")) == 4
    assert log.truncate_from_epoch(2) == 2
    assert [r["epoch"] for r in read_metrics(tmp_path / "m.jsonl")] == [0, 1]


def test_running_mean():
    m = RunningMean()
    m.update({"a": 1.0, "b": 2.0})
    m.update({"a": 3.0})
    assert m.means() == {"a": 2.0, "b": 2.0}
