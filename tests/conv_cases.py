"""Seeded inputs of a 3x3 convolution for the kernel tests (``tests/ops/test_winograd.py``,
``tests/ops/test_strided_conv.py``)."""

from __future__ import annotations

import torch


def conv_inputs(n: int, c: int, k: int, h: int, w: int, dtype: torch.dtype = torch.float64,
                channels_last: bool = False, needs: tuple[bool, bool, bool] = (True, True, True)
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Input ``[n, c, h, w]``, weight ``[k, c, 3, 3]`` and bias ``[k]``, seeded by the shape;
    ``needs``: which of the three require gradients."""
    g = torch.Generator().manual_seed(n * 1000 + c * 100 + k * 10 + h + w)
    x = torch.randn(n, c, h, w, generator=g, dtype=dtype)
    weight = torch.randn(k, c, 3, 3, generator=g, dtype=dtype)
    bias = torch.randn(k, generator=g, dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        weight = weight.contiguous(memory_format=torch.channels_last)
    return tuple(t.requires_grad_(r) for t, r in zip((x, weight, bias), needs, strict=True))
