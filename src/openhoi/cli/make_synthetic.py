"""Write the seeded synthetic HOI benchmark in the HICO-DET layout (test and demo data), or in
the V-COCO layout with V-COCO's official evaluation files (``--layout vcoco``).

Example: ``openhoi make-synthetic --out data/synthetic --images 400 --seed 0``, then train with
``--set data.dataset=synthetic --set data.root=data/synthetic``;
``openhoi make-synthetic --layout vcoco --out data/synthetic_vcoco``, then
``openhoi train --config synthetic_tiny_vcoco --set data.root=data/synthetic_vcoco``.
``--semantic`` writes the semantic benchmark instead (objects from shared visual attributes,
zero-shot splits a text embedding can bridge; train with
``--set data.label_space=synthetic_semantic``; HICO-DET layout only).
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
    parser.add_argument("--layout", choices=["hicodet", "vcoco"], default="hicodet",
                        help="HICO-DET layout (default) or V-COCO layout + official files")
    parser.add_argument("--semantic", action="store_true",
                        help="the semantic benchmark (label space synthetic_semantic)")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import shutil
    import tempfile
    from pathlib import Path

    from openhoi.data.synthetic import generate_synthetic
    from openhoi.data.synthetic_vcoco import write_vcoco_layout

    if args.semantic and args.layout != "hicodet":
        from openhoi.errors import DataError

        raise DataError("make-synthetic: --semantic writes the HICO-DET layout only")
    if args.layout == "hicodet":
        summary = generate_synthetic(args.out, args.images, seed=args.seed,
                                     test_fraction=args.test_fraction, overwrite=args.overwrite,
                                     semantic=args.semantic)
    else:
        out = Path(args.out)
        if (out / "annotations").exists() and not args.overwrite:
            from openhoi.errors import DataError

            raise DataError(f"{out}: already holds a dataset (use --overwrite to replace it)")
        shutil.rmtree(out / "images", ignore_errors=True)
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out, prefix=".hico-") as tmp:
            summary = generate_synthetic(tmp, args.images, seed=args.seed,
                                         test_fraction=args.test_fraction)
            write_vcoco_layout(tmp, out)
        summary = dataclasses.replace(summary, root=out)
    print(f"wrote {summary.num_train} train and {summary.num_test} test images to {summary.root}")
    names = sorted(set(summary.train_counts) | set(summary.test_counts))
    width = max((len(n) for n in names), default=0)
    print(f"  {'interaction':{width}s}  train  test")
    for name in names:
        print(f"  {name:{width}s}  {summary.train_counts.get(name, 0):5d}  "
              f"{summary.test_counts.get(name, 0):4d}")
    return 0
