"""Optimiser and learning-rate schedule of the HOICLIP recipe.

AdamW over three parameter groups, each with its own learning rate (HOICLIP ``main.py``):
the CNN backbone (``train.lr_backbone``), CLIP's weights when they train (``train.lr_clip``)
and everything else: transformer, decoders, heads (``train.lr``). One step drop of every rate
by ``train.lr_drop_gamma`` after ``train.lr_drop`` epochs.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from openhoi.config import TrainConfig

log = logging.getLogger(__name__)

BACKBONE_NAMES = frozenset({"backbone"})
"""A parameter is the backbone's when one component of its dotted name is one of these."""
CLIP_NAMES = frozenset({"clip", "clip_model"})
"""A parameter is CLIP's when one component of its dotted name is one of these."""

GROUPS = ("heads", "backbone", "clip")


def parameter_group(name: str) -> str:
    """``backbone``, ``clip`` or ``heads`` for a parameter's dotted name (e.g.
    ``detector.backbone.body.layer1.0.conv1.weight`` -> ``backbone``)."""
    parts = set(name.split("."))
    if parts & CLIP_NAMES:
        return "clip"
    if parts & BACKBONE_NAMES:
        return "backbone"
    return "heads"


def freeze_clip(model: nn.Module) -> int:
    """Stop gradients to CLIP's weights (HOICLIP ``--fix_clip``); returns how many were frozen.

    Call before wrapping the model in DDP and before building the optimiser.
    """
    count = 0
    for name, p in model.named_parameters():
        if parameter_group(name) == "clip" and p.requires_grad:
            p.requires_grad_(False)
            count += p.numel()
    return count


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """AdamW parameter groups of the trainable parameters, in ``GROUPS`` order, empty groups
    left out. Each group carries its ``name`` (kept in the optimiser's state dict)."""
    lrs = {"heads": cfg.lr, "backbone": cfg.lr_backbone, "clip": cfg.lr_clip}
    params: dict[str, list[nn.Parameter]] = {g: [] for g in GROUPS}
    for name, p in model.named_parameters():
        if p.requires_grad:
            params[parameter_group(name)].append(p)
    groups = []
    for g in GROUPS:
        if params[g]:
            groups.append({"name": g, "params": params[g], "lr": lrs[g]})
            log.info("param group %-8s %11d parameters, lr %.2g", g,
                     sum(p.numel() for p in params[g]), lrs[g])
    if not groups:
        raise ValueError("the model has no trainable parameter")
    return groups


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW over ``param_groups`` with the recipe's weight decay (HOICLIP ``main.py``)."""
    return torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer,
                    cfg: TrainConfig) -> torch.optim.lr_scheduler.MultiStepLR:
    """Per-epoch schedule: rates x ``lr_drop_gamma`` from epoch ``lr_drop`` on (0-based), as
    HOICLIP's ``MultiStepLRWarmup(optimizer, [lr_drop], warmup_iter=0)``."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[cfg.lr_drop],
                                                gamma=cfg.lr_drop_gamma)
