"""Host memory policy: keep freed memory in the process for the next tensor (glibc malloc).

glibc serves a request above its mmap threshold (which it raises to at most 32 MiB) with a
fresh ``mmap`` and unmaps it on ``free``; the next tensor of that size is faulted in again,
4 KiB at a time, each page zeroed by the kernel. A HOICLIP training step on 2 x 800x1200
images makes dozens of such tensors (ResNet activation maps of 60-120 MB, attention maps of
950 x 950 tokens per head) and took 375,000-880,000 page faults, 0.7-1.5 CPU seconds of kernel
time, per step (AMD EPYC, 2 threads; ``benchmarks/bench_train.py``).

``reuse`` serves every request from the heap (``M_MMAP_MAX = 0``) and keeps what is freed for
the next request (``M_TRIM_THRESHOLD`` at its maximum): after the first steps, no page faults
(0 instead of 375,000 per step above; 8% off that step, 4% off a run of mixed recipe sizes).
The process keeps its footprint until it exits, as CUDA's caching allocator keeps GPU memory,
and glibc's aligned allocations need a few freed chunks to merge before one fits again: peak
resident memory +1% on the fixed-size step, +3.5% over 12 steps of mixed sizes. A request the
heap cannot extend to still falls back to ``mmap`` (glibc retries another arena), so nothing
fails that would not fail anyway.

``system`` is glibc's own policy in the state a default process reaches after freeing its
first large buffer (mmap threshold 32 MiB, trim threshold 64 MiB).

``engine.train.fit`` and the commands that run a model (``predict``, ``evaluate``,
``recognize``, ``detect-instances``, ``serve``: ``openhoi.cli.RUNS_MODELS``) apply
``OPENHOI_HOST_MEMORY`` (``reuse`` when unset; ``system`` leaves glibc alone). In inference the
same faults cost a forward at 800x1200 77,000-90,000 page faults and 7-10% of its time
(HOICLIP, 2 threads: 1.17-1.22 s, 1.09-1.10 s with ``reuse``, peak resident memory +1.6%);
a server keeps the footprint of its largest image. Nothing is changed where the C library is
not glibc or the user already tunes malloc through ``MALLOC_*_`` or ``GLIBC_TUNABLES``; the
library's own functions (``HOIPredictor``, ``load_model``) leave the process's malloc alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import platform
from typing import Literal

log = logging.getLogger(__name__)

HostMemory = Literal["reuse", "system"]
ENV = "OPENHOI_HOST_MEMORY"

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4

_MiB = 1 << 20
_SETTINGS: dict[str, tuple[tuple[int, int], ...]] = {
    # M_TRIM_THRESHOLD is an int: 2 GiB - 1 is the largest glibc takes.
    "reuse": ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1)),
    # glibc's defaults after its dynamic threshold reached DEFAULT_MMAP_THRESHOLD_MAX
    # (32 MiB on 64-bit) and the trim threshold twice that; DEFAULT_MMAP_MAX = 65536.
    "system": ((M_MMAP_MAX, 65536), (M_MMAP_THRESHOLD, 32 * _MiB),
               (M_TRIM_THRESHOLD, 64 * _MiB)),
}
_USER_TUNING = ("MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None


def set_host_memory(mode: HostMemory) -> bool:
    """Apply ``mode`` (module doc) to this process's malloc; returns whether it was applied
    (False where the C library is not glibc). ``system`` also returns free heap memory to the
    kernel (``malloc_trim``)."""
    if mode not in _SETTINGS:
        raise ValueError(f"host memory mode must be one of {sorted(_SETTINGS)}, got {mode!r}")
    libc = _libc()
    if libc is None:
        return False
    for param, value in _SETTINGS[mode]:
        if libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) != 1:
            log.warning("mallopt(%d, %d) refused: host memory policy %r not applied",
                        param, value, mode)
            return False
    if mode == "system" and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(ctypes.c_size_t(0))
    return True


def apply_host_memory_env() -> HostMemory | None:
    """Apply ``$OPENHOI_HOST_MEMORY`` (default ``reuse``); returns the mode applied, None when
    nothing was changed (``system``, the user's own malloc tuning, or not glibc)."""
    mode = os.environ.get(ENV, "reuse").strip().lower() or "reuse"
    if mode not in _SETTINGS:
        log.warning("%s=%r is not one of %s: host memory left to the C library",
                    ENV, os.environ[ENV], sorted(_SETTINGS))
        return None
    if mode == "system" or any(name in os.environ for name in _USER_TUNING):
        return None
    return mode if set_host_memory(mode) else None
