"""Curves of a run from its ``metrics.jsonl``: training losses and validation/test scores."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openhoi.engine.metrics import read_metrics
from openhoi.errors import OpenHOIError
from openhoi.fileio import atomic_write


def _numbers(record: dict[str, Any], keys: Sequence[str]) -> dict[str, float]:
    return {k: float(record[k]) for k in keys
            if isinstance(record.get(k), int | float) and not isinstance(record.get(k), bool)}


def score_keys(records: Sequence[dict[str, Any]]) -> list[str]:
    """The evaluator keys worth a curve: every ``mAP*`` key, else every number except counts."""
    keys: list[str] = []
    for r in records:
        for k, v in r.items():
            if (k not in keys and isinstance(v, int | float) and not isinstance(v, bool)
                    and k not in ("epoch", "time", "step", "selected_epoch")):
                keys.append(k)
    maps = [k for k in keys if k.startswith("mAP")]
    return maps or [k for k in keys if not k.startswith("num_")]


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Draw ``loss.png`` (step losses and epoch means per term) and, when the run was
    evaluated, ``map.png`` (validation scores per epoch, the test score as a marker).

    Returns:
        The written PNG paths (``RUN_DIR/plots/`` unless ``out_dir`` is given).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise OpenHOIError(f"{path}: no metrics log (is {run_dir} a training run folder?)")
    records = read_metrics(path)
    steps = [r for r in records if r["kind"] == "train_step"]
    epochs = [r for r in records if r["kind"] == "train_epoch"]
    if not steps and not epochs:
        raise OpenHOIError(f"{path}: no training record yet")
    out = Path(out_dir) if out_dir is not None else run_dir / "plots"
    out.mkdir(parents=True, exist_ok=True)
    written = []

    # the total and the last layer's terms; auxiliary-layer terms (``loss_*_<i>``) are left out
    terms = [k for k in (epochs or steps)[0]
             if k.startswith("loss") and not re.search(r"_\d+$", k)]
    fig, ax = plt.subplots(figsize=(8, 5))
    for k in terms:
        line = None
        if steps:
            pts = [(r["step"], v[k]) for r in steps if k in (v := _numbers(r, [k]))]
            (line,) = ax.plot(*zip(*pts) if pts else ([], []), alpha=0.35, lw=0.8,
                              label=None if epochs else k)
        if epochs:
            color = line.get_color() if line is not None else None
            ax.plot([r["step"] for r in epochs], [r[k] for r in epochs], "o-", ms=3,
                    color=color, lw=1.8 if k == "loss" else 1.0, label=f"{k} (epoch mean)")
    ax.set(xlabel="optimizer step", ylabel="weighted loss", yscale="log",
           title=f"{run_dir.name}: training loss")
    written.append(_save(fig, ax, out / "loss.png"))

    val = [r for r in records if r["kind"] == "val"]
    test = [r for r in records if r["kind"] == "test"]
    if val or test:
        fig, ax = plt.subplots(figsize=(8, 5))
        for k in score_keys(val or test):
            pts = [(r["epoch"] + 1, v[k]) for r in val if k in (v := _numbers(r, [k]))]
            if pts:
                (line,) = ax.plot(*zip(*pts), "o-", ms=3, label=f"val {k}")
            for r in test:
                if k in _numbers(r, [k]):
                    ax.plot(r.get("selected_epoch", r["epoch"] + 1), r[k], "*", ms=12,
                            label=f"test {k}",
                            color=line.get_color() if pts else None)
        best = [r for r in val if r.get("best")]
        if best:
            ax.axvline(best[-1]["epoch"] + 1, color="grey", ls=":", lw=1, label="selected")
        ax.set(xlabel="epoch", ylabel="score", title=f"{run_dir.name}: evaluation")
        written.append(_save(fig, ax, out / "map.png"))
    return written


def _save(fig: Any, ax: Any, path: Path) -> Path:
    """Grid, legend, tight layout, write ``path`` at 120 dpi, close the figure."""
    import matplotlib.pyplot as plt

    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fmt = Path(path).suffix.lstrip(".").lower() or "png"  # the temp name has no image suffix
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=120))
    plt.close(fig)
    return path
