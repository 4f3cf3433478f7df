"""Inference speed of HOICLIP and the GEN-VLKT baseline at the full recipe size.

For each architecture, input size and precision (fp32, bf16 autocast) it prints, for batch 1:
latency (min / median of ``--runs`` timed forwards after a warm-up), peak memory of the
forward pass, the forward's FLOPs (``torch.utils.flop_counter``), the achieved FLOP/s and
that as a fraction of this machine's matmul peak, measured in the same run (best of several
square matmuls of the same dtype). Weights are random (the speed does not depend on them);
nothing is rebuilt between calls.

Peak memory: the most memory the forward's own tensors hold at once (weights and input not
counted): ``torch.cuda.max_memory_allocated`` on CUDA, a dispatch-mode tally of operator
outputs on CPU (``TensorMemoryMode``).

    bash scripts/env.sh python benchmarks/bench_infer.py                 # CPU (and CUDA)
    bash scripts/env.sh python benchmarks/bench_infer.py --runs 3 --sizes 512x640
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from openhoi.config import load_config
from openhoi.data.label_space import load_label_space
from openhoi.models.hoi_detector import HOIDetector, build_hoi_detector
from openhoi.structures import ImageBatch

RECIPES = {"hoiclip": "hicodet_hoiclip", "gen_vlkt": "hicodet_gen_vlkt"}


def build(arch: str, device: torch.device) -> HOIDetector:
    """The full HICO-DET recipe of ``arch`` with random weights (no files read)."""
    cfg = load_config(RECIPES[arch]).model
    space = load_label_space("hicodet")
    torch.manual_seed(0)
    e = 512  # ViT-B/32 embedding size; the text embeddings are random stand-ins
    model = build_hoi_detector(
        cfg, space, load_clip_weights=False,
        verb_repr=torch.randn(space.num_verbs, e),
        interaction_text=torch.randn(space.num_interactions, e),
        object_text=torch.randn(space.num_objects + 1, e))
    return model.to(device).eval()


def make_batch(h: int, w: int, device: torch.device) -> ImageBatch:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(1, 3, h, w, generator=g)
    return ImageBatch(images, torch.zeros(1, h, w, dtype=torch.bool),
                      torch.tensor([[h, w]])).to(device)


def autocast(device: torch.device, dtype: str):
    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device: torch.device, dtype: str, n: int, repeats: int = 10) -> float:
    """Best FLOP/s of an ``n x n`` matmul in ``dtype`` (the machine's practical peak)."""
    tdtype = torch.float32 if dtype == "fp32" else torch.bfloat16
    a = torch.randn(n, n, device=device, dtype=tdtype)
    b = torch.randn(n, n, device=device, dtype=tdtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


class TensorMemoryMode(TorchDispatchMode):
    """Peak bytes of the tensors that operators allocate while the mode is active.

    Every operator output's storage is counted once while some tensor returned by an
    operator still refers to it; weights and inputs, allocated before, are not counted.
    Operator-internal scratch buffers (e.g. oneDNN workspaces) are invisible to it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.refs: dict[int, int] = {}
        self.sizes: dict[int, int] = {}
        self.live = 0
        self.peak = 0

    def _release(self, ptr: int) -> None:
        self.refs[ptr] -= 1
        if self.refs[ptr] == 0:
            del self.refs[ptr]
            self.live -= self.sizes.pop(ptr)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                continue
            storage = t.untyped_storage()
            ptr, nbytes = storage.data_ptr(), storage.nbytes()
            if ptr == 0 or nbytes == 0:
                continue
            if ptr not in self.refs:
                self.refs[ptr], self.sizes[ptr] = 0, nbytes
                self.live += nbytes
                self.peak = max(self.peak, self.live)
            self.refs[ptr] += 1
            weakref.finalize(t, self._release, ptr)
        return out


def measure_memory(model: HOIDetector, batch: ImageBatch, device: torch.device, dtype: str
                   ) -> float:
    """Peak bytes a CUDA forward allocates beyond what was allocated before it."""
    with torch.inference_mode(), autocast(device, dtype):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        model(batch)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before


def bench(model: HOIDetector, batch: ImageBatch, device: torch.device, dtype: str, runs: int
          ) -> dict[str, float]:
    """Latency, FLOPs and peak memory of one configuration. The warm-up forward runs under the
    FLOP counter and the memory tally (both dispatch modes, so it is not timed)."""
    flops, memory = FlopCounterMode(display=False), TensorMemoryMode()
    with torch.inference_mode(), autocast(device, dtype):
        if device.type == "cuda":
            with flops:
                model(batch)
        else:
            with flops, memory:
                model(batch)
        times = []
        for _ in range(runs):
            sync(device)
            t0 = time.perf_counter()
            model(batch)
            sync(device)
            times.append(time.perf_counter() - t0)
    mem = measure_memory(model, batch, device, dtype) if device.type == "cuda" else memory.peak
    return {"min": min(times), "median": statistics.median(times),
            "flops": float(flops.get_total_flops()), "memory": mem}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", nargs="+", default=["hoiclip", "gen_vlkt"],
                        choices=sorted(RECIPES))
    parser.add_argument("--sizes", nargs="+", default=["512x640", "800x1200"],
                        help="HxW of the (unpadded) input; 800 is the recipe's test short side")
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--devices", nargs="+", default=None,
                        help="default: cpu, plus cuda when present")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--force-bf16", action="store_true",
                        help="run bf16 on a CPU without native bf16 support too")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op CPU threads (default: torch's choice, one per core)")
    parser.add_argument("--matmul-n", type=int, default=0,
                        help="matmul size of the peak measurement (default 1536 CPU, 8192 CUDA)")
    args = parser.parse_args()
    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    results = []
    for dev_name in devices:
        device = torch.device(dev_name)
        n = args.matmul_n or (8192 if device.type == "cuda" else 1536)
        # The peak is re-measured before every configuration and the best value kept: on a
        # shared machine a single measurement can land in a busy moment.
        peaks = {d: 0.0 for d in args.dtypes}
        dtypes = list(args.dtypes)
        if device.type == "cpu" and "bf16" in dtypes and not args.force_bf16:
            # Without native bf16 (AVX512-BF16 / AMX) oneDNN emulates it, orders of magnitude
            # slower than fp32: a full forward would take hours, so say so and skip it.
            bf16, fp32 = matmul_peak(device, "bf16", 512, 3), matmul_peak(device, "fp32", 512, 3)
            if bf16 < fp32 / 4:
                dtypes.remove("bf16")
                print(f"cpu bf16 skipped: no native bf16 on this CPU (512^3 matmul: bf16 "
                      f"{bf16 / 1e9:.2f} vs fp32 {fp32 / 1e9:.1f} GFLOP/s); --force-bf16 runs it")
        for arch in args.archs:
            model = build(arch, device)
            params = sum(p.numel() for p in model.parameters())
            for size in args.sizes:
                h, w = (int(x) for x in size.lower().split("x"))
                batch = make_batch(h, w, device)
                for dtype in dtypes:
                    peaks[dtype] = max(peaks[dtype], matmul_peak(device, dtype, n))
                    r = bench(model, batch, device, dtype, args.runs)
                    results.append((dev_name, arch, f"{h}x{w}", dtype, params, r))
                    print(_row(results[-1], peaks[dtype]), flush=True)
            del model
        for d in dtypes:
            peaks[d] = max(peaks[d], matmul_peak(device, d, n))
            print(f"{dev_name} {d} matmul peak (best measured, n={n}): "
                  f"{peaks[d] / 1e9:.1f} GFLOP/s")
        final = [_row(r, peaks[r[3]]) for r in results if r[0] == dev_name]
        print()
        print(HEADER)
        print("|" + "---|" * (HEADER.count("|") - 1))
        print("\n".join(final))


HEADER = ("| device | model | input | dtype | params | latency min / median (s) | "
          "peak mem (MiB) | GFLOPs | achieved GFLOP/s | matmul peak GFLOP/s | of peak |")


def _row(result: tuple, peak: float) -> str:
    dev_name, arch, size, dtype, params, r = result
    achieved = r["flops"] / r["median"]
    return (f"| {dev_name} | {arch} | {size} | {dtype} | {params / 1e6:.1f}M | "
            f"{r['min']:.3f} / {r['median']:.3f} | {r['memory'] / 2**20:.0f} | "
            f"{r['flops'] / 1e9:.1f} | {achieved / 1e9:.1f} | {peak / 1e9:.1f} | "
            f"{achieved / peak:.0%} |")


if __name__ == "__main__":
    main()
