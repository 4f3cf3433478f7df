"""Recognise human-object interactions in whole images with a recognition checkpoint (DEFR).

Writes one JSON line per image (top interactions with their scores) to --out or standard
output; with --draw, a picture per image with the list beside it. Unreadable images are
reported and skipped.
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
                        help="recognition checkpoint (.pt) or exported weights (.safetensors)")
    parser.add_argument("--out", help="JSON-lines output file (default: standard output)")
    parser.add_argument("--draw", metavar="DIR", help="write a picture per image to DIR")
    parser.add_argument("--top-k", type=int, default=5, help="interactions per image (5)")
    parser.add_argument("--min-score", type=float, default=0.0,
                        help="drop interactions scoring below this (default 0)")
    parser.add_argument("--device", help="cpu, cuda ... (default: cuda if available)")


def run(args: argparse.Namespace) -> int:
    from openhoi.data.image_io import list_images, load_image
    from openhoi.errors import OpenHOIError
    from openhoi.recognize import Recognizer, draw_interaction_list

    if args.top_k < 1:
        raise OpenHOIError("--top-k must be at least 1")
    paths = list_images(args.inputs)
    recognizer = Recognizer.from_checkpoint(args.checkpoint, args.device)
    draw_dir = Path(args.draw) if args.draw else None
    if draw_dir is not None:
        draw_dir.mkdir(parents=True, exist_ok=True)
    out = open(args.out, "w") if args.out else sys.stdout  # noqa: SIM115
    failed = 0
    try:
        for k, result in enumerate(recognizer.recognize(paths, args.top_k, args.min_score)):
            out.write(json.dumps(result.to_json()) + "\n")
            if result.error is not None:
                failed += 1
                continue
            if draw_dir is not None:
                picture = draw_interaction_list(load_image(result.image), result.interactions)
                picture.save(draw_dir / f"{Path(result.image).stem}_{k}.jpg", quality=92)
    finally:
        if out is not sys.stdout:
            out.close()
    if failed:
        print(f"openhoi recognize: {failed} of {len(paths)} images could not be read",
              file=sys.stderr)
    return 0
