"""Sine position encoding of a padded feature map (DETR ``PositionEmbeddingSine``)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SinePositionEncoding(nn.Module):
    """2-D sine/cosine encoding of the unpadded pixel coordinates (Vaswani et al. generalised).

    Coordinates are cumulative counts of non-padding cells, so padding does not shift them;
    with ``normalize`` they are divided by the image's extent and multiplied by ``scale``. The
    output concatenates ``num_pos_feats`` y-features and ``num_pos_feats`` x-features, each
    interleaving sin (even) and cos (odd) of ``coord / temperature^(2 floor(k/2) / F)``.
    DETR builds it with ``num_pos_feats = hidden_dim // 2, normalize=True``.
    """

    def __init__(self, num_pos_feats: int = 128, temperature: float = 10000.0,
                 normalize: bool = True, scale: float = 2 * math.pi) -> None:
        super().__init__()
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = scale

    def forward(self, mask: Tensor) -> Tensor:
        """``[B, h, w]`` bool padding mask -> ``[B, 2 * num_pos_feats, h, w]`` float32."""
        not_mask = ~mask
        y_embed = not_mask.cumsum(1, dtype=torch.float32)  # [B, h, w]
        x_embed = not_mask.cumsum(2, dtype=torch.float32)
        if self.normalize:
            eps = 1e-6
            y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
            x_embed = x_embed / (x_embed[:, :, -1:] + eps) * self.scale
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=mask.device)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor")
                                     / self.num_pos_feats)  # [F]
        pos_x = x_embed[:, :, :, None] / dim_t  # [B, h, w, F]
        pos_y = y_embed[:, :, :, None] / dim_t
        pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)  # [B, 2F, h, w]
