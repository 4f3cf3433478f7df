"""Run a benchmark's step function in a process of its own, step by step, from the parent.

Each implementation then runs as it ships: its own heap and malloc policy (openhoi's commands
keep freed host memory, ``openhoi.host_memory``; the references leave glibc alone), its own
torch state. The parent takes the turns (A B A B ...), so the drifts of a shared machine hit
every implementation alike, and reads each step's wall and CPU seconds as the child measured
them (the child's CPU time counts all its threads; the pipe is outside the timing).

Protocol: the child prints ``@@step {json}`` lines on stdout (anything else it prints, e.g. the
reference code's messages, goes through to the parent's stderr); the parent writes one command
per line on the child's stdin.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence

from infer_measure import in_turns, split_times

MARK = "@@step "


def serve(handlers: dict[str, Callable[[str], dict]]) -> None:
    """The child's loop: ``ready``, then for each ``NAME ARG`` line the JSON of
    ``handlers[NAME](ARG)`` until ``quit`` or end of input."""
    print(MARK + json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        name, _, arg = line.strip().partition(" ")
        if name in ("", "quit"):
            break
        print(MARK + json.dumps(handlers[name](arg)), flush=True)


class StepProcess:
    """A child ``python argv...`` that answers ``call(name, arg)`` (its ``serve`` loop)."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.proc = subprocess.Popen([sys.executable, *argv], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self._read()  # ready: the model is built

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(MARK):
                return json.loads(line[len(MARK):])
            sys.stderr.write(line)
        raise RuntimeError(f"benchmark child {self.proc.args} ended "
                           f"(exit code {self.proc.wait()})")

    def call(self, name: str, arg: str = "") -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{name} {arg}\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def turns(procs: Sequence[StepProcess], arg: str, warmup: int, runs: int
          ) -> tuple[list[list[float]], list[list[float]]]:
    """``time_in_turns`` across processes: ``(walls, cpus)``, one list per process, of
    ``runs`` ``step`` calls each after ``warmup`` untimed rounds, as each child timed them
    (its ``step`` handler answers ``timed``'s pair as ``{"wall": s, "cpu": s}``)."""
    def step(p: StepProcess) -> tuple[float, float]:
        r = p.call("step", arg)
        return r["wall"], r["cpu"]

    return split_times(in_turns([lambda p=p: step(p) for p in procs], warmup, runs))
