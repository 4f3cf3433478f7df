"""Check a dataset before training on it: images, pairs per interaction, classes without
training examples, boxes out of bounds, duplicate files. Prints text; --json and --plot write
the report as JSON and a bar chart of instances per interaction.

  openhoi data-report datasets/kitchen                    # custom: uses its label_space.json
  openhoi data-report hico_20160224_det --dataset hicodet --plot hico.png
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("root", help="dataset folder")
    parser.add_argument("--dataset", choices=["custom", "hicodet", "vcoco", "synthetic"],
                        default="custom", help="folder layout (default custom)")
    parser.add_argument("--label-space", help="label space name or JSON (default: the "
                        "dataset's; <root>/label_space.json for custom)")
    parser.add_argument("--json", metavar="FILE", help="write the whole report as JSON")
    parser.add_argument("--plot", metavar="FILE", help="write a chart of instances per "
                        "interaction (.png, .pdf...)")
    parser.add_argument("--box-tolerance", type=float, default=0.02,
                        help="boxes may overshoot the image by this fraction of its side")
    parser.add_argument("--no-hash", action="store_true",
                        help="skip the identical-file check (it reads every image)")


def run(args: argparse.Namespace) -> int:
    from openhoi.config import DataConfig
    from openhoi.data.dataset import LAYOUTS, resolve_label_space
    from openhoi.data.report import dataset_report, format_report, plot_report

    cfg = DataConfig(dataset=args.dataset, root=args.root, label_space=args.label_space)
    space = resolve_label_space(cfg)
    report = dataset_report(lambda split: LAYOUTS[args.dataset](args.root, split), space,
                            tolerance=args.box_tolerance, hash_files=not args.no_hash)
    print(format_report(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"report: {args.json}")
    if args.plot:
        plot_report(report, args.plot)
        print(f"plot: {args.plot}")
    return 0
