"""Inference-only views of ``HOIDetector`` that compute the same outputs with less work.

``inference_model(model)`` is what evaluation and prediction run. It differs from the training
module in the ResNet backbone only: every ``FrozenBatchNorm2d`` is folded into the convolution
before it (``W' = W * s``, ``b' = b_bn - mean * s`` with ``s = gamma / sqrt(var + eps)``,
exactly the affine map ``FrozenBatchNorm2d`` applies), which removes two passes over every
feature map, and the convolutions run in channels-last layout, which oneDNN computes without
reordering every layer's input and output. Outputs agree with the training module's to float
rounding (about 1e-6 relative); measured in ``benchmarks/bench_infer.py``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from openhoi.models.detr.folded_resnet import folded_weight_bias
from openhoi.models.detr.hoi_detector import HOIDetector


@torch.no_grad()
def fold_conv_batchnorm(conv: nn.Conv2d, bn: FrozenBatchNorm2d) -> nn.Conv2d:
    """A convolution computing ``bn(conv(x))``: the frozen affine map folded into it."""
    weight, bias = folded_weight_bias(conv, bn)
    fused = copy.deepcopy(conv)
    fused.weight = nn.Parameter(weight, requires_grad=False)
    fused.bias = nn.Parameter(bias, requires_grad=False)
    return fused


def _is_affine_norm(bn: nn.Module | None) -> bool:
    """Whether ``bn`` applies a fixed affine map: a ``FrozenBatchNorm2d``, or a trainable
    ``BatchNorm2d`` (``model.detector.backbone_norm: bn``) in eval mode with running stats."""
    if isinstance(bn, FrozenBatchNorm2d):
        return True
    return (isinstance(bn, nn.BatchNorm2d) and not bn.training and bn.affine
            and bn.running_mean is not None)


def fold_frozen_batchnorm(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with every ``FrozenBatchNorm2d`` (or eval-mode ``BatchNorm2d``) that
    follows a ``Conv2d`` folded into it and replaced by ``nn.Identity``.

    A pair is a ``Conv2d`` and a ``FrozenBatchNorm2d`` that are consecutive children of an
    ``nn.Sequential`` (the ResNet stem, ``downsample``), or children named ``convK`` and
    ``bnK`` (torchvision's ``BasicBlock`` / ``Bottleneck``, whose forward applies ``bnK``
    right after ``convK``).
    """
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        children = dict(parent.named_children())
        pairs = []
        if isinstance(parent, nn.Sequential):
            names = list(children)
            pairs += list(zip(names[:-1], names[1:]))
        pairs += [(n, "bn" + n[4:]) for n in children if n.startswith("conv")]
        for conv_name, bn_name in pairs:
            conv, bn = children.get(conv_name), children.get(bn_name)
            if isinstance(conv, nn.Conv2d) and _is_affine_norm(bn):
                setattr(parent, conv_name, fold_conv_batchnorm(conv, bn))
                setattr(parent, bn_name, nn.Identity())
                children[bn_name] = None  # folded once
    return module


def _with_child(module: nn.Module, name: str, child: nn.Module) -> nn.Module:
    """A shallow copy of ``module`` whose ``name`` child is ``child``; the other children,
    parameters and buffers are shared."""
    out = copy.copy(module)
    out._modules = dict(module._modules)
    out._modules[name] = child
    return out


def inference_model(model: HOIDetector, clip_extras: bool | None = None) -> HOIDetector:
    """A view of ``model`` for inference (see the module docstring).

    Every module except the backbone is shared with ``model`` (no copy of CLIP or the
    transformers; a later change to their weights shows in both); the backbone is a folded
    copy, so build the view again after the backbone's weights change. Put ``model`` in eval
    mode first and run the view without gradients: it cannot be trained.

    Args:
        model: the ``HOIDetector``.
        clip_extras: for a head that does not read CLIP (GEN-VLKT), whether to still run
            CLIP's image tower for ``extras`` (S_zs for the zero-shot enhancement, V_g for the
            mimic loss); ``None`` keeps ``model``'s setting.
    """
    backbone = model.detector.backbone
    fast_backbone = _with_child(backbone, "body", fold_frozen_batchnorm(backbone.body))
    fast_backbone.body.to(memory_format=torch.channels_last)
    fast_backbone.channels_last = True
    out = _with_child(model, "detector", _with_child(model.detector, "backbone", fast_backbone))
    if clip_extras is not None:
        out.clip_extras = clip_extras
    return out
