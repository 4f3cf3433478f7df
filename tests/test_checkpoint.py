import random

import numpy as np
import pytest
import torch

from engine_toys import ToyDataset, ToyModel, collate
from openhoi.checkpoint import (
    atomic_write,
    checkpoint_config,
    load_checkpoint,
    load_model_weights,
    load_safetensors,
    make_checkpoint,
    rng_state,
    save_checkpoint,
    save_safetensors,
    set_rng_state,
)
from openhoi.config import Config, replace
from openhoi.errors import CheckpointError


def _checkpoint(model, **kw):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images, _ = collate([ToyDataset(2)[i] for i in range(2)])
    model(images).interaction_logits.sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [3])
    config = replace(Config(), {"train.epochs": 7})
    return make_checkpoint(model=model, config=config, label_space="toy-12345678",
                           optimizer=opt, scheduler=sched, epoch=2, step=5, rng=[rng_state()],
                           **kw), config


def test_checkpoint_loads_weights_only_and_reproduces_outputs(tmp_path):
    torch.manual_seed(0)
    model = ToyModel()
    ckpt, config = _checkpoint(model, extra={"best_value": 0.5})
    save_checkpoint(tmp_path / "c.pt", ckpt)
    raw = torch.load(tmp_path / "c.pt", weights_only=True)  # no pickle of arbitrary objects
    assert raw["epoch"] == 2 and raw["step"] == 5 and raw["extra"] == {"best_value": 0.5}
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert checkpoint_config(loaded) == config
    assert loaded["optimizer"]["param_groups"][0]["lr"] == 1e-3
    assert loaded["optimizer"]["state"][0]["step"] == 1  # one AdamW step was taken
    other = ToyModel()
    load_model_weights(other, loaded, "toy-12345678")
    images, _ = collate([ToyDataset(3, seed=5)[i] for i in range(3)])
    model.eval()
    other.eval()
    assert torch.equal(model(images).interaction_logits, other(images).interaction_logits)


def test_label_space_and_shape_mismatches_are_named(tmp_path):
    ckpt, _ = _checkpoint(ToyModel())
    with pytest.raises(CheckpointError, match=r"label space 'toy-12345678'.*'hicodet-abc'"):
        load_model_weights(ToyModel(), ckpt, "hicodet-abc", where="run/c.pt")
    with pytest.raises(CheckpointError,
                       match=r"run/c.pt.*shape differs: query.weight: checkpoint \(3, 8\) vs "
                             r"model \(5, 8\)"):
        load_model_weights(ToyModel(num_queries=5), ckpt, "toy-12345678", where="run/c.pt")
    del ckpt["model"]["clip.bias"]
    ckpt["model"]["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"1 missing from the checkpoint: clip.bias; "
                                              r"1 not in the model: extra.weight"):
        load_model_weights(ToyModel(), ckpt, "toy-12345678")


def test_bad_files_are_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"model": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not an openhoi checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_safetensors_round_trip_with_metadata(tmp_path):
    model = ToyModel()
    config = replace(Config(), {"train.lr": 3e-4})
    save_safetensors(tmp_path / "w.safetensors", model, config, "toy-1")
    loaded = load_safetensors(tmp_path / "w.safetensors")
    assert loaded["label_space"] == "toy-1" and checkpoint_config(loaded) == config
    other = ToyModel()
    load_model_weights(other, loaded, "toy-1")
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in model.state_dict().items())


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # no temp file left behind


def test_rng_state_round_trip():
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0, 1)  # leaves a cached gaussian in python's state
    state = rng_state()
    expected = (random.random(), random.gauss(0, 1), np.random.rand(), np.random.randn(),
                torch.rand(2))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    set_rng_state(state)
    again = (random.random(), random.gauss(0, 1), np.random.rand(), np.random.randn(),
             torch.rand(2))
    assert expected[:4] == again[:4] and torch.equal(expected[4], again[4])
