"""ResNet feature extractor with frozen BatchNorm, DETR's ``Backbone`` (``models/backbone.py``).

The network is torchvision's ResNet built without weights (``weights=None``): weights come only
from a checkpoint the user names (``openhoi.models.detr.detr_checkpoint``). Only the last stage's
feature map is returned (stride 32, or 16 with ``dilation``), with the padding mask resized to it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torchvision.ops.misc import FrozenBatchNorm2d

from openhoi.models.detr.folded_resnet import foldable, folded_forward

RESNETS: dict[str, Callable[..., torchvision.models.ResNet]] = {
    "resnet18": torchvision.models.resnet18,
    "resnet34": torchvision.models.resnet34,
    "resnet50": torchvision.models.resnet50,
    "resnet101": torchvision.models.resnet101,
}


NORMS: dict[str, type[nn.Module]] = {"frozen_bn": FrozenBatchNorm2d, "bn": nn.BatchNorm2d}


class Backbone(nn.Module):
    """ResNet up to ``layer4`` (or ``layer3``) with DETR's ``FrozenBatchNorm2d`` (eps 1e-5) or,
    for training from scratch, trainable ``BatchNorm2d``.

    Args:
        name: one of ``RESNETS``.
        dilation: replace the stride of ``layer4`` with dilation (DETR-DC5).
        train_backbone: if True, the stages after ``frozen_stages`` are trainable (DETR's rule
            for ``lr_backbone > 0``: stem + ``layer1`` frozen); if False everything is frozen.
        channels_last: keep weights and activations channels-last (the layout oneDNN and
            cuDNN's tensor cores compute convolutions in, without per-layer reorders).
        norm: ``frozen_bn`` or ``bn`` (see ``NORMS``).
        frozen_stages: 1 = stem and ``layer1`` frozen, 0 = nothing frozen.
        return_layer: ``layer4`` (stride 32), ``layer3`` (stride 16) or ``layer2`` (stride 8);
            the later stages are dropped.

    Attributes:
        body: ``conv1, bn1, relu, maxpool, layer1 ..`` (the names of torchvision's ResNet, so
            DETR's ``backbone.0.body.*`` keys map one-to-one).
        num_channels: channels of the returned feature map (512 or 2048 for ``layer4``).
    """

    def __init__(self, name: str, dilation: bool = False, train_backbone: bool = True,
                 channels_last: bool = False, norm: str = "frozen_bn", frozen_stages: int = 1,
                 return_layer: str = "layer4") -> None:
        super().__init__()
        self.channels_last = channels_last
        if name not in RESNETS:
            raise ValueError(f"unknown backbone {name!r}; choose from {sorted(RESNETS)}")
        resnet = RESNETS[name](weights=None, norm_layer=NORMS[norm],
                               replace_stride_with_dilation=[False, False, dilation])
        names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
        names = names[: names.index(return_layer) + 1]
        self.body = nn.Sequential(OrderedDict((n, getattr(resnet, n)) for n in names))
        last = getattr(resnet, return_layer)[-1]  # BasicBlock ends in conv2, Bottleneck conv3
        self.num_channels = int(getattr(last, "conv3", last.conv2).out_channels)
        frozen = ("conv1", "bn1", "layer1")[: 3 * frozen_stages]
        for pname, param in self.body.named_parameters():
            param.requires_grad_(train_backbone and pname.split(".")[0] not in frozen)
        if channels_last:
            self.body.to(memory_format=torch.channels_last)

    def forward(self, images: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Features of a padded batch.

        Args:
            images: ``[B, 3, H, W]`` normalized images.
            mask: ``[B, H, W]`` bool, True on padding.

        Returns:
            ``[B, C, h, w]`` features and their ``[B, h, w]`` bool padding mask (nearest
            resize, as DETR's ``BackboneBase.forward``).
        """
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if foldable(self.body):  # frozen norms folded into the convs (folded_resnet.py)
            features = folded_forward(self.body, images)  # [B, C, h, w]
        else:
            features = self.body(images)
        small = F.interpolate(mask[None].float(), size=features.shape[-2:]).to(torch.bool)[0]
        return features, small
