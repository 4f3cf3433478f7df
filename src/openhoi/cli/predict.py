"""Detect human-object interactions in your own images with a trained checkpoint.

Writes one JSON line per image (human box, object box, object, verb, score; image pixels,
xyxy) to --out or standard output, and with --draw a picture per image. Unreadable images are
reported and skipped; the rest go on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="PATH",
                        help="image files, folders or glob patterns (quote globs)")
    parser.add_argument("--checkpoint", required=True,
                        help="openhoi checkpoint (.pth) or exported weights (.safetensors)")
    parser.add_argument("--out", help="JSON-lines output file (default: standard output)")
    parser.add_argument("--draw", metavar="DIR", help="write a picture per image to DIR")
    parser.add_argument("--top-k", type=int, default=10,
                        help="triplets kept per image, best first (default 10)")
    parser.add_argument("--min-score", type=float, default=0.0,
                        help="drop triplets scoring below this (default 0)")
    parser.add_argument("--interactions", metavar="LIST",
                        help="open vocabulary: 'ride horse,feed horse,hold umbrella' or a .txt "
                             "file with one per line; replaces the trained interaction classes")
    parser.add_argument("--objects", metavar="LIST",
                        help="open object vocabulary: 'cup,mug,teapot' or a .txt file; each "
                             "object brings its trained interactions, a new object one per "
                             "trained verb (added to --interactions when both are given)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")


def run(args: argparse.Namespace) -> int:
    from openhoi.data.image_io import list_images, load_image
    from openhoi.errors import OpenHOIError
    from openhoi.open_vocab import read_interaction_list
    from openhoi.predict import HOIPredictor
    from openhoi.visualize import draw_triplets

    if args.top_k is not None and args.top_k < 1:
        raise OpenHOIError("--top-k must be at least 1")
    paths = list_images(args.inputs)
    entries = read_interaction_list(args.interactions) if args.interactions else None
    objects = read_interaction_list(args.objects) if args.objects else None
    predictor = HOIPredictor.from_checkpoint(args.checkpoint, args.device, entries, objects)
    draw_dir = Path(args.draw) if args.draw else None
    if draw_dir is not None:
        draw_dir.mkdir(parents=True, exist_ok=True)
    out = open(args.out, "w") if args.out else sys.stdout  # noqa: SIM115
    failed, used_names = 0, set()
    try:
        for result in predictor.predict(paths, args.batch_size, args.top_k, args.min_score,
                                        progress=args.out is not None):
            out.write(json.dumps(result.to_json()) + "\n")
            out.flush()
            if result.error is not None:
                failed += 1
                continue
            if draw_dir is not None:
                picture = draw_triplets(load_image(result.image), result.triplets)
                name, k = Path(result.image).stem, 1
                while name in used_names:  # same file name in two folders: keep both
                    k += 1
                    name = f"{Path(result.image).stem}_{k}"
                used_names.add(name)
                picture.save(draw_dir / f"{name}.jpg", quality=92)
    finally:
        if out is not sys.stdout:
            out.close()
    if failed:
        print(f"openhoi predict: {failed} of {len(paths)} images could not be read "
              "(see the 'error' entries)", file=sys.stderr)
    return 0
