"""Optimiser and learning-rate schedule of the HOICLIP recipe.

AdamW over three parameter groups, each with its own learning rate (HOICLIP ``main.py``):
the CNN backbone (``train.lr_backbone``), CLIP's weights when they train (``model.clip.lr``)
and everything else: transformer, decoders, heads (``train.lr``). One step drop of every rate
by ``train.lr_drop_gamma`` after ``train.lr_drop`` epochs.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from openhoi.config import TrainConfig
from openhoi.models.contract import PARAMETER_GROUPS

log = logging.getLogger(__name__)

GROUPS = PARAMETER_GROUPS


def parameter_group(model: nn.Module, name: str) -> str:
    """``rest``, ``backbone`` or ``clip``: the model's own ``parameter_group(name)``
    (``HOIModel``); ``rest`` for a model without one."""
    rule = getattr(model, "parameter_group", None)
    group = rule(name) if callable(rule) else "rest"
    if group not in GROUPS:
        raise ValueError(f"parameter {name!r}: unknown group {group!r}, expected one of {GROUPS}")
    return group


def param_groups(model: nn.Module, lrs: dict[str, float]) -> list[dict]:
    """AdamW parameter groups of the trainable parameters (``requires_grad``; the model's
    builder freezes what the recipe fixes), in ``GROUPS`` order, empty groups left out. Each
    group carries its ``name``, kept in the optimiser's state dict and the metrics log."""
    params: dict[str, list[nn.Parameter]] = {g: [] for g in GROUPS}
    for name, p in model.named_parameters():
        if p.requires_grad:
            params[parameter_group(model, name)].append(p)
    groups = []
    for g in GROUPS:
        if params[g]:
            groups.append({"name": g, "params": params[g], "lr": lrs[g]})
            log.info("param group %-8s %11d parameters, lr %.2g", g,
                     sum(p.numel() for p in params[g]), lrs[g])
    if not groups:
        raise ValueError("the model has no trainable parameter")
    return groups


def build_optimizer(model: nn.Module, cfg: TrainConfig,
                    group_lrs: dict[str, float] | None = None) -> torch.optim.AdamW:
    """AdamW (HOICLIP ``main.py``): ``train.lr`` for the transformer and heads,
    ``train.lr_backbone`` for the backbone, the family's own rates (``ModelParts.group_lrs``:
    ``model.clip.lr`` for CLIP's weights where they train) for its groups;
    ``train.weight_decay`` on every group."""
    lrs = {"rest": cfg.lr, "backbone": cfg.lr_backbone, "clip": cfg.lr, **(group_lrs or {})}
    groups = param_groups(model, lrs)
    params = [p for g in groups for p in g["params"]]
    # The fused kernel (CPU and CUDA) is several times faster than the per-tensor loop.
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)


def build_scheduler(optimizer: torch.optim.Optimizer,
                    cfg: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch schedule: rates x ``lr_drop_gamma`` from epoch ``lr_drop`` on (0-based), as
    HOICLIP's ``MultiStepLRWarmup(optimizer, [lr_drop], warmup_iter=0)``; or DEFR's cosine
    annealing with warm restarts every ``restart_epochs`` (``train.scheduler``)."""
    if cfg.scheduler == "cosine_restarts":
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            optimizer, T_0=cfg.restart_epochs, T_mult=1)
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[cfg.lr_drop],
                                                gamma=cfg.lr_drop_gamma)
