"""The main job on an embedded default, with nothing but the package: generate the seeded
synthetic HOI benchmark, train the tiny recipe on CPU (a few minutes, progress bar), evaluate
it against the untrained model, draw predictions on held-out images, and write report.md
(mAP table, loss curve, pictures)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="openhoi-demo",
                        help="output folder (default: %(default)s)")
    parser.add_argument("--images", type=int, default=400,
                        help="synthetic images to generate (default: %(default)s)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config value (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from openhoi.demo import NOT_LEARNED, learned, run_demo

    result = run_demo(args.out, images=args.images, epochs=args.epochs, seed=args.seed,
                      device=args.device, progress=not args.no_progress,
                      overrides=tuple(args.overrides))
    print(f"\nopenhoi demo: trained in {result.train_seconds / 60:.1f} min")
    for key, label in (("mAP", "mAP (Full)"), ("mAP_rare", "mAP Rare"),
                       ("mAP_non_rare", "mAP Non-rare")):
        a, b = result.untrained.get(key), result.trained.get(key)
        if a is not None and b is not None:
            print(f"  {label:14s} untrained {100 * a:6.2f}   trained {100 * b:6.2f}")
    if not learned(result.untrained, result.trained):
        print("  note: " + NOT_LEARNED)
    print(f"  best triplet right on {100 * result.top1_right:.0f}% of the test images")
    print(f"  report:     {result.report}")
    print(f"  pictures:   {result.pictures[0].parent if result.pictures else '-'}")
    print(f"  checkpoint: {result.checkpoint}")
    return 0
