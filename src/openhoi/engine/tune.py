"""Choose CLIP-Adapter's residual ratio alpha on validation data (CLIP-Adapter tunes it per
dataset). One training run per candidate alpha, each scored by ``fit``'s model selection on the
``data.val_size`` hold-out of the training split; the test split is never read (every run has
``train.eval_test`` off). Writes ``alpha_sweep.json`` and ``tuned.yaml`` (the recipe with the
chosen alpha) next to the runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from openhoi.config import Config, replace, save_config
from openhoi.errors import ConfigError
from openhoi.fileio import atomic_write_text

log = logging.getLogger(__name__)


def alpha_run_name(alpha: float) -> str:
    """Folder of one candidate's run: ``alpha_0.2``."""
    return f"alpha_{alpha:g}"


def check_tunable(config: Config, alphas: Sequence[float]) -> None:
    """Reject a sweep that could not choose on validation data.

    Raises:
        ConfigError: no adapter, no validation hold-out, or a bad candidate list.
    """
    adapter = getattr(config.model, "adapter", None)
    if adapter is None or not adapter.where:
        raise ConfigError("model.adapter.where is empty: the recipe has no CLIP-Adapter whose "
                          "alpha could be tuned")
    if config.data.val_size <= 0:
        raise ConfigError("data.val_size must be > 0: alpha is chosen on validation images "
                          "held out of the training split, never on the test split")
    if not alphas:
        raise ConfigError("--alphas: give at least one value")
    bad = [a for a in alphas if not 0.0 <= a <= 1.0]
    if bad:
        raise ConfigError(f"--alphas: {bad} outside [0, 1]")
    if len(set(alphas)) != len(alphas):
        raise ConfigError(f"--alphas lists a value twice: {list(alphas)}")


def tune_alpha(config: Config, alphas: Sequence[float], out_dir: str | Path,
               device: torch.device, progress: bool = False) -> dict[str, Any]:
    """Train ``config`` once per alpha into ``out_dir/alpha_<a>`` and keep the alpha with the
    best validation ``train.best_metric`` (the earliest in ``alphas`` on a tie).

    Returns:
        The ``alpha_sweep.json`` record: ``metric``, ``runs`` (alpha, validation value, best
        epoch, folder) and ``chosen_alpha``.
    """
    from openhoi.engine.recognition import is_recognition, train_recognition_run
    from openhoi.engine.run import train_run

    check_tunable(config, alphas)
    out_dir = Path(out_dir)
    runs = []
    for alpha in alphas:
        cfg = replace(config, {"model.adapter.alpha": alpha, "train.eval_test": False})
        run_dir = out_dir / alpha_run_name(alpha)
        log.info("alpha %g: training into %s", alpha, run_dir)
        train = train_recognition_run if is_recognition(cfg) else train_run
        state = train(cfg, run_dir, device, progress=progress)
        runs.append({"alpha": alpha, "value": state.best_value, "best_epoch": state.best_epoch,
                     "run": str(run_dir)})
    scored = [r for r in runs if r["value"] is not None]
    if not scored:
        raise ConfigError(f"train.best_metric={config.train.best_metric!r} was never computed "
                          "on the validation set")
    chosen = max(scored, key=lambda r: r["value"])  # max keeps the first of equal values
    record = {"metric": config.train.best_metric, "split": "val",
              "val_images": config.data.val_size, "runs": runs,
              "chosen_alpha": chosen["alpha"], "chosen_run": chosen["run"]}
    atomic_write_text(out_dir / "alpha_sweep.json", json.dumps(record, indent=2) + "\n")
    save_config(replace(config, {"model.adapter.alpha": chosen["alpha"]}),
                out_dir / "tuned.yaml")
    return record
