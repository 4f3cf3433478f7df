"""Numeric precision of a forward pass, chosen per machine: ``auto | fp32 | bf16 | fp16``.

``resolve_precision(device, requested)`` turns what a user asked for into the autocast dtype
the engine, ``openhoi predict``, ``openhoi evaluate --checkpoint`` and ``openhoi serve`` run
under (None = plain float32). ``auto`` takes bfloat16 only where the hardware computes it
natively: CUDA devices that support it (Ampere and later) and CPUs with AVX512-BF16 or AMX-BF16
(oneDNN then runs bf16 matmuls and convolutions at up to several times the float32 rate).
Elsewhere oneDNN emulates bf16 in float32 and it is slower than float32, so ``auto`` means
float32 there; an explicit ``bf16`` still runs, with a warning.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any, Literal, get_args

import torch
from torch import Tensor

from openhoi.errors import ConfigError

log = logging.getLogger(__name__)

Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16,
                                        "fp16": torch.float16}
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""``/proc/cpuinfo`` flags of CPUs that compute bf16 natively (AVX512-BF16 dot products, AMX
tiles). Without them oneDNN emulates bf16."""


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where there is none, e.g. macOS)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_name() -> str:
    """The CPU model name (``/proc/cpuinfo``, else ``platform.processor()``)."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` computes bfloat16 natively (module docstring)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return bool(cpu_flags() & set(CPU_BF16_FLAGS))
    return False


def describe_bf16(device: torch.device | str) -> str:
    """One line for logs and benchmark headers: native bf16 or not, and why."""
    device = torch.device(device)
    if device.type == "cpu":
        found = sorted(cpu_flags() & set(CPU_BF16_FLAGS))
        return (f"{cpu_name()}: native bf16 ({', '.join(found)})" if found
                else f"{cpu_name()}: no native bf16 (no {' / '.join(CPU_BF16_FLAGS)} flag; "
                     "oneDNN emulates it)")
    if device.type == "cuda" and torch.cuda.is_available():
        name = torch.cuda.get_device_name(device)
        return f"{name}: {'native' if native_bf16(device) else 'no native'} bf16"
    return f"{device}: no native bf16"


def resolve_precision(device: torch.device | str, requested: str | None,
                      default: str = "fp32") -> torch.dtype | None:
    """Autocast dtype for ``requested`` on ``device``; None means plain float32.

    Args:
        device: where the forward pass runs.
        requested: ``auto`` (bf16 where native, else float32), ``fp32``, ``bf16``, ``fp16``,
            or None for ``default``.
        default: what None means (each command's own default).

    Raises:
        ConfigError: an unknown precision name.
    """
    name = default if requested is None else requested
    if name not in PRECISIONS:
        raise ConfigError(f"precision {name!r}: choose one of {', '.join(PRECISIONS)}")
    device = torch.device(device)
    if name == "auto":
        return torch.bfloat16 if native_bf16(device) else None
    if name == "bf16" and device.type == "cpu" and not native_bf16(device):
        log.warning("bf16 on a CPU without native bf16 (%s): oneDNN emulates it, expect it to "
                    "be slower than fp32", describe_bf16(device))
    if name == "fp16" and device.type == "cpu":
        log.warning("fp16 autocast on CPU: few CPUs compute float16 natively (AVX512-FP16, "
                    "AMX-FP16); expect it to be slower than fp32")
    return DTYPES[name]


def precision_name(dtype: torch.dtype | None) -> str:
    """``fp32`` / ``bf16`` / ``fp16`` of a ``resolve_precision`` result."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def outputs_to_float(out: Any) -> Any:
    """Copy of ``out`` whose floating tensors are float32 (losses and scores are computed in
    full precision even when the forward pass ran under autocast). Any raw-output dataclass:
    ``aux`` and ``extras`` are handled where the output has them."""

    def cast(x: Any) -> Any:
        return x.float() if isinstance(x, Tensor) and x.is_floating_point() else x

    if not hasattr(out, "aux"):  # e.g. RecognitionRawOutput
        return dataclasses.replace(out, **{f.name: cast(getattr(out, f.name))
                                           for f in dataclasses.fields(out)})

    changes = {f.name: cast(getattr(out, f.name)) for f in dataclasses.fields(out)
               if f.name not in ("aux", "extras")}
    return dataclasses.replace(out, **changes, aux=[outputs_to_float(a) for a in out.aux],
                               extras={k: cast(v) for k, v in out.extras.items()})


def autocast(device: torch.device, amp_dtype: torch.dtype | None) -> torch.autocast:
    """``torch.autocast`` to ``amp_dtype`` on ``device``'s type; disabled for None (fp32)."""
    return torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None)
