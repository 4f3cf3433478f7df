"""3x3 convolutions by Winograd's minimal filtering F(2x2, 3x3) on the CPU.

A 3x3 convolution with stride 1 computes, for every 2x2 block of output pixels, 36 products per
input and output channel pair. Winograd's algorithm (Lavin & Gray, "Fast Algorithms for
Convolutional Neural Networks", CVPR 2016) computes the same block from 16: the 4x4 input tile
``d`` and the 3x3 filter ``g`` are transformed (``V = B^T d B``, ``U = G g G^T``), multiplied
element by element and summed over input channels (16 independent matrix products,
``M = V @ U``), and transformed back (``Y = A^T M A``). The matrix products hold 2.25x fewer
FLOPs than the direct convolution; the transforms are additions (the matrices' entries are 0,
+-1 and +-1/2, exact in binary floating point), so results agree with the direct convolution to
float rounding (about 3e-6 of the output's largest value in float32, ``tests/ops``). cuDNN picks
this algorithm for such convolutions on GPUs; PyTorch's CPU convolution (oneDNN) only runs the
direct one.

On a 2-core AMD EPYC the direct convolution already runs at the CPU's float32 peak (~225
GFLOP/s), and the 16 products of the Winograd form run at 150-185 GFLOP/s, so it pays only
where the transforms are small beside the products: with 256 channels or more (ResNet's
``layer3`` and ``layer4``), where forward and backward together take 1.3-1.5x less time
(``benchmarks/bench_conv.py``); with 128 channels it breaks even, with 64 it loses.
``openhoi.ops.conv.winograd_applies`` says where ``openhoi.ops.conv.conv2d`` takes it:
float32 CPU tensors outside autocast and compilation, 3x3 kernels with stride 1, padding 1,
dilation 1, one group and at least ``min_channels`` input and output channels. Its backward
is its own
(the adjoint transforms and two products of the same reduced size); the input is saved and
transformed again in the backward pass, the filters' transform is kept (16 / 9 of the
weights). Outputs and input gradients come back channels-last (the layout oneDNN gives a
channels-last input).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

MIN_CHANNELS = 256
"""The fewest input and output channels for which ``openhoi.ops.conv`` takes the Winograd path
(measured on a 2-core AMD EPYC, forward and backward: 256 channels 1.3x faster, 128 even,
64 slower)."""

# G (4x3) of F(2x2, 3x3), as kron(G, G): row 4 * a + b maps the filter's 9 taps to U[a, b].
_G = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
_GG = torch.kron(_G, _G)  # [16, 9]

def filter_transform(weight: Tensor) -> Tensor:
    """``U = G g G^T`` of every filter: ``[K, C, 3, 3]`` -> ``[16, K, C]`` (a view of a
    ``[K, 16, C]`` tensor: one batched product over the 9 taps, which a channels-last weight
    holds as ``[K, 9, C]`` without a copy)."""
    k, c = weight.shape[:2]
    taps = weight.permute(0, 2, 3, 1).reshape(k, 9, c)
    return torch.matmul(_GG.to(weight.dtype), taps).permute(1, 0, 2)


def _filter_transform_adjoint(du: Tensor, channels_last: bool) -> Tensor:
    """The adjoint of :func:`filter_transform`: ``[K, 16, C]`` -> ``[K, C, 3, 3]``,
    channels-last or contiguous."""
    k, _, c = du.shape
    taps = torch.matmul(_GG.to(du.dtype).t(), du).view(k, 3, 3, c).permute(0, 3, 1, 2)
    return taps if channels_last else taps.contiguous()


def _input_transform(x: Tensor) -> Tensor:
    """``V = B^T d B`` of every 4x4 tile (stride 2) of ``x`` (``[N, H, W, C]``, any strides)
    padded by one: ``[4, 4, N, tH, tW, C]`` with ``tH, tW = ceil(H / 2), ceil(W / 2)``."""
    n, h, w, c = x.shape
    th, tw = (h + 1) // 2, (w + 1) // 2
    xp = x.new_empty(n, 2 * th + 2, 2 * tw + 2, c)
    xp[:, 0].zero_()  # the border (one pixel, and the row and column of an odd size) only
    xp[:, h + 1:].zero_()
    xp[:, 1:h + 1, 0].zero_()
    xp[:, 1:h + 1, w + 1:].zero_()
    xp[:, 1:h + 1, 1:w + 1] = x
    r = [xp[:, k:k + 2 * th:2] for k in range(4)]
    rows = x.new_empty(4, n, th, 2 * tw + 2, c)
    torch.sub(r[0], r[2], out=rows[0])
    torch.add(r[1], r[2], out=rows[1])
    torch.sub(r[2], r[1], out=rows[2])
    torch.sub(r[1], r[3], out=rows[3])
    v = x.new_empty(4, 4, n, th, tw, c)
    for i in range(4):
        q = [rows[i][:, :, k:k + 2 * tw:2] for k in range(4)]
        torch.sub(q[0], q[2], out=v[i, 0])
        torch.add(q[1], q[2], out=v[i, 1])
        torch.sub(q[2], q[1], out=v[i, 2])
        torch.sub(q[1], q[3], out=v[i, 3])
    return v


def _input_transform_adjoint(dv: Tensor, h: int, w: int) -> Tensor:
    """The adjoint of :func:`_input_transform`: ``[4, 4, N, tH, tW, C]`` -> ``[N, C, H, W]``
    channels-last (overlapping tiles add up, the padding is dropped)."""
    _, _, n, th, tw, c = dv.shape

    def spread(d: list[Tensor], out: Tensor, axis: int) -> None:
        # out (tiles + 1 along axis, 2 phases): even positions 2j get d0[j] and
        # (d1 + d2 - d0)[j - 1], odd ones 2j + 1 get (d1 - d2 + d3)[j] and -d3[j - 1].
        even, odd = out.select(axis + 1, 0), out.select(axis + 1, 1)
        tiles = d[0].shape[axis]
        head, tail = slice(0, tiles), slice(1, tiles + 1)
        idx = [slice(None)] * axis
        even[(*idx, head)].copy_(d[0])
        even[(*idx, tiles)].zero_()
        q = d[1] + d[2]
        even[(*idx, tail)].add_(q.sub_(d[0]))
        torch.sub(d[1], d[2], out=q)
        torch.add(q, d[3], out=odd[(*idx, head)])
        odd[(*idx, tiles)].zero_()
        odd[(*idx, tail)].sub_(d[3])

    rows = dv.new_empty(4, n, th, tw + 1, 2, c)
    for i in range(4):
        spread([dv[i, j] for j in range(4)], rows[i], 2)
    rows = rows.view(4, n, th, 2 * tw + 2, c)
    xp = dv.new_empty(n, th + 1, 2, 2 * tw + 2, c)
    spread([rows[i] for i in range(4)], xp, 1)
    dx = torch.empty(n, c, h, w, dtype=dv.dtype, memory_format=torch.channels_last)
    dx.permute(0, 2, 3, 1).copy_(xp.view(n, 2 * th + 2, 2 * tw + 2, c)[:, 1:h + 1, 1:w + 1])
    return dx


def _output_transform(m: Tensor, h: int, w: int) -> Tensor:
    """``Y = A^T M A`` of every tile: ``[4, 4, N, tH, tW, K]`` -> ``[N, K, H, W]``
    (channels-last)."""
    _, _, n, th, tw, k = m.shape
    whole = (h, w) == (2 * th, 2 * tw)
    out = torch.empty(n, k, 2 * th, 2 * tw, dtype=m.dtype, memory_format=torch.channels_last)
    y = out.permute(0, 2, 3, 1).view(n, th, 2, tw, 2, k)
    s = m.new_empty(2, 4, n, th, tw, k)
    torch.add(m[0], m[1], out=s[0]).add_(m[2])
    torch.sub(m[1], m[2], out=s[1]).sub_(m[3])
    for a in range(2):
        torch.add(s[a, 0], s[a, 1], out=y[:, :, a, :, 0]).add_(s[a, 2])
        torch.sub(s[a, 1], s[a, 2], out=y[:, :, a, :, 1]).sub_(s[a, 3])
    return out if whole else out[:, :, :h, :w].contiguous(memory_format=torch.channels_last)


def _output_transform_adjoint(dy: Tensor) -> Tensor:
    """The adjoint of :func:`_output_transform`: ``[N, H, W, K]`` (any strides) ->
    ``[4, 4, N, tH, tW, K]``."""
    n, h, w, k = dy.shape
    th, tw = (h + 1) // 2, (w + 1) // 2
    if (h, w) != (2 * th, 2 * tw):
        padded = dy.new_zeros(n, 2 * th, 2 * tw, k)
        padded[:, :h, :w] = dy
        dy = padded
    d = [[dy[:, a::2, b::2] for b in range(2)] for a in range(2)]  # d[a][b]: [N, tH, tW, K]
    dm = dy.new_empty(4, 4, n, th, tw, k)
    e = dy.new_empty(2, 2, n, th, tw, k)  # rows 1 (d0 + d1) and 2 (d0 - d1) of A d
    for b in range(2):
        torch.add(d[0][b], d[1][b], out=e[0, b])
        torch.sub(d[0][b], d[1][b], out=e[1, b])
    pairs = [(d[0][0], d[0][1]), (e[0, 0], e[0, 1]), (e[1, 0], e[1, 1])]
    for r, (e0, e1) in enumerate(pairs):
        dm[r, 0].copy_(e0)
        torch.add(e0, e1, out=dm[r, 1])
        torch.sub(e0, e1, out=dm[r, 2])
        torch.neg(e1, out=dm[r, 3])
    e0, e1 = d[1][0], d[1][1]  # row 3 is -d1
    torch.neg(e0, out=dm[3, 0])
    torch.add(e0, e1, out=dm[3, 1]).neg_()
    torch.sub(e1, e0, out=dm[3, 2])
    dm[3, 3].copy_(e1)
    return dm


def _forward(x: Tensor, u: Tensor, bias: Tensor | None) -> Tensor:
    _, _, h, w = x.shape
    v = _input_transform(x.permute(0, 2, 3, 1))
    shape = v.shape
    m = torch.bmm(v.view(16, -1, shape[-1]), u.transpose(1, 2))  # [16, P, K]
    if bias is not None:
        m[5].add_(bias)  # M[1, 1] reaches every output pixel of its tile once
    return _output_transform(m.view(*shape[:-1], u.shape[1]), h, w)


class _Winograd(torch.autograd.Function):
    """``conv2d(x, W, b, padding=1)`` by F(2x2, 3x3); saves ``x`` (as the direct convolution
    does; its transform is redone in the backward pass) and ``U`` (16 / 9 of the weight's
    size)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:  # noqa: ANN001
        u = filter_transform(weight)
        ctx.save_for_backward(x, u)
        ctx.has_bias = bias is not None
        ctx.weight_channels_last = (weight.is_contiguous(memory_format=torch.channels_last)
                                    and not weight.is_contiguous())
        return _forward(x, u, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:  # noqa: ANN001
        x, u = ctx.saved_tensors
        _, c, h, w = x.shape
        dm = _output_transform_adjoint(grad.permute(0, 2, 3, 1))
        shape = dm.shape
        dm = dm.view(16, -1, shape[-1])  # [16, P, K]
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dv = torch.bmm(dm, u)  # [16, P, C]
            dx = _input_transform_adjoint(dv.view(*shape[:-1], c), h, w)
        if ctx.needs_input_grad[1]:
            v = _input_transform(x.permute(0, 2, 3, 1))
            du = v.new_empty(u.shape[1], 16, c)  # [K, 16, C], as filter_transform's
            torch.bmm(dm.transpose(1, 2), v.view(16, -1, c), out=du.permute(1, 0, 2))
            dw = _filter_transform_adjoint(du, ctx.weight_channels_last)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = dm[5].sum(0)
        return dx, dw, db


def winograd_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.conv2d(x, weight, bias, padding=1)`` for a 3x3 ``weight`` by F(2x2, 3x3), any
    floating dtype and channel count (the caller checks that it pays: ``openhoi.ops.conv``)."""
    if weight.dim() != 4 or tuple(weight.shape[2:]) != (3, 3) or x.dim() != 4 \
            or x.shape[1] != weight.shape[1]:
        raise ValueError(f"winograd_conv2d: a [K, {x.shape[1] if x.dim() > 1 else '?'}, 3, 3]"
                         f" weight for a [N, C, H, W] input expected, got {list(weight.shape)}"
                         f" for {list(x.shape)}")
    return _Winograd.apply(x, weight, bias)
