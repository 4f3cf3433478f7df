"""Inference speed of HOICLIP and the GEN-VLKT baseline, ours and (optionally) the reference code.

For each implementation, architecture, input size, intra-op thread count and precision (fp32,
bf16 autocast) it prints, for batch 1: latency (min / median of ``--runs`` timed forwards after
``--warmup`` untimed ones; the implementations take turns, call by call), peak memory of the
forward, its FLOPs, the achieved FLOP/s (FLOPs / min latency) and that as a fraction of this
machine's matmul peak for the same dtype and thread count, measured in the same run (best
square matmul). How each is measured is in ``infer_measure.py``. Weights are random (speed does
not depend on them); nothing is rebuilt between calls; every forward runs under
``torch.inference_mode``.

Implementations (``--impls``):

* ``openhoi``: the model as evaluation and prediction run it,
  ``openhoi.models.detr.inference.inference_model(model)``.
* ``openhoi-module``: the ``HOIDetector`` module as built for training.
* ``reference``: the official model classes from ``--reference-root DIR`` (unmodified
  checkouts ``DIR/HOICLIP``, ``DIR/gen-vlkt``; see ``reference_models.py``), same recipe, same
  input, same threads. HOICLIP's reference receives its CLIP input from the data loader
  (``clip_preprocess`` of the PIL image), timed separately; ours makes it inside the forward.

With ``--no-processes`` every implementation runs in this one process, under one host-memory
policy (``--host-memory``):
``glibc`` (default) leaves glibc's malloc as a Python process starts, so both implementations
fault their largest activation maps in afresh at every forward; ``reuse`` is what openhoi's
``predict`` / ``evaluate`` / ``serve`` set (``openhoi.host_memory``), given to both. The
reference code sets nothing, so "as each ships" is openhoi under ``reuse`` against the
reference under ``glibc``, two runs. By default (``--processes``) it is measured in one run: each
implementation in a process of its own (``step_process``, as ``bench_train.py`` does), openhoi's
with the policy its commands apply (``OPENHOI_HOST_MEMORY``, ``reuse`` when unset), the
reference's with glibc's; the implementations still take turns call by call, and the table names
each one's policy.

Each timed block waits until the machine is quiet: the 1-minute load average, less this
process's own share, below ``--max-load``; the table notes the load at the start and the cores
other processes used during the block.

    bash scripts/env.sh python benchmarks/bench_infer.py --reference-root /tmp/ref_perf
    bash scripts/env.sh python benchmarks/bench_infer.py --archs hoiclip --sizes 512x640 --threads 1
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from infer_measure import (
    LoadMonitor,
    clock,
    count_flops,
    machine_line,
    matmul_peak,
    native_bf16_cpu,
    peak_memory,
    sync,
    time_in_turns,
    timed,
    use_cpu_clock,
)
from PIL import Image

from openhoi.config import load_config
from openhoi.host_memory import set_host_memory
from openhoi.label_space import load_label_space
from openhoi.models.build import build_model, build_postprocess
from openhoi.models.detr.hoi_detector import HOIDetector
from openhoi.models.hoiclip.head import HOICLIPHead
from openhoi.structures import ImageBatch

RECIPES = {"hoiclip": "hicodet_hoiclip", "gen_vlkt": "hicodet_gen_vlkt"}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def build(arch: str, device: torch.device) -> tuple[HOIDetector, bool]:
    """The full HICO-DET recipe of ``arch`` with random weights (no files read), and whether
    its post-processor reads the CLIP extras (S_zs)."""
    cfg = load_config(RECIPES[arch]).model
    space = load_label_space("hicodet")
    torch.manual_seed(0)
    e = 512  # ViT-B/32 embedding size; the text embeddings are random stand-ins
    model = build_model(
        cfg, space, pretrained=False,
        verb_repr=torch.randn(space.num_verbs, e),
        interaction_text=torch.randn(space.num_interactions, e),
        object_text=torch.randn(space.num_objects + 1, e))
    post = build_postprocess(cfg, space)
    model = model.to(device).eval().requires_grad_(False)  # inference only, as the reference
    return model, getattr(post, "reads_extras", True)


def make_batch(h: int, w: int, device: torch.device) -> ImageBatch:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(1, 3, h, w, generator=g)
    return ImageBatch(images, torch.zeros(1, h, w, dtype=torch.bool),
                      torch.tensor([[h, w]])).to(device)


def to_pil(batch: ImageBatch) -> Image.Image:
    """The first image of ``batch`` as the uint8 PIL image a data loader would hold."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    pixels = (batch.images[0].cpu() * std + mean).clamp(0, 1)  # [3, H, W]
    return Image.fromarray((pixels.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


@dataclass
class Row:
    """One measured configuration."""

    impl: str
    arch: str
    size: str
    dtype: str
    threads: int
    device: str
    times: list[float] = field(default_factory=list)
    flops: float = float("nan")
    memory: float = float("nan")
    load: float = float("nan")
    others_cpu: float = float("nan")
    note: str = ""


def autocast(device: torch.device, dtype: str):
    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def time_calls(fn: Callable[[], object], device: torch.device, warmup: int, runs: int
               ) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        sync(device)
        t0 = clock()
        fn()
        sync(device)
        times.append(clock() - t0)
    return times


def measure(rows: list[tuple[Row, Callable[[], object]]], device: torch.device,
            args: argparse.Namespace, monitor: LoadMonitor) -> None:
    """Latency of every ``(row, fn)`` (one dtype and thread count), the functions taking turns
    call by call so that a shared machine's drifts hit them alike; then FLOPs and memory
    (untimed)."""
    if not rows:
        return
    load = monitor.wait_quiet(args.max_load, args.max_wait)
    with torch.inference_mode(), autocast(device, rows[0][0].dtype):
        with monitor.block(rows[0][0].threads) as block:
            walls, cpus = time_in_turns([fn for _, fn in rows], args.warmup, args.runs, device)
        times = cpus if args.clock == "cpu" else walls
        for (row, fn), row_times in zip(rows, times):
            row.load, row.others_cpu, row.times = load, block.others_cpu, row_times
            row.flops = count_flops(fn)
            row.memory = peak_memory(fn, device)


class Peaks:
    """Best matmul FLOP/s per (device, dtype, threads), re-measured on every request."""

    def __init__(self, args: argparse.Namespace, monitor: LoadMonitor) -> None:
        self.args, self.monitor, self.best = args, monitor, {}

    def measure(self, device: torch.device, dtype: str, threads: int,
                sizes: tuple[int, ...] = (1024, 2048)) -> float:
        key = (device.type, dtype, threads)
        self.monitor.wait_quiet(self.args.max_load, self.args.max_wait)
        with self.monitor.block(threads):
            peak = matmul_peak(device, DTYPES[dtype], sizes)
        self.best[key] = max(self.best.get(key, 0.0), peak)
        return self.best[key]


def cpu_bf16_note(peaks: Peaks, threads: int) -> str | None:
    """None when the CPU runs bf16 natively, else the table note (with the emulated peak)."""
    native, flags = native_bf16_cpu()
    if native:
        return None
    cpu = torch.device("cpu")
    bf16 = peaks.measure(cpu, "bf16", threads, sizes=(512,))
    fp32 = peaks.measure(cpu, "fp32", threads)
    return (f"not run: no native bf16 on this CPU ({torch.backends.cpu.get_cpu_capability()}, "
            f"{flags}); oneDNN emulates it, bf16 matmul {bf16 / 1e9:.1f} vs fp32 "
            f"{fp32 / 1e9:.0f} GFLOP/s (--force-bf16 runs it)")


def our_models(arch: str, device: torch.device, impls: list[str]) -> dict[str, HOIDetector]:
    model, reads_extras = build(arch, device)
    out = {}
    if "openhoi-module" in impls:
        out["openhoi-module"] = model
    if "openhoi" in impls:  # as ``openhoi.engine.evaluate.predict_loader`` runs it
        from openhoi.models.detr.inference import inference_model

        out["openhoi"] = inference_model(model, clip_extras=reads_extras)
    return out


def forwards(models: dict[str, HOIDetector], ref, batch: ImageBatch, device: torch.device,
             args: argparse.Namespace, clip_rows: list[str], label: str
             ) -> dict[str, Callable[[], object]]:
    """The forward call of every implementation on ``batch``; the CLIP input's cost goes to
    ``clip_rows`` (inside our forward, in the reference's data loader)."""
    fns: dict[str, Callable[[], object]] = {name: (lambda m=m: m(batch))
                                            for name, m in models.items()}
    clip = next((m.clip for m in models.values()
                 if isinstance(m.head, HOICLIPHead) or getattr(m, "clip_extras", True)), None)
    if clip is not None:
        with torch.inference_mode():
            t = min(time_calls(lambda: clip.prepare_images(batch), device, 1, args.runs))
        clip_rows.append(f"openhoi {label}: CLIP input inside the forward {t * 1e3:.1f} ms")
    if ref is None:
        return fns
    samples, clip_input = ref.samples(batch.images), None
    if ref.clip_preprocess is not None:
        pil = to_pil(batch)
        clip_input = ref.clip_preprocess(pil)[None].to(device)
        t = min(time_calls(lambda: ref.clip_preprocess(pil), device, 1, args.runs))
        clip_rows.append(f"reference {label}: CLIP input in the data loader (PIL) "
                         f"{t * 1e3:.1f} ms, outside the forward")
    fns["reference"] = lambda: ref(samples, clip_input)
    return fns


def run_arch(arch: str, device: torch.device, args: argparse.Namespace, monitor: LoadMonitor,
             peaks: Peaks, rows: list[Row], clip_rows: list[str]) -> None:
    if args.processes and device.type == "cpu":
        run_arch_processes(arch, device, args, monitor, peaks, rows)
        return
    models = our_models(arch, device, [i for i in args.impls if i != "reference"])
    ref = None
    if "reference" in args.impls and args.reference_root and device.type == "cpu":
        from reference_models import build_reference, reference_dir

        if reference_dir(args.reference_root, arch) is None:
            print(f"reference {arch}: no checkout under {args.reference_root}, skipped")
        else:
            ref = build_reference(arch, args.reference_root)
    for size in args.sizes:
        h, w = (int(x) for x in size.lower().split("x"))
        batch = make_batch(h, w, device)
        fns = forwards(models, ref, batch, device, args, clip_rows, f"{arch} {h}x{w}")
        for threads in args.threads:
            torch.set_num_threads(threads)
            for dtype in args.dtypes:
                note = None
                if dtype == "bf16" and device.type == "cpu" and not args.force_bf16:
                    note = cpu_bf16_note(peaks, threads)
                peaks.measure(device, dtype, threads)
                group = [(Row(impl, arch, f"{h}x{w}", dtype, threads, device.type), fn)
                         for impl, fn in fns.items()]
                if note is not None:
                    for row, _ in group:
                        row.note = note
                else:
                    measure(group, device, args, monitor)
                for row, _ in group:
                    rows.append(row)
                    print(format_row(row, peaks), flush=True)


def worker(args: argparse.Namespace) -> None:
    """``--worker IMPL``: one implementation of ``args.archs[0]`` in this process, answering
    the parent's ``step`` / ``flops`` / ``memory`` calls (argument ``SIZE DTYPE``) for every
    size of ``args.sizes`` (``step_process.serve``)."""
    from step_process import serve

    from openhoi.host_memory import apply_host_memory_env

    mode = apply_host_memory_env() if args.worker != "reference" else None
    torch.set_num_threads(args.threads[0])
    device, arch = torch.device("cpu"), args.archs[0]
    models, ref = {}, None
    if args.worker == "reference":
        from reference_models import build_reference

        ref = build_reference(arch, args.reference_root)
    else:
        models = our_models(arch, device, [args.worker])
    fns = {}
    for size in args.sizes:
        h, w = (int(x) for x in size.lower().split("x"))
        fns[size] = next(iter(forwards(models, ref, make_batch(h, w, device), device, args,
                                       [], size).values()))

    def under(arg: str, measure: Callable[[Callable[[], object]], object]) -> object:
        size, dtype = arg.split()
        with torch.inference_mode(), autocast(device, dtype):
            return measure(fns[size])

    serve({"step": lambda a: dict(zip(("wall", "cpu"), under(a, timed))),
           "flops": lambda a: {"flops": under(a, count_flops)},
           "memory": lambda a: {"bytes": under(a, lambda f: peak_memory(f, device))},
           "policy": lambda _: {"host_memory": mode or "glibc"}})


def run_arch_processes(arch: str, device: torch.device, args: argparse.Namespace,
                       monitor: LoadMonitor, peaks: Peaks, rows: list[Row]) -> None:
    """``run_arch`` with every implementation in its own process (``--processes``)."""
    from step_process import StepProcess, turns

    impls = [i for i in args.impls if i != "reference" or args.reference_root]
    for threads in args.threads:
        torch.set_num_threads(threads)
        argv = ["--archs", arch, "--sizes", *args.sizes, "--threads", str(threads)]
        if args.reference_root:
            argv += ["--reference-root", args.reference_root]
        procs = [StepProcess([__file__, "--worker", impl, *argv]) for impl in impls]
        monitor.children = [p.pid for p in procs]
        names = [f"{impl} [{p.call('policy')['host_memory']}]" for impl, p in zip(impls, procs)]
        try:
            for size in args.sizes:
                for dtype in args.dtypes:
                    group = [Row(name, arch, size, dtype, threads, "cpu") for name in names]
                    note = None
                    if dtype == "bf16" and not args.force_bf16:
                        note = cpu_bf16_note(peaks, threads)
                    peaks.measure(device, dtype, threads)
                    if note is None:
                        load = monitor.wait_quiet(args.max_load, args.max_wait)
                        with monitor.block(threads) as block:
                            walls, cpus = turns(procs, f"{size} {dtype}", args.warmup, args.runs)
                        for row, proc, wall, cpu in zip(group, procs, walls, cpus):
                            row.load, row.others_cpu = load, block.others_cpu
                            row.times = cpu if args.clock == "cpu" else wall
                            row.flops = proc.call("flops", f"{size} {dtype}")["flops"]
                            row.memory = proc.call("memory", f"{size} {dtype}")["bytes"]
                    for row in group:
                        row.note = note or ""
                        rows.append(row)
                        print(format_row(row, peaks), flush=True)
        finally:
            for p in procs:
                p.close()
            monitor.children = []


HEADER = ("| device | impl | model | input | dtype | threads | latency min / median (s) | "
          "peak mem (MiB) | GFLOPs | GFLOP/s | matmul peak GFLOP/s | of peak | "
          "load / others' cores |")


def format_row(row: Row, peaks: Peaks) -> str:
    head = (f"| {row.device} | {row.impl} | {row.arch} | {row.size} | {row.dtype} | "
            f"{row.threads} |")
    if row.note:
        return f"{head} {row.note} |" + " |" * 6
    peak = peaks.best.get((row.device, row.dtype, row.threads), float("nan"))
    achieved = row.flops / min(row.times)
    return (f"{head} {min(row.times):.3f} / {statistics.median(row.times):.3f} | "
            f"{row.memory / 2**20:.0f} | {row.flops / 1e9:.1f} | {achieved / 1e9:.1f} | "
            f"{peak / 1e9:.1f} | {achieved / peak:.0%} | {row.load:.2f} / {row.others_cpu:.2f} |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", nargs="+", default=["hoiclip", "gen_vlkt"],
                        choices=sorted(RECIPES))
    parser.add_argument("--impls", nargs="+", default=["openhoi", "openhoi-module", "reference"],
                        choices=["openhoi", "openhoi-module", "reference"])
    parser.add_argument("--reference-root", default=None,
                        help="folder with the reference checkouts HOICLIP/ and gen-vlkt/; "
                             "without it the reference is skipped")
    parser.add_argument("--sizes", nargs="+", default=["512x640", "800x1200"],
                        help="HxW of the (unpadded) input; 800 is the recipe's test short side")
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=sorted(DTYPES))
    parser.add_argument("--threads", nargs="+", type=int, default=None,
                        help="intra-op CPU thread counts (default: torch's default, and 1)")
    parser.add_argument("--devices", nargs="+", default=None,
                        help="default: cpu, plus cuda when present")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: time with this process's CPU time (with --threads 1 on a "
                        "shared machine: the computation without others' interference)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--force-bf16", action="store_true",
                        help="run bf16 on a CPU without native bf16 support too")
    parser.add_argument("--max-load", type=float, default=0.5,
                        help="wait before each block until the 1-minute load average, less this "
                             "process's share, is below this (0: never wait)")
    parser.add_argument("--max-wait", type=float, default=1800.0,
                        help="seconds to wait for quiet before measuring anyway")
    parser.add_argument("--host-memory", choices=["glibc", "reuse"], default="glibc",
                        help="malloc policy of this process, for every implementation "
                             "(module docstring)")
    parser.add_argument("--processes", action=argparse.BooleanOptionalAction, default=True,
                        help="each implementation in its own process, as it ships (openhoi "
                             "keeps freed host memory, the reference glibc's policy); "
                             "--no-processes: all in this process under --host-memory")
    parser.add_argument("--worker", choices=["openhoi", "openhoi-module", "reference"],
                        default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads is None:
        args.threads = sorted({torch.get_num_threads(), 1}, reverse=True)
    return args


def main() -> None:
    args = parse_args()
    if args.worker:
        worker(args)
        return
    if args.clock == "cpu":
        use_cpu_clock()
    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    policy = "per implementation (--processes)" if args.processes else args.host_memory
    if args.processes and args.host_memory != "glibc":
        print("--host-memory applies with --no-processes only: each process keeps its own")
    elif args.host_memory == "reuse" and not set_host_memory("reuse"):
        print("host memory: not glibc, left as it is")
    monitor = LoadMonitor()
    peaks = Peaks(args, monitor)
    print(machine_line(monitor) + f"; threads {args.threads}; host memory {policy}")
    rows: list[Row] = []
    clip_rows: list[str] = []
    for dev_name in devices:
        device = torch.device(dev_name)
        for arch in args.archs:
            run_arch(arch, device, args, monitor, peaks, rows, clip_rows)
        for threads in args.threads:  # a last peak measurement: the best one is kept
            torch.set_num_threads(threads)
            for dtype in args.dtypes:
                if (device.type, dtype, threads) in peaks.best and not (
                        dtype == "bf16" and device.type == "cpu" and not args.force_bf16):
                    peaks.measure(device, dtype, threads)
    print()
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    print("\n".join(format_row(r, peaks) for r in rows))
    print()
    for (dev, dtype, threads), peak in sorted(peaks.best.items()):
        print(f"matmul peak {dev} {dtype} {threads} thread(s): {peak / 1e9:.1f} GFLOP/s")
    print("\n".join(clip_rows))
    print(machine_line(monitor) + f" (at the end); host memory {policy}")


if __name__ == "__main__":
    main()
