"""Prediction heads of the instance detector: box MLPs and the object classifier."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them (DETR's ``MLP``, the box head)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int) -> None:
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class TextObjectClassifier(nn.Module):
    """Object classifier initialised from CLIP text embeddings (GEN-VLKT eq. 2, HOICLIP Sec. 3).

    ``logits = exp(s) * W_text(normalize(LN(W_fc x)))``: query features are projected to the
    text space (``nn.Linear`` + ``nn.LayerNorm``), L2-normalised, and classified by a linear
    layer whose weight starts as the L2-normalised text embeddings of the object names plus a
    no-object row, scaled by a learnable ``exp(s)``. This is HOICLIP/GEN-VLKT's
    ``obj_class_fc`` -> normalise -> ``obj_visual_projection`` * ``obj_logit_scale.exp()``
    (``models/models_hoiclip/hoiclip.py``); the bias, when present, is scaled too.

    Args:
        in_dim: query feature width ``D``.
        text_embeds: ``[O + 1, E]`` text embeddings, last row = no-object; normalised here.
        bias: learnable bias in the text projection (the recipe's, ``fix_clip_label`` off).
        logit_scale_init: initial ``s`` (``log(1 / 0.07)``).
    """

    def __init__(self, in_dim: int, text_embeds: Tensor, bias: bool = True,
                 logit_scale_init: float = math.log(1 / 0.07)) -> None:
        super().__init__()
        num_classes, embed_dim = text_embeds.shape
        self.proj = nn.Linear(in_dim, embed_dim)
        self.norm = nn.LayerNorm(embed_dim)
        self.classifier = nn.Linear(embed_dim, num_classes, bias=bias)
        with torch.no_grad():
            weight = text_embeds.float()
            self.classifier.weight.copy_(weight / weight.norm(dim=-1, keepdim=True))
        self.logit_scale = nn.Parameter(torch.tensor(float(logit_scale_init)))

    def forward(self, x: Tensor) -> Tensor:
        """``[..., D]`` -> ``[..., O + 1]`` logits."""
        x = self.norm(self.proj(x))  # [..., E]
        x = x / x.norm(dim=-1, keepdim=True)
        return self.logit_scale.exp() * self.classifier(x)


class LinearObjectClassifier(nn.Module):
    """DETR's plain ``nn.Linear(D, O + 1)`` object classifier (``with_obj_clip_label`` off)."""

    def __init__(self, in_dim: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(x)
