import pytest
import torch
from engine_toys import ToyModel

from openhoi.config import TrainConfig
from openhoi.engine.optim import (
    build_optimizer,
    build_scheduler,
    freeze_clip,
    parameter_group,
)
from openhoi.errors import ConfigError


def test_parameter_groups_by_name_component():
    assert parameter_group("detector.backbone.body.conv1.weight") == "backbone"
    assert parameter_group("clip.visual.proj") == "clip"
    assert parameter_group("knowledge.clip_model.ln.weight") == "clip"
    assert parameter_group("interaction.backbone_proj.weight") == "heads"  # not a component
    assert parameter_group("decoder.layers.0.linear1.weight") == "heads"


def test_optimizer_groups_rates_and_frozen_clip():
    cfg = TrainConfig(lr=1e-4, lr_backbone=1e-5, lr_clip=2e-5, weight_decay=1e-4)
    model = ToyModel()
    opt = build_optimizer(model, cfg)
    groups = {g["name"]: g for g in opt.param_groups}
    assert {k: g["lr"] for k, g in groups.items()} == {"heads": 1e-4, "backbone": 1e-5,
                                                       "clip": 2e-5}
    assert {id(p) for p in groups["backbone"]["params"]} == {
        id(p) for p in model.backbone.parameters()}
    assert all(g["weight_decay"] == 1e-4 for g in opt.param_groups)
    assert freeze_clip(model) == 8 * 8 + 8
    assert [g["name"] for g in build_optimizer(model, cfg).param_groups] == ["heads", "backbone"]


def test_step_drop_after_lr_drop_epochs():
    opt = build_optimizer(ToyModel(), TrainConfig(lr=1.0, lr_backbone=0.5))
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
