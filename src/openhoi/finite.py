"""Refusing weights that hold NaN or inf: a diverged run's checkpoint predicts nothing (every
score is NaN, so every triplet is filtered out), which reads as "no interaction found"."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from openhoi.errors import CheckpointError


def check_finite_weights(state: Mapping[str, Tensor], where: str) -> None:
    """Raise when a floating-point tensor of ``state`` holds NaN or inf.

    Raises:
        CheckpointError: names the file, how many tensors are affected and the first of them,
            and what to use instead.
    """
    bad = [k for k, v in state.items()
           if isinstance(v, Tensor) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(
            f"{where}: {len(bad)} of {len(state)} weight tensors hold NaN or inf (first: "
            f"{bad[0]}), so every score would be NaN: the run that wrote it diverged. Use an "
            "earlier checkpoint (the run's checkpoints/best.pt, or a last.pt from before the "
            "divergence)")
