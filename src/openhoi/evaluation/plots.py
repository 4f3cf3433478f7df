"""Per-class AP plots of an evaluation result (matplotlib, drawn off-screen)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openhoi.fileio import atomic_write


def plot_per_class_ap(result: dict[str, Any], path: str | Path,
                      train_counts: Sequence[int] | None = None, title: str = "") -> None:
    """Write a figure of per-class AP: against training instances (log scale) when
    ``train_counts`` is given, else sorted; rare classes in orange, non-rare in blue.

    Args:
        result: output of ``HICODetEvaluator.evaluate`` or ``HOIRecognitionEvaluator.evaluate``
            (``per_class.ap``; ``per_class.rare`` when present).
        path: image file to write (format from the suffix).
        train_counts: ``[I]`` training instances (or images) per class.
        title: figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_class = result["per_class"]
    ap = np.array([np.nan if v is None else v for v in per_class["ap"]], dtype=float) * 100
    rare = np.array(per_class.get("rare", [False] * len(ap)), dtype=bool)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    groups = ((~rare, "non-rare", "tab:blue"), (rare, "rare", "tab:orange"))
    if train_counts is not None:
        counts = np.maximum(np.asarray(train_counts, dtype=float), 0.8)  # 0 drawn at the axis
        for mask, label, color in groups:
            if mask.any():
                ax.scatter(counts[mask], ap[mask], s=9, alpha=0.7, label=label, color=color)
        ax.set_xscale("log")
        ax.set_xlabel("training instances")
        if rare.any():
            ax.axvline(10, color="grey", linestyle=":", linewidth=1)
    else:
        order = np.argsort(-np.nan_to_num(ap, nan=-1.0), kind="stable")
        x = np.arange(len(ap))
        for mask, label, color in groups:
            sel = mask[order]
            if sel.any():
                ax.bar(x[sel], ap[order][sel], width=1.0, label=label, color=color)
        ax.set_xlabel("class (sorted by AP)")
    ax.set_ylabel("AP (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if rare.any():
        ax.legend()
    fig.tight_layout()
    fmt = Path(path).suffix.lstrip(".").lower() or "png"  # the temp name has no image suffix
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt))
    plt.close(fig)
