"""Human-object pairs of detected instances (two-stage methods: SCG, UPT, EZ-HOI, DEFR's
detection): every human with every other instance. Union boxes: ``ops.boxes.union_boxes``."""

from __future__ import annotations

import torch
from torch import Tensor


def enumerate_pairs(labels: Tensor, human_label: int) -> tuple[Tensor, Tensor]:
    """(human, instance) index pairs: every human with every *other* instance, humans
    included (UPT: ``x != y`` and ``x < n_h`` over instances ordered humans first).
    Returns ``h_idx [P]`` and ``o_idx [P]``; empty without a human or with one instance."""
    n = len(labels)
    n_h = int((labels == human_label).sum())
    if n_h == 0 or n <= 1:
        empty = torch.zeros(0, dtype=torch.int64, device=labels.device)
        return empty, empty
    x, y = torch.meshgrid(torch.arange(n, device=labels.device),
                          torch.arange(n, device=labels.device), indexing="ij")
    return torch.nonzero((x != y) & (x < n_h)).unbind(1)

