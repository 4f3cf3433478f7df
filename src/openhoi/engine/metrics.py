"""The run's metrics log: one JSON object per line in ``RUN_DIR/metrics.jsonl``, rank 0 only.

Record kinds (field ``kind``), every record also has ``epoch`` (0-based, the epoch it belongs
to) and ``time`` (UNIX seconds):

    train_step  step, lr (per group), loss, loss_<term>..., grad_norm, images_per_s
    train_epoch step, lr, loss, loss_<term>... (means over the epoch), seconds
    val         step, the evaluator's results, best (bool)
    test        the evaluator's results on the test split, checkpoint (which weights),
                selected_epoch (completed epochs of those weights)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from openhoi.engine.distributed import is_main_process
from openhoi.fileio import atomic_write_text, output_errors


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: write them as strings so a diverged run still logs validly."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class MetricsLog:
    """Append-only JSON-lines writer; silent on ranks other than 0."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def write(self, kind: str, epoch: int, **fields: Any) -> None:
        if not is_main_process():
            return
        record = {"kind": kind, "epoch": epoch, "time": round(time.time(), 3), **fields}
        with output_errors(self.path), open(self.path, "a") as f:
            f.write(json.dumps(_clean(record)) + "\n")

    def truncate_from_epoch(self, epoch: int) -> int:
        """Drop records of epochs ``>= epoch`` (what a killed run logged after its last
        checkpoint), so a resumed run's log reads as one uninterrupted run. Returns how many
        records were dropped."""
        if not is_main_process() or not self.path.is_file():
            return 0
        records = read_metrics(self.path)
        keep = [r for r in records if r.get("epoch", 0) < epoch]
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in keep))
        return len(records) - len(keep)


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All records of a ``metrics.jsonl`` (a torn last line from a killed run is skipped)."""
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


class RunningMean:
    """Means of named scalars over an epoch (for the epoch record and the progress bar)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def update(self, values: Mapping[str, float]) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self) -> dict[str, float]:
        return {k: self.sums[k] / self.counts[k] for k in self.sums}

    def __iter__(self) -> Iterator[str]:
        return iter(self.sums)
