import pytest
import torch
from torch import nn

from engine_toys import ToyModel
from openhoi.config import Config, TrainConfig, replace
from openhoi.engine.optim import build_optimizer, build_scheduler, parameter_group
from openhoi.errors import ConfigError


def test_parameter_groups_are_the_models_rule():
    model = nn.Linear(1, 1)
    assert parameter_group(model, "detector.backbone.body.conv1.weight") == "rest"  # no rule
    model.parameter_group = lambda name: "clip" if name.startswith("head.cls") else "rest"
    assert parameter_group(model, "head.cls.weight") == "clip"
    assert parameter_group(model, "detector.backbone.x") == "rest"
    model.parameter_group = lambda name: "decoder"
    with pytest.raises(ValueError, match="unknown group 'decoder'"):
        parameter_group(model, "x")


def test_optimizer_groups_and_rates():
    config = replace(Config(), {"train.lr": 1e-4, "train.lr_backbone": 2e-5,
                                "train.weight_decay": 3e-4})
    model = ToyModel()
    opt = build_optimizer(model, config.train, {"clip": 1e-5})
    groups = {g["name"]: g for g in opt.param_groups}
    assert {k: g["lr"] for k, g in groups.items()} == {"rest": 1e-4, "backbone": 2e-5,
                                                       "clip": 1e-5}
    assert {id(p) for p in groups["backbone"]["params"]} == {
        id(p) for p in model.backbone.parameters()}
    assert all(g["weight_decay"] == 3e-4 for g in opt.param_groups)
    model.clip.requires_grad_(False)  # frozen parameters are left out
    opt = build_optimizer(model, config.train, {"clip": 1e-5})
    assert [g["name"] for g in opt.param_groups] == ["rest", "backbone"]


def test_step_drop_after_lr_drop_epochs():
    config = replace(Config(), {"train.lr": 1.0, "train.lr_backbone": 0.5})
    opt = build_optimizer(ToyModel(), config.train, {"clip": 1e-5})
    sched = build_scheduler(opt, TrainConfig(lr_drop=2, lr_drop_gamma=0.1))
    lrs = []
    for _ in range(4):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    expected = [[1.0, 0.5, 1e-5]] * 2 + [[0.1, 0.05, 1e-6]] * 2
    torch.testing.assert_close(torch.tensor(lrs), torch.tensor(expected))


def test_train_config_rejects_contradictions():
    with pytest.raises(ConfigError, match="train.batch_size .* multiple of train.grad_accum"):
        TrainConfig(batch_size=6, grad_accum_steps=4)
    with pytest.raises(ConfigError, match="train.epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="train.lr "):
        TrainConfig(lr=-1.0)
    torch.testing.assert_close(TrainConfig().lr, 1e-4)
