"""The ResNet body's forward with every frozen BatchNorm folded into the convolution before it,
for training as well as inference.

``FrozenBatchNorm2d`` is a fixed affine map per channel, ``y = x * s + t`` with
``s = gamma / sqrt(var + eps)`` and ``t = beta - mean * s``, so ``bn(conv(x, W))`` equals
``conv(x, W * s, bias=t)``. Computing ``W * s`` once per step (a pass over the weights, 25 M
numbers for ResNet-50) replaces two passes over every feature map in the forward and one in
the backward (the gradient through the affine map), which on CPU cost more than a tenth of a
HOICLIP training step at 512x640 (``benchmarks/bench_train.py``). The gradient still reaches
``W`` (through the product), so the stages DETR trains train exactly as before; parameters,
buffers and state-dict keys are the torchvision ResNet's, untouched. Outputs equal the
unfolded forward's to float rounding (about 1e-6 relative, ``tests/models/detr``).

Only the torchvision layouts DETR uses are walked: the stem (``conv1, bn1, relu, maxpool``),
``Bottleneck`` and ``BasicBlock`` stages; ``foldable`` says whether a body qualifies
(every norm a ``FrozenBatchNorm2d``), otherwise callers run the body as it is.
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.ops.misc import FrozenBatchNorm2d

from openhoi.ops.conv import module_conv2d

STEM = ("conv1", "bn1", "relu", "maxpool")


def folded_weight_bias(conv: nn.Conv2d, bn: nn.Module) -> tuple[Tensor, Tensor]:
    """Weight and bias of the one convolution computing ``bn(conv(x))`` for a fixed affine
    norm (``FrozenBatchNorm2d``, or ``BatchNorm2d`` in eval mode): ``W * s`` and
    ``t + b_conv * s``, with FrozenBatchNorm2d's own ``s`` and ``t``. Differentiable in
    ``conv``'s parameters (training) and used under ``no_grad`` for inference copies."""
    scale = bn.weight * (bn.running_var + bn.eps).rsqrt()
    shift = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        shift = shift + conv.bias * scale
    return conv.weight * scale.view(-1, 1, 1, 1), shift


def conv_frozen_bn(x: Tensor, conv: nn.Conv2d, bn: FrozenBatchNorm2d) -> Tensor:
    """``bn(conv(x))`` as one convolution with the affine map folded into weight and bias."""
    weight, bias = folded_weight_bias(conv, bn)
    return module_conv2d(conv, x, weight, bias)


def _block(block: nn.Module, x: Tensor) -> Tensor:
    """torchvision's ``Bottleneck.forward`` / ``BasicBlock.forward`` with folded norms."""
    out = conv_frozen_bn(x, block.conv1, block.bn1).relu_()
    if isinstance(block, Bottleneck):
        out = conv_frozen_bn(out, block.conv2, block.bn2).relu_()
        out = conv_frozen_bn(out, block.conv3, block.bn3)
    else:
        out = conv_frozen_bn(out, block.conv2, block.bn2)
    identity = x
    if block.downsample is not None:
        identity = conv_frozen_bn(x, block.downsample[0], block.downsample[1])
    return out.add_(identity).relu_()


def foldable(body: nn.Sequential) -> bool:
    """Whether ``body`` is a torchvision ResNet prefix (stem + ``layerK`` stages of
    ``Bottleneck`` / ``BasicBlock``) whose every norm is a ``FrozenBatchNorm2d``."""
    names = list(body._modules)
    if tuple(names[:4]) != STEM or not all(n.startswith("layer") for n in names[4:]):
        return False
    if not isinstance(body.conv1, nn.Conv2d) or type(body.bn1) is not FrozenBatchNorm2d:
        return False
    for name in names[4:]:
        for block in getattr(body, name):
            if type(block) not in (Bottleneck, BasicBlock):
                return False
            norms = [block.bn1, block.bn2, *([block.bn3] if isinstance(block, Bottleneck) else [])]
            if block.downsample is not None:
                if len(block.downsample) != 2:
                    return False
                norms.append(block.downsample[1])
            if any(type(m) is not FrozenBatchNorm2d for m in norms):
                return False
    return True


def folded_forward(body: nn.Sequential, x: Tensor) -> Tensor:
    """``body(x)`` for a ``foldable`` body, with every frozen norm folded into its conv."""
    x = body.maxpool(conv_frozen_bn(x, body.conv1, body.bn1).relu_())
    for name in list(body._modules)[4:]:
        for block in getattr(body, name):
            x = _block(block, x)
    return x
