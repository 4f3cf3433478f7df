"""Tune CLIP-Adapter's residual ratio alpha on validation data:
``openhoi tune-alpha --config RECIPE --output DIR [--alphas A ...] [--set a.b=c ...]``.

  openhoi make-synthetic --out data/synthetic
  openhoi tune-alpha --config synthetic_defr_clip_adapter --set data.root=data/synthetic \\
      --output runs/alpha --alphas 0.1 0.2 0.5

Trains the recipe once per alpha (DIR/alpha_<a>/, ordinary run folders) and scores each on the
``data.val_size`` images held out of the training split, never on the test split (the runs
skip the test evaluation). DIR/alpha_sweep.json lists the validation values and the chosen
alpha; DIR/tuned.yaml is the recipe with it (``openhoi train --config DIR/tuned.yaml ...``),
and DIR/alpha_<chosen>/model.safetensors is already trained with it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DEFAULT_ALPHAS = (0.05, 0.1, 0.2, 0.3, 0.5)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True,
                        help="recipe with model.adapter.where set and data.val_size > 0")
    parser.add_argument("--output", required=True, help="folder of the runs and the record")
    parser.add_argument("--alphas", type=float, nargs="+", default=list(DEFAULT_ALPHAS),
                        help="candidate residual ratios (default "
                             f"{' '.join(map(str, DEFAULT_ALPHAS))})")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config value (repeatable)")
    parser.add_argument("--device", default=None, help="cpu, cuda... (default: cuda if any)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import torch

    from openhoi.config import load_config, replace
    from openhoi.engine.tune import alpha_run_name, check_tunable, tune_alpha
    from openhoi.errors import ConfigError
    from openhoi.fileio import check_writable_dir

    config = load_config(args.config, args.overrides)
    if config.data.root is None and os.environ.get("OPENHOI_DATA"):
        config = replace(config, {"data.root": os.environ["OPENHOI_DATA"]})
    check_tunable(config, args.alphas)
    out = Path(args.output)
    taken = [a for a in args.alphas if (out / alpha_run_name(a)).exists()]
    if taken:
        raise ConfigError(f"--output {out}: runs for alphas {taken} already exist there; "
                          "choose another folder")
    check_writable_dir(out, "--output")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    record = tune_alpha(config, args.alphas, out, device, progress=not args.no_progress)
    for r in record["runs"]:
        value = "n/a" if r["value"] is None else f"{r['value']:.4f}"
        print(f"alpha {r['alpha']:<6g} validation {record['metric']} {value}")
    print(f"chosen alpha {record['chosen_alpha']:g} (validation only): {out / 'tuned.yaml'}, "
          f"trained run {record['chosen_run']}")
    return 0
