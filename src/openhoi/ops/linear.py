"""Linear layers whose CPU float32 products run in oneDNN's matmul instead of the BLAS.

On the CPU, ``torch.nn.functional.linear`` in float32 calls the BLAS PyTorch was built with
(MKL in the official wheels). On AMD CPUs MKL does not run its best kernels: on a 2-core AMD
EPYC it reaches 120-150 GFLOP/s on the products of a transformer with 64-640 tokens (CLIP's
ViT-B/32 on 2 x 50 tokens, DETR's encoder on 320 tokens a 512x640 image), where oneDNN's
matmul (``torch.ops.mkldnn._linear_pointwise``, the kernel ``torch.compile`` uses for CPU
linears) reaches 190-220 GFLOP/s on the same shapes (``benchmarks/bench_train.py``). It is the
same float32 arithmetic (no reduced-precision mode), summed in another order: results agree
to float rounding.

:func:`linear` is ``F.linear`` that takes this path for float32 CPU tensors outside autocast
(bfloat16 autocast already goes to oneDNN), with its own backward (the input gradient another
oneDNN product, the weight gradient a BLAS product, which reads the transposed gradient in place
where oneDNN would copy it, the bias gradient a sum); any other device, dtype,
autocast, ``torch.compile`` tracing, or a PyTorch built without oneDNN falls back to
``F.linear``. :class:`Linear` is ``nn.Linear`` through it; :func:`use_onednn_linear` turns every
``nn.Linear`` of a model into one (and back), keeping parameters, buffers and state-dict keys.

oneDNN builds a kernel per product shape and caches it (1,024 shapes by default): the first
call of a new shape costs 0.3-2 ms more, which training with a new image size per batch pays
on the encoder's products until its shapes are cached.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable


def onednn_available() -> bool:
    """Whether this PyTorch has oneDNN's CPU matmul (``torch.ops.mkldnn._linear_pointwise``)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn,
                                                             "_linear_pointwise")


_AVAILABLE = onednn_available()


def _matmul_t(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` in oneDNN (any strides; the bias made contiguous, which the
    kernel assumes)."""
    if bias is not None and not bias.is_contiguous():
        bias = bias.contiguous()
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


class _OneDNNLinear(torch.autograd.Function):
    """``x @ W.T + b`` forward and backward in oneDNN; saves what ``F.linear`` saves."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:  # noqa: ANN001
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _matmul_t(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # noqa: ANN001
        x, weight = ctx.saved_tensors
        out_features, in_features = weight.shape
        grad_2d = grad.reshape(-1, out_features)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:  # grad @ W = grad @ (W.T).T
            grad_x = _matmul_t(grad_2d, weight.t()).view(x.shape)
        if ctx.needs_input_grad[1]:  # grad.T @ x: the BLAS takes the transpose as it is,
            # oneDNN would copy it first; on these shapes the two kernels run alike
            grad_w = torch.mm(grad_2d.t(), x.reshape(-1, in_features))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_2d.sum(0)
        return grad_x, grad_w, grad_b


def takes_onednn(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> bool:
    """Whether :func:`linear` computes ``x @ weight.T + bias`` in oneDNN."""
    return (_AVAILABLE and x.device.type == "cpu" and x.dtype == torch.float32
            and weight.dtype == torch.float32 and weight.device.type == "cpu"
            and (bias is None or bias.dtype == torch.float32)
            and x.dim() >= 2 and x.numel() > 0 and weight.numel() > 0
            and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling())


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear(x, weight, bias)``, in oneDNN for float32 CPU tensors (module docstring)."""
    if not takes_onednn(x, weight, bias):
        return F.linear(x, weight, bias)
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        return _OneDNNLinear.apply(x, weight, bias)
    return _matmul_t(x, weight, bias)


class Linear(nn.Linear):
    """``nn.Linear`` (same arguments, parameters and state) whose forward is :func:`linear`."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)


def use_onednn_linear(model: nn.Module, enabled: bool = True) -> int:
    """Turn every plain ``nn.Linear`` of ``model`` into a :class:`Linear` (``enabled``) or every
    :class:`Linear` back into ``nn.Linear``, in place: the same module objects, parameters and
    hooks, only the forward changes; modules with an ``onednn_linear`` switch of their own
    (``openhoi.models.detr.attention.MultiheadAttention``) get it set. Returns how many modules
    it changed."""
    source, target = (nn.Linear, Linear) if enabled else (Linear, nn.Linear)
    count = 0
    for module in model.modules():
        if type(module) is source:
            module.__class__ = target
            count += 1
        elif hasattr(module, "onednn_linear") and module.onednn_linear != enabled:
            module.onednn_linear = enabled
            count += 1
    return count
