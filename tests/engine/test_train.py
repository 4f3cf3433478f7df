import math

import pytest
import torch

from engine_toys import (
    ToyCriterion,
    ToyDataset,
    ToyModel,
    collate,
    run_toy,
    toy_config,
)
from openhoi.checkpoint import load_checkpoint
from openhoi.engine.loaders import train_loader
from openhoi.engine.metrics import read_metrics
from openhoi.engine.train import NonFiniteLossError, TrainState, fit, train_one_epoch


def _weights(path):
    return load_checkpoint(path)["model"]


def test_fit_learns_writes_checkpoints_log_and_test_metrics(tmp_path):
    config = toy_config(epochs=4, eval_every=2)
    state, _ = run_toy(tmp_path, config, train_size=32)
    assert (state.epoch, state.step) == (4, 4 * 32 // 4)
    records = read_metrics(tmp_path / "metrics.jsonl")
    epochs = [r for r in records if r["kind"] == "train_epoch"]
    assert [r["epoch"] for r in epochs] == [0, 1, 2, 3]
    assert epochs[-1]["loss"] < 0.7 * epochs[0]["loss"]
    # eval every 2 epochs -> after epochs 2 and 4 (0-based 1, 3)
    assert [r["epoch"] for r in records if r["kind"] == "val"] == [1, 3]
    # lr drops by 10x from (0-based) epoch lr_drop=2 on
    assert epochs[1]["lr"]["rest"] == pytest.approx(3e-2)
    assert epochs[2]["lr"]["rest"] == pytest.approx(3e-3)
    assert epochs[0]["lr"]["backbone"] == pytest.approx(1e-2)
    steps = [r for r in records if r["kind"] == "train_step"]
    assert len(steps) == state.step and {"loss_obj", "grad_norm"} <= set(steps[0])
    test = [r for r in records if r["kind"] == "test"]
    assert len(test) == 1 and test[0]["checkpoint"].startswith("best")
    assert (tmp_path / "test_metrics.json").is_file()
    assert (tmp_path / "model.safetensors").is_file()
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert best["epoch"] == state.best_epoch and best["extra"]["best_value"] == state.best_value


def test_resume_after_kill_is_bit_exact(tmp_path):
    """Dropout and random flips draw from the global RNG: resume must restore it exactly."""
    config = toy_config(epochs=4)
    kw = {"dropout": 0.3, "random_flip": True}
    run_toy(tmp_path / "full", config, **kw)
    with pytest.raises(KeyboardInterrupt):
        run_toy(tmp_path / "killed", config, stop_after_epoch=1, **kw)
    assert load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.pt")["epoch"] == 2
    torch.manual_seed(1234)  # a fresh process's generators are anywhere
    state, _ = run_toy(tmp_path / "killed", config, resume=True, model_seed=99, **kw)
    assert state.epoch == 4
    full = _weights(tmp_path / "full" / "checkpoints" / "last.pt")
    resumed = _weights(tmp_path / "killed" / "checkpoints" / "last.pt")
    for k in full:
        assert torch.equal(full[k], resumed[k]), k
    # the resumed log reads as one run: each epoch once
    recs = read_metrics(tmp_path / "killed" / "metrics.jsonl")
    assert [r["epoch"] for r in recs if r["kind"] == "train_epoch"] == [0, 1, 2, 3]


def test_resume_with_workers_is_bit_exact(tmp_path):
    """With worker processes the flips draw from worker seeds, derived per epoch."""
    config = toy_config(epochs=2, num_workers=1)
    run_toy(tmp_path / "full", config, random_flip=True, val=False)
    with pytest.raises(KeyboardInterrupt):
        run_toy(tmp_path / "killed", config, random_flip=True, val=False, stop_after_epoch=0)
    run_toy(tmp_path / "killed", config, random_flip=True, val=False, resume=True)
    full = _weights(tmp_path / "full" / "checkpoints" / "last.pt")
    resumed = _weights(tmp_path / "killed" / "checkpoints" / "last.pt")
    assert all(torch.equal(full[k], resumed[k]) for k in full)


def test_gradient_accumulation_matches_the_full_batch(tmp_path):
    a, _ = run_toy(tmp_path / "a", toy_config(epochs=1, batch_size=8), val=False)
    b, _ = run_toy(tmp_path / "b", toy_config(epochs=1, batch_size=8, grad_accum_steps=4),
                   val=False)
    assert a.step == b.step == 3
    wa = _weights(tmp_path / "a" / "checkpoints" / "last.pt")
    wb = _weights(tmp_path / "b" / "checkpoints" / "last.pt")
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)


def test_without_validation_the_last_weights_are_kept(tmp_path):
    state, model = run_toy(tmp_path, toy_config(epochs=2), val=False)
    assert state.best_epoch is None and not (tmp_path / "checkpoints" / "best.pt").exists()
    last = _weights(tmp_path / "checkpoints" / "last.pt")
    assert all(torch.equal(v, last[k]) for k, v in model.state_dict().items())
    test = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r["kind"] == "test"]
    assert test[0]["checkpoint"] == "last"


class _NaNAt(ToyCriterion):
    def __init__(self, step: int) -> None:
        super().__init__()
        self.calls, self.step = 0, step

    def forward(self, out, targets, num_pairs):
        self.calls += 1
        terms = super().forward(out, targets, num_pairs)
        if self.calls == self.step:
            terms["loss_box"] = terms["loss_box"] * math.nan
        return terms


def test_nan_loss_stops_with_step_images_and_last_checkpoint(tmp_path):
    config = toy_config(epochs=3)
    torch.manual_seed(0)
    model = ToyModel()
    from openhoi.engine.optim import build_optimizer, build_scheduler

    opt = build_optimizer(model, config.train, {"clip": config.model.clip.lr})
    loader = train_loader(ToyDataset(8), 4, collate, seed=0)
    with pytest.raises(NonFiniteLossError) as err:
        fit(model, _NaNAt(step=4), lambda *a: [], opt, build_scheduler(opt, config.train),
            loader, config=config, label_space="toy", run_dir=tmp_path,
            device=torch.device("cpu"))
    msg = str(err.value)
    assert "epoch 1, optimizer step 4" in msg and "loss_box=nan" in msg
    loader.sampler.set_epoch(1)  # epoch 1's second batch was the 4th step
    first, second = ([t.image_id for t in targets] for _, targets in loader)
    assert all(i in msg for i in second) and not all(i in msg for i in first)
    assert str(tmp_path / "checkpoints" / "last.pt") in msg


def test_nan_before_any_checkpoint_says_so(tmp_path):
    model = ToyModel()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = train_loader(ToyDataset(8), 4, collate, seed=0)
    with pytest.raises(NonFiniteLossError, match="none"):
        train_one_epoch(model, _NaNAt(step=1), loader, opt, torch.device("cpu"), 0,
                        TrainState())
