"""A Gaussian spatial prior for the instance decoder: each query looks near its own centre.

Plain DETR cross-attention starts almost uniform over the memory and takes very long to focus
when nothing is pretrained (the synthetic recipes train every weight from scratch on CPU). This
module gives every decoder query ``q`` a learned reference centre ``c_q`` in normalised image
coordinates and a learned width ``sigma_q``, adds

    b_q(n) = -||p_n - c_q||^2 / (2 sigma_q^2)

to the cross-attention logits of every decoder layer (SMCA, Gao et al., "Fast Convergence of
DETR with Spatially Modulated Co-Attention", ICCV 2021, eq. 4-5, simplified to one learned
centre and width per query instead of ones predicted from the query), and predicts boxes as
offsets from the centre, ``sigmoid(MLP(x) + [logit(c_q), 0, 0])`` (the reference-point
parameterisation of Deformable DETR, Zhu et al., ICLR 2021, Sec. 4.1). ``p_n`` is the centre of
memory cell ``n`` normalised by the image's unpadded feature size, like the boxes.

It is not part of HOICLIP or GEN-VLKT: ``model.detector.spatial_prior`` is off in their
recipes (and in converted checkpoints) and on in the synthetic ones.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SpatialPrior(nn.Module):
    """Learned centres and widths of ``num_queries`` queries (see the module docstring).

    Args:
        num_queries: decoder queries (GEN-VLKT's paired decoder: ``2Q``, humans then objects;
            each human query and its object query start at the same centre).
        sigma: initial width, as a fraction of the image side.
        paired: initialise query ``i`` and ``i + num_queries // 2`` at the same centre; the
            centres start on a regular grid covering the image.
        learn_centres: False when the centres come from elsewhere (``query_selection``):
            only the widths are parameters then.
    """

    def __init__(self, num_queries: int, sigma: float = 0.12, paired: bool = True,
                 learn_centres: bool = True) -> None:
        super().__init__()
        self.log_sigma = nn.Parameter(torch.full((num_queries,), math.log(sigma)))
        self.centre_logits: nn.Parameter | None = None
        if not learn_centres:
            return
        n = num_queries // 2 if paired else num_queries
        side = math.ceil(math.sqrt(n))
        grid = (torch.arange(side * side) % side, torch.arange(side * side) // side)
        centres = (torch.stack(grid, -1).float()[:n] + 0.5) / side  # [n, 2] (x, y)
        if paired:
            centres = torch.cat([centres, centres])
        self.centre_logits = nn.Parameter(torch.log(centres / (1 - centres)))  # [N_q, 2]

    def centres(self) -> Tensor:
        """``[N_q, 2]`` centres (x, y) in [0, 1]."""
        if self.centre_logits is None:
            raise ValueError("this spatial prior has no learned centres (query selection)")
        return self.centre_logits.sigmoid()

    def attention_bias(self, padding_mask: Tensor, feature_size: tuple[int, int],
                       num_heads: int) -> Tensor:
        """``[B * heads, N_q, h * w]`` additive cross-attention bias of the learned centres and
        widths; padding at -inf.

        Args:
            padding_mask: ``[B, h * w]`` True on padded memory cells.
            feature_size: ``(h, w)`` of the memory grid.
            num_heads: attention heads (the bias is the same for every head).
        """
        batch = padding_mask.shape[0]
        centres = self.centres()[None].expand(batch, -1, -1)  # [B, N_q, 2]
        sigmas = self.log_sigma.exp()[None, :, None].expand(batch, -1, 2)  # [B, N_q, 2]
        return gaussian_bias(centres, sigmas, padding_mask, feature_size, num_heads)

    @staticmethod
    def box_attention_bias(boxes_cxcywh: Tensor, padding_mask: Tensor,
                           feature_size: tuple[int, int], num_heads: int) -> Tensor:
        """``[B * heads, N_q, h * w]`` bias of a Gaussian on each box: centred on it, standard
        deviation half its width / height (at least one memory cell). Used by the layers after
        the first with ``box_refine`` (SMCA eq. 4 with the scale taken from the box).

        Args:
            boxes_cxcywh: ``[B, N_q, 4]`` normalised boxes (the previous layer's, detached).
        """
        h, w = feature_size
        cell = boxes_cxcywh.new_tensor([1.0 / w, 1.0 / h])
        sigmas = torch.maximum(boxes_cxcywh[..., 2:] / 2, cell)  # [B, N_q, 2]
        return gaussian_bias(boxes_cxcywh[..., :2], sigmas, padding_mask, feature_size,
                             num_heads)

    def box_offsets(self) -> Tensor:
        """``[N_q, 4]`` logits added to the box head's (cx, cy, w, h) output."""
        logits = torch.logit(self.centres())
        return torch.cat([logits, torch.zeros_like(logits)], -1)


def unpadded_size(valid: Tensor) -> tuple[Tensor, Tensor]:
    """``(width, height)``, each ``[B]`` float, of the unpadded part of a ``[B, h, w]`` grid
    (``valid`` True there; padding is at the right and bottom), at least 1: the units in which
    normalised boxes and cell centres are measured."""
    return (valid[:, 0, :].sum(1).clamp(min=1).float(),
            valid[:, :, 0].sum(1).clamp(min=1).float())


def gaussian_bias(centres: Tensor, sigmas: Tensor, padding_mask: Tensor,
                  feature_size: tuple[int, int], num_heads: int) -> Tensor:
    """``[B * heads, N_q, h * w]``: ``-(dx^2 / 2 sx^2 + dy^2 / 2 sy^2)`` from every memory cell
    centre to every query's centre; padding at -inf.

    Args:
        centres: ``[B, N_q, 2]`` (x, y) in [0, 1] of the unpadded image.
        sigmas: ``[B, N_q, 2]`` standard deviations along x and y, same units.
        padding_mask: ``[B, h * w]`` True on padded memory cells.
        feature_size: ``(h, w)`` of the memory grid.
        num_heads: attention heads (the bias is the same for every head).
    """
    h, w = feature_size
    mask = padding_mask.view(-1, h, w)
    valid_w, valid_h = unpadded_size(~mask)  # [B] each
    ys = (torch.arange(h, device=mask.device) + 0.5)[None] / valid_h[:, None]  # [B, h]
    xs = (torch.arange(w, device=mask.device) + 0.5)[None] / valid_w[:, None]  # [B, w]
    dx = xs[:, None, None, :] - centres[:, :, 0, None, None]  # [B, N_q, 1, w]
    dy = ys[:, None, :, None] - centres[:, :, 1, None, None]  # [B, N_q, h, 1]
    two_var = 2 * sigmas.pow(2)  # [B, N_q, 2]
    bias = -(dx.pow(2) / two_var[..., 0, None, None]
             + dy.pow(2) / two_var[..., 1, None, None]).flatten(2)  # [B, N_q, h * w]
    bias = bias.masked_fill(padding_mask[:, None, :], float("-inf"))
    return bias.repeat_interleave(num_heads, dim=0)
