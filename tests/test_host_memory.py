"""openhoi.host_memory: freed host memory is kept for the next tensor (glibc malloc)."""

import json
import subprocess
import sys

import pytest

from openhoi import host_memory
from openhoi.host_memory import apply_host_memory_env, set_host_memory

GLIBC = host_memory._libc() is not None
needs_glibc = pytest.mark.skipif(not GLIBC, reason="the C library is not glibc")

# A child process: apply a mode (or nothing), allocate, touch and free a 64 MiB tensor 10 times
# (glibc's aligned allocation needs a few freed chunks to merge before one fits the next
# request), then count the page faults and the resident growth of 10 more cycles.
_CYCLES = """
import json, resource, sys, torch
from openhoi.host_memory import set_host_memory
mode = sys.argv[1]
applied = set_host_memory(mode) if mode != "none" else None
def cycle():
    x = torch.empty(16 << 20)  # 64 MiB of float32
    x.fill_(1.0)
    del x
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
for _ in range(10):
    cycle()
before, rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, rss()
for _ in range(10):
    cycle()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"applied": applied, "faults": faults, "grew": rss() - rss0}))
"""


def _cycles(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CYCLES, mode], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.splitlines()[-1])


def _huge_pages_always() -> bool:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[always]" in f.read()
    except OSError:
        return False


@needs_glibc
def test_reuse_serves_a_freed_big_tensor_again_without_page_faults():
    pages = (64 << 20) // 4096  # 16,384 pages per cycle when each is faulted in afresh
    default, system, reuse = _cycles("none"), _cycles("system"), _cycles("reuse")
    if not _huge_pages_always():  # else the kernel faults 2 MiB at a time
        assert default["faults"] > 5 * pages and system["faults"] > 5 * pages  # fresh mmaps
    assert system["applied"] is True and reuse["applied"] is True
    assert reuse["faults"] < pages // 16  # the heap keeps the freed 64 MiB ...
    assert reuse["grew"] < (1 << 20)  # ... and serves it again instead of growing


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="reuse"):
        set_host_memory("cached")


@pytest.fixture
def mallopt_calls(monkeypatch):
    """Record ``set_host_memory`` instead of changing this process's malloc."""
    calls = []

    def fake(mode):
        calls.append(mode)
        return True

    monkeypatch.setattr(host_memory, "set_host_memory", fake)
    for name in (host_memory.ENV, *host_memory._USER_TUNING):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_env_default_is_reuse(mallopt_calls):
    assert apply_host_memory_env() == "reuse" and mallopt_calls == ["reuse"]


@pytest.mark.parametrize("value", ["system", "SYSTEM "])
def test_env_system_leaves_glibc_alone(mallopt_calls, monkeypatch, value):
    monkeypatch.setenv(host_memory.ENV, value)
    assert apply_host_memory_env() is None and mallopt_calls == []


@pytest.mark.parametrize("name", ["MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"])
def test_users_own_malloc_tuning_wins(mallopt_calls, monkeypatch, name):
    monkeypatch.setenv(name, "65536")
    assert apply_host_memory_env() is None and mallopt_calls == []


def test_env_typo_warns_and_changes_nothing(mallopt_calls, monkeypatch, caplog):
    monkeypatch.setenv(host_memory.ENV, "resue")
    assert apply_host_memory_env() is None and mallopt_calls == []
    assert "resue" in caplog.text and "OPENHOI_HOST_MEMORY" in caplog.text


def test_not_glibc_changes_nothing(monkeypatch):
    monkeypatch.setattr(host_memory, "_libc", lambda: None)
    assert set_host_memory("reuse") is False


@needs_glibc
def test_reuse_still_serves_big_tensors_made_in_other_threads():
    """glibc serves a thread from an arena of its own, at most 64 MiB; with mmap off it falls
    back to the main heap instead of failing."""
    code = """
import threading, torch
from openhoi.host_memory import set_host_memory
assert set_host_memory("reuse")
out = []
def work():
    x = torch.ones(50 << 20)  # 200 MiB
    out.append(float(x.sum()))
t = threading.Thread(target=work)
t.start()
t.join()
print(out)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"[{float(50 << 20)}]"
