"""Draw a training run's loss and mAP curves (from RUN_DIR/metrics.jsonl) to PNG files."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run folder written by `openhoi train --output`")
    parser.add_argument("--out", default=None, help="folder for the PNGs (default RUN_DIR/plots)")


def run(args: argparse.Namespace) -> int:
    from openhoi.engine.plots import plot_run

    for path in plot_run(args.run_dir, args.out):
        print(path)
    return 0
