"""Convert interchange CSV annotations (one row per image, human box, object box, object, verb)
into a dataset folder in the HICO-DET json layout with your label space:

  openhoi convert-annotations --label-space label_space.json --train train.csv \\
      --test test.csv --images photos/ --out datasets/kitchen

The CSV format and the folder layout are described in docs/custom_dataset.md and
openhoi.data.custom. Train on the result with `--set data.dataset=custom --set
data.root=datasets/kitchen`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--label-space", required=True,
                        help="your label space JSON (`openhoi label-space build`)")
    parser.add_argument("--train", help="training annotations (interchange CSV)")
    parser.add_argument("--test", help="test annotations (interchange CSV)")
    parser.add_argument("--images", required=True,
                        help="folder the CSV 'image' column is relative to")
    parser.add_argument("--out", required=True, help="dataset folder to write")
    parser.add_argument("--image-mode", choices=["link", "copy", "symlink"], default="link",
                        help="how images enter the dataset folder: hard link (copy across file "
                             "systems, the default), copy or symbolic link")
    parser.add_argument("--box-tolerance", type=float, default=0.02,
                        help="boxes may overshoot the image by this fraction of its side")


def run(args: argparse.Namespace) -> int:
    from openhoi.data.custom import convert_csv
    from openhoi.errors import ConfigError
    from openhoi.label_space import load_label_space

    splits = {k: v for k, v in (("train", args.train), ("test", args.test)) if v}
    if not splits:
        raise ConfigError("give --train and/or --test annotation CSVs")
    space = load_label_space(args.label_space)
    for s in convert_csv(splits, space, args.images, args.out, image_mode=args.image_mode,
                         box_tolerance=args.box_tolerance):
        dups = f", {s.duplicates_dropped} duplicate rows dropped" if s.duplicates_dropped else ""
        print(f"{s.split}: {s.num_images} images, {s.num_entries} HOI instances -> "
              f"{s.annotation_file}{dups}")
    print(f"dataset ready: --set data.dataset=custom --set data.root={args.out}")
    return 0
