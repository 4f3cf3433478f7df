"""Write the seeded synthetic HOI benchmark in the HICO-DET layout (test and demo data).

Example: ``openhoi make-synthetic --out data/synthetic --images 400 --seed 0``, then train with
``--set data.dataset=synthetic --set data.root=data/synthetic``.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="dataset folder to create")
    parser.add_argument("--images", type=int, default=400, help="total images (default 400)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--test-fraction", type=float, default=0.25,
                        help="share of images in the test split (default 0.25)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a synthetic dataset already in --out")


def run(args: argparse.Namespace) -> int:
    from openhoi.data.synthetic import generate_synthetic

    summary = generate_synthetic(args.out, args.images, seed=args.seed,
                                 test_fraction=args.test_fraction, overwrite=args.overwrite)
    print(f"wrote {summary.num_train} train and {summary.num_test} test images to {summary.root}")
    names = sorted(set(summary.train_counts) | set(summary.test_counts))
    width = max((len(n) for n in names), default=0)
    print(f"  {'interaction':{width}s}  train  test")
    for name in names:
        print(f"  {name:{width}s}  {summary.train_counts.get(name, 0):5d}  "
              f"{summary.test_counts.get(name, 0):4d}")
    return 0
