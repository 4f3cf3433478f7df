"""Precision chosen per machine (openhoi.precision): `auto` is bf16 only where it is native."""

import logging

import pytest
import torch

from openhoi import precision
from openhoi.errors import ConfigError


@pytest.fixture
def cpu_with(monkeypatch):
    def set_flags(*flags):
        monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(("sse2", "avx2", *flags)))
    return set_flags


def test_auto_is_bf16_only_on_cpus_with_native_bf16(cpu_with):
    cpu_with("avx512f", "avx512_bf16")
    assert precision.native_bf16("cpu")
    assert precision.resolve_precision("cpu", "auto") is torch.bfloat16
    cpu_with("amx_bf16", "amx_tile")
    assert precision.resolve_precision("cpu", "auto") is torch.bfloat16
    cpu_with("avx512f", "avx512bw")  # AVX-512 without BF16: oneDNN emulates it
    assert not precision.native_bf16("cpu")
    assert precision.resolve_precision("cpu", "auto") is None
    assert "no native bf16" in precision.describe_bf16("cpu")


def test_explicit_choices_and_defaults(cpu_with, caplog):
    cpu_with()
    assert precision.resolve_precision("cpu", "fp32") is None
    assert precision.resolve_precision("cpu", None) is None  # the default default: exact
    assert precision.resolve_precision("cpu", None, default="auto") is None
    with caplog.at_level(logging.WARNING):
        assert precision.resolve_precision("cpu", "bf16") is torch.bfloat16  # runs, but warns
    assert "emulates" in caplog.text
    assert precision.resolve_precision("cpu", "fp16") is torch.float16
    assert [precision.precision_name(d) for d in (None, torch.bfloat16, torch.float16)] == [
        "fp32", "bf16", "fp16"]


def test_unknown_precision_is_a_clear_error():
    with pytest.raises(ConfigError, match="'int8'.*auto, fp32, bf16, fp16"):
        precision.resolve_precision("cpu", "int8")


def test_this_machines_flags_are_read():
    """On Linux the flags come from /proc/cpuinfo (x86 always lists sse2, ARM 'fp')."""
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    flags = precision.cpu_flags()
    assert flags and all(f in text for f in list(flags)[:5])
    assert precision.native_bf16("cpu") == ("avx512_bf16" in flags or "amx_bf16" in flags)
