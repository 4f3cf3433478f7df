"""Keep a CLIP tower's residual stream in its weights' dtype under autocast.

Under ``torch.autocast("cpu", bfloat16)`` the patch embedding (a convolution) returns bfloat16,
so open_clip's transformer blocks receive a bfloat16 residual stream. Each block's
``nn.MultiheadAttention(batch_first=True)`` transposes its ``[B, L, W]`` input to ``[L, B, W]``
(a non-contiguous view when B > 1) and projects it with ``F.linear``. For a bfloat16,
non-contiguous 3-D input PyTorch's CPU ``matmul`` cannot fold the batch into one matrix
product: it runs ``bmm`` against the weight expanded to ``[L, W, 3W]`` and materialises that
expansion, L copies of the weight per block. On ViT-B/32 with two images (L = 50) that made
CLIP's image tower 11x slower in bfloat16 than in float32 (2.9 s instead of 0.25 s, AMD EPYC,
one thread; ``benchmarks/bench_train.py`` shows it as a bf16 training step no faster than
fp32). A float32 input is cast by autocast itself, which yields a foldable tensor, and the fast
path is taken.

``keep_residual_dtype(model)`` gives every transformer block of ``model`` a forward pre-hook
that casts its input to the block's parameter dtype (float32 unless the tower was converted to
a low precision, which then stays as it is). The matrix products still run in bfloat16 under
autocast; only the residual additions stay in float32, as in mixed-precision training
generally. Outside autocast the hook is a no-op (the input already has that dtype).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn


def _cast_to_parameters(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """Forward pre-hook: the first positional input in ``module``'s parameter dtype."""
    if not args or not isinstance(args[0], Tensor) or not args[0].is_floating_point():
        return None
    dtype = next(module.parameters()).dtype
    if args[0].dtype == dtype:
        return None
    return (args[0].to(dtype), *args[1:])


def _is_block(module: nn.Module) -> bool:
    """open_clip's ``ResidualAttentionBlock`` (and its kin): attention + MLP with pre-norms."""
    return (isinstance(getattr(module, "attn", None), nn.Module)
            and hasattr(module, "ln_1") and hasattr(module, "mlp"))


def keep_residual_dtype(model: nn.Module) -> nn.Module:
    """Register ``_cast_to_parameters`` on every transformer block of ``model``; returns it.

    Idempotent: a block that already has the hook gets no second one.
    """
    for module in model.modules():
        if _is_block(module) and not getattr(module, "_openhoi_residual_dtype", False):
            module.register_forward_pre_hook(_cast_to_parameters)
            module._openhoi_residual_dtype = True
    return model
