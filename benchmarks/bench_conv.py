"""openhoi's CPU convolution kernels against oneDNN's (``openhoi.ops.conv``), per shape.

ResNet-50's 3x3 convolutions as a HOICLIP training batch of two images meets them
(channels-last, float32, a frozen-norm bias), both ways in turns (A B A B ...) so that a
drifting machine hits both alike:

* stride 1, Winograd's F(2x2, 3x3) (``openhoi.ops.winograd``): forward alone (inference) and
  forward + backward (training: the input, weight and bias gradients). FLOP/s are the direct
  convolution's FLOPs over the time (Winograd's products hold 2.25x fewer: its "effective"
  rate can pass the matmul peak);
* stride 2 (each stage's first block), the weight gradient as one product of the gathered
  taps (``openhoi.ops.strided_conv``): forward + backward.

    python benchmarks/bench_conv.py --threads 2
    python benchmarks/bench_conv.py --sizes 512x640 800x1200 --channels 128 256 512

The channel thresholds of ``openhoi.ops.winograd`` and ``openhoi.ops.strided_conv`` come from
these tables.
"""

from __future__ import annotations

import argparse
import functools
import statistics
from collections.abc import Callable

import torch
import torch.nn.functional as F
from infer_measure import LoadMonitor, machine_line, matmul_peak, time_in_turns

from openhoi.host_memory import set_host_memory
from openhoi.ops.strided_conv import stride2_conv3x3
from openhoi.ops.winograd import winograd_conv2d

STRIDE = {64: 4, 128: 8, 256: 16, 512: 32}
"""ResNet-50's feature stride at each 3x3 width (layer1 .. layer4)."""


def direct(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, weight, bias, padding=1)


def direct_stride2(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, weight, bias, stride=2, padding=1)


def case(batch: int, channels: int, h: int, w: int, stride: int = 1
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Input, weight (scaled like a trained layer's), bias and output gradient, channels-last."""
    g = torch.Generator().manual_seed(channels + h)
    cl = torch.channels_last
    x = torch.randn(batch, channels, h, w, generator=g).contiguous(memory_format=cl)
    weight = (torch.randn(channels, channels, 3, 3, generator=g) / (3 * channels**0.5))
    ho, wo = -(-h // stride), -(-w // stride)
    grad = torch.randn(batch, channels, ho, wo, generator=g).contiguous(memory_format=cl)
    return (x.requires_grad_(), weight.contiguous(memory_format=cl).requires_grad_(),
            torch.randn(channels, generator=g).requires_grad_(), grad)


def run(conv: Callable[..., torch.Tensor], tensors: tuple[torch.Tensor, ...],
        training: bool) -> object:
    """One forward (no gradients), or one forward and backward."""
    x, weight, bias, grad = tensors
    if not training:
        with torch.no_grad():
            return conv(x, weight, bias)
    return torch.autograd.grad(conv(x, weight, bias), (x, weight, bias), grad)


def compare(monitor: LoadMonitor, convs: tuple[Callable[..., torch.Tensor], ...],
            tensors: tuple[torch.Tensor, ...], training: bool, warmup: int, runs: int
            ) -> tuple[tuple[float, float], tuple[float, float], float]:
    """``convs`` (oneDNN's, openhoi's) in turns: (min, median) seconds of each, and the cores
    other processes kept busy meanwhile."""
    with monitor.block(torch.get_num_threads()) as block:
        fns = [functools.partial(run, conv, tensors, training) for conv in convs]
        walls, _ = time_in_turns(fns, warmup, runs)
    first, second = ((min(t), statistics.median(t)) for t in walls)
    return first, second, block.others_cpu


def feature_map(size: str, stride: int) -> tuple[int, int]:
    """``HxW`` of an image over ``stride``, rounded up as ResNet's stages round."""
    hi, wi = (int(v) for v in size.split("x"))
    return -(-hi // stride), -(-wi // stride)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["512x640", "640x864", "800x1200"],
                        help="HxW of the image; each width's map is this over its stride")
    parser.add_argument("--channels", nargs="+", type=int, default=[128, 256, 512],
                        choices=sorted(STRIDE))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    set_host_memory("reuse")  # as openhoi's commands run
    monitor = LoadMonitor()
    print(machine_line(monitor) + f"; threads {torch.get_num_threads()}")
    peak = matmul_peak(torch.device("cpu"), torch.float32) / 1e9
    print(f"float32 matmul peak {peak:.0f} GFLOP/s; times are min / median of {args.runs} "
          "(ms), in turns\n")
    print("| width | feature map | pass | direct (ms) | Winograd (ms) | speed-up (min / median)"
          " | direct / Winograd GFLOP/s (effective) | others' cores |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for channels in args.channels:
            h, w = feature_map(size, STRIDE[channels])
            flops = 2 * args.batch * h * w * channels * channels * 9
            tensors = case(args.batch, channels, h, w)
            for name, passes in (("forward", 1), ("forward + backward", 3)):
                (d_min, d_med), (w_min, w_med), others = compare(
                    monitor, (direct, winograd_conv2d), tensors, passes == 3, args.warmup,
                    args.runs)
                gf = passes * flops / 1e9
                print(f"| {channels} | {args.batch} x {h}x{w} ({size}) | {name} | "
                      f"{1e3 * d_min:.2f} / {1e3 * d_med:.2f} | {1e3 * w_min:.2f} / "
                      f"{1e3 * w_med:.2f} | {d_min / w_min:.2f}x / {d_med / w_med:.2f}x | "
                      f"{gf / d_min:.0f} / {gf / w_min:.0f} | {others:.2f} |")
    print("\nStride 2 (training: forward + backward; the input at twice the output's size)\n")
    print("| width | input map (image) | oneDNN (ms) | gathered weight gradient (ms) | speed-up "
          "(min / median) | others' cores |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        for channels in args.channels:
            h, w = feature_map(size, STRIDE[channels] // 2)
            tensors = case(args.batch, channels, h, w, stride=2)
            (d_min, d_med), (g_min, g_med), others = compare(
                monitor, (direct_stride2, stride2_conv3x3), tensors, True, args.warmup,
                args.runs)
            print(f"| {channels} | {args.batch} x {h}x{w} ({size}) | {1e3 * d_min:.2f} / "
                  f"{1e3 * d_med:.2f} | {1e3 * g_min:.2f} / {1e3 * g_med:.2f} | "
                  f"{d_min / g_min:.2f}x / {d_med / g_med:.2f}x | {others:.2f} |")
    print(f"\nload at the end: {machine_line(monitor).split('; load ')[-1]}")


if __name__ == "__main__":
    main()
