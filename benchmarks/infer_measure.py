"""Measurement primitives of ``bench_infer.py``: FLOPs, peak memory, matmul peak, quietness.

* FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` plus formulas for the two attention
  kernels it does not count on CPU: ``aten._native_multi_head_attention`` (the fused path
  ``nn.MultiheadAttention`` takes at inference for batch-first self-attention, e.g. every
  CLIP ViT block) and ``aten._scaled_dot_product_flash_attention_for_cpu``. Without them a
  ViT-B/32 forward counts only its MLPs.
* Peak memory: on CPU, the peak of the bytes live in torch's CPU allocator during the forward
  (weights and input, allocated before, excluded), from the allocation and free events of the
  torch profiler (``profile_memory=True``): operator outputs and the temporaries inside
  composite operators count; oneDNN's own scratch buffers and Python objects do not. On CUDA,
  ``torch.cuda.max_memory_allocated`` over the forward.
* Matmul peak: best FLOP/s of square matmuls of the same dtype and thread count.
* Quietness: the 1-minute load average minus this process's own share (its busy intervals run
  through the kernel's exponential average), and the CPU time other processes used during a
  timed block (``/proc/stat`` minus ``/proc/self/stat`` and the benchmark's own children).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

aten = torch.ops.aten


def _mha_flops(query, key, value, embed_dim, num_heads, *args, out_shape=None, **kwargs) -> int:
    """``_native_multi_head_attention``: input projections, QK^T, AV, output projection."""
    b, lq, d = query
    lk = key[1]
    projections = 2 * b * lq * d * d + 2 * 2 * b * lk * d * d + 2 * b * lq * d * d
    return projections + 2 * 2 * b * lq * lk * d


def _cpu_flash_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _onednn_linear_flops(x, weight, *args, out_shape=None, **kwargs) -> int:
    """``mkldnn._linear_pointwise`` (``openhoi.ops.linear``): ``x [..., K] @ weight[N, K].T``."""
    return 2 * math.prod(x) * weight[0]


CUSTOM_FLOPS = {aten._native_multi_head_attention: _mha_flops,
                aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_flops}
if hasattr(torch.ops.mkldnn, "_linear_pointwise"):
    CUSTOM_FLOPS[torch.ops.mkldnn._linear_pointwise] = _onednn_linear_flops


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs (2 per multiply-add) of ``fn()``, attention kernels included; convolutions
    counted as defined (direct), though openhoi computes its wide 3x3 ones by Winograd's
    algorithm with 2.25x fewer products (``openhoi.ops.winograd``), so FLOP/s are effective
    rates."""
    from openhoi.ops.conv import direct_convolutions

    counter = FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS)
    with direct_convolutions(), counter:
        fn()
    return int(counter.get_total_flops())


def peak_memory(fn: Callable[[], object], device: torch.device) -> int:
    """Peak bytes ``fn()`` holds at once beyond what was allocated before it (module doc)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events()
              if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU]
    live = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        live += e.nbytes()
        peak = max(peak, live)
    return peak


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


_CLOCK = [time.perf_counter]


def clock() -> float:
    """The benchmark's clock: wall time, or this process's CPU time after ``use_cpu_clock``."""
    return _CLOCK[0]()


def use_cpu_clock() -> None:
    """Time with the process's CPU time (``time.process_time``): with one thread on a shared
    machine it counts the computation without the waits others' processes cause."""
    _CLOCK[0] = time.process_time


def in_turns(fns: Sequence[Callable[[], object]], warmup: int, runs: int) -> list[list]:
    """The results of ``runs`` calls of each function, taken in turns (A B A B ...) after
    ``warmup`` untimed rounds, so that the drifts of a shared machine hit every function
    alike; one list per function."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    results: list[list] = [[] for _ in fns]
    for _ in range(runs):
        for k, fn in enumerate(fns):
            results[k].append(fn())
    return results


def timed(fn: Callable[[], object], device: torch.device | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (this process, all threads) of one call (``device``: synchronised
    around it, default CPU)."""
    device = device if device is not None else torch.device("cpu")
    sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return time.perf_counter() - t0, time.process_time() - c0


def split_times(results: list[list[tuple[float, float]]]
                ) -> tuple[list[list[float]], list[list[float]]]:
    """``in_turns`` results of ``(wall, cpu)`` pairs as ``(walls, cpus)``."""
    return ([[w for w, _ in r] for r in results], [[c for _, c in r] for r in results])


def time_in_turns(fns: Sequence[Callable[[], object]], warmup: int, runs: int,
                  device: torch.device | None = None
                  ) -> tuple[list[list[float]], list[list[float]]]:
    """``timed`` calls of each function ``in_turns``: ``(walls, cpus)``, one list per
    function."""
    return split_times(in_turns([lambda fn=fn: timed(fn, device) for fn in fns], warmup, runs))


def matmul_peak(device: torch.device, dtype: torch.dtype, sizes: tuple[int, ...] = (1024, 2048),
                repeats: int = 8) -> float:
    """Best FLOP/s of square matmuls of ``dtype`` (the machine's practical peak): PyTorch's
    ``a @ b`` and, for float32 on the CPU, oneDNN's matmul as well (``openhoi.ops.linear``: on
    AMD CPUs the BLAS behind ``a @ b``, MKL, stays well below what the cores can do)."""
    kernels = [torch.matmul]
    if device.type == "cpu" and dtype == torch.float32:
        from openhoi.ops.linear import linear, onednn_available

        if onednn_available():
            kernels.append(linear)  # a @ b.T in oneDNN (no gradients): the same FLOPs
    best = 0.0
    for kernel in kernels:
        for n in sizes:
            a = torch.randn(n, n, device=device).to(dtype)
            b = torch.randn(n, n, device=device).to(dtype)
            kernel(a, b)
            for _ in range(repeats):
                sync(device)
                t0 = clock()
                kernel(a, b)
                sync(device)
                best = max(best, 2 * n**3 / max(clock() - t0, 1e-9))
    return best


def native_bf16_cpu() -> tuple[bool, str]:
    """Whether this CPU computes bf16 natively (AVX512-BF16 / AMX-BF16 flags,
    ``openhoi.precision``), and the flags that say so. ``mkldnn._is_mkldnn_bf16_supported``
    is no test: it is also true on AVX-512 CPUs where oneDNN emulates bf16."""
    from openhoi.precision import CPU_BF16_FLAGS, cpu_flags, native_bf16

    found = sorted(cpu_flags() & {*CPU_BF16_FLAGS, "amx_tile"})
    return native_bf16("cpu"), ", ".join(found) or "no avx512_bf16 / amx_bf16 flag"


def machine_line(monitor: LoadMonitor | None = None) -> str:
    """CPU model, cores, torch's CPU capability, bf16 support and the load, for a header."""
    from openhoi.precision import cpu_name

    native, flags = native_bf16_cpu()
    load = os.getloadavg()
    return (f"CPU: {cpu_name()}, {os.cpu_count()} logical cores, torch {torch.__version__} "
            f"capability {torch.backends.cpu.get_cpu_capability()}, bf16 "
            f"{'native' if native else 'emulated'} ({flags}); load average "
            f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")


class LoadMonitor:
    """Quietness of the machine apart from this process (see the module docstring)."""

    DECAY_S = 60.0  # the 1-minute load average's time constant

    def __init__(self) -> None:
        self.busy: list[tuple[float, float, int]] = []  # (start, end, threads) of own work
        self.children: list[int] = []  # pids whose CPU time counts as this process's
        self.hz = os.sysconf("SC_CLK_TCK")
        self.ncpu = os.cpu_count() or 1

    def own_load(self, now: float | None = None) -> float:
        """This process's share of the 1-minute load average (its busy intervals, each with
        ``threads`` runnable threads, through the kernel's exponential average)."""
        now = time.monotonic() if now is None else now
        total = 0.0
        for start, end, threads in self.busy:
            grown = 1 - math.exp(-(end - start) / self.DECAY_S)
            total += threads * grown * math.exp(-(now - end) / self.DECAY_S)
        return total

    def others_load(self) -> float:
        return max(0.0, os.getloadavg()[0] - self.own_load())

    def wait_quiet(self, max_load: float, max_wait_s: float) -> float:
        """Wait (up to ``max_wait_s``) until the others' load is below ``max_load``; return
        it. ``max_load <= 0`` does not wait."""
        deadline = time.monotonic() + max_wait_s
        load = self.others_load()
        while max_load > 0 and load >= max_load and time.monotonic() < deadline:
            time.sleep(5)
            load = self.others_load()
        return load

    def _jiffies(self) -> tuple[int, int]:
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
        busy = sum(cpu[i] for i in (0, 1, 2, 5, 6))  # user nice system irq softirq
        own = 0
        for pid in ("self", *self.children):
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            own += int(fields[11]) + int(fields[12])  # utime + stime
        return busy, own

    def block(self, threads: int) -> _Block:
        """``with monitor.block(threads) as b: ...``; afterwards ``b.others_cpu`` is the
        cores other processes kept busy on average during the block."""
        return _Block(self, threads)


class _Block:
    def __init__(self, monitor: LoadMonitor, threads: int) -> None:
        self.monitor, self.threads, self.others_cpu = monitor, threads, float("nan")

    def __enter__(self) -> _Block:
        self.t0 = time.monotonic()
        try:
            self.j0 = self.monitor._jiffies()
        except OSError:
            self.j0 = None
        return self

    def __exit__(self, *exc) -> None:
        t1 = time.monotonic()
        self.monitor.busy.append((self.t0, t1, self.threads))
        if self.j0 is not None:
            busy, own = self.monitor._jiffies()
            others = (busy - self.j0[0]) - (own - self.j0[1])
            self.others_cpu = max(0.0, others / self.monitor.hz / (t1 - self.t0))
