"""Detect human-object interactions in your own images with a trained checkpoint.

  openhoi predict photo.jpg --checkpoint runs/tiny/model.safetensors
  openhoi predict photos/ --checkpoint runs/tiny/checkpoints/last.pt --out preds.jsonl \\
      --draw pictures/ --min-score 0.5
  openhoi predict photos/ --checkpoint runs/tiny/model.safetensors \\
      --interactions "ride bicycle,hold umbrella" --set model.postprocess.use_nms=false

Writes one JSON line per image (human box, object box, object, verb, score; image pixels,
xyxy; with --draw the picture's path) to --out or standard output, and with --draw a picture
per image (human box solid, object box dashed). A score is the interaction score plus the
squared object score (GEN-VLKT/HOICLIP's fusion, model.postprocess.score_fusion=sum), so it
lies in [0, 2], not [0, 1]: --min-score 1 keeps fairly confident triplets.

An image that cannot be read or predicted gets an "error" line and the rest go on; the exit
status is 2 when every image failed. --out is written whole or not at all (a temp file renamed
at the end, so concurrent runs never interleave); existing --out / --draw files are never
replaced unless --overwrite is given.
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
                        help="a run's model.safetensors, or a training checkpoint "
                             "(checkpoints/best.pt, last.pt, `openhoi convert` output)")
    parser.add_argument("--out", help="JSON-lines output file (default: standard output)")
    parser.add_argument("--draw", metavar="DIR", help="write a picture per image to DIR")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out file and --draw pictures")
    parser.add_argument("--top-k", type=int, default=10,
                        help="triplets kept per image, best first (default 10)")
    parser.add_argument("--min-score", type=float, default=0.0,
                        help="drop triplets scoring below this; scores are in [0, 2] "
                             "(interaction + object^2; default fusion), default 0")
    parser.add_argument("--interactions", metavar="LIST",
                        help="open vocabulary: 'ride horse,feed horse,hold umbrella' or a .txt "
                             "file with one per line; replaces the trained interaction classes")
    parser.add_argument("--objects", metavar="LIST",
                        help="open object vocabulary: 'cup,mug,teapot' or a .txt file; each "
                             "object brings its trained interactions, a new object one per "
                             "trained verb (added to --interactions when both are given)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="inference setting (repeatable): model.postprocess.use_nms, "
                             "model.postprocess.nms_threshold, model.postprocess.top_k, "
                             "model.interaction.zero_shot_topk, data.test_scale, data.max_size")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                        help="forward-pass precision: auto = bf16 where the device computes "
                             "it natively (CUDA, CPUs with AVX512-BF16/AMX), else fp32 "
                             "(default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (shown on standard error with --out)")


def drawing_names(paths: list[Path]) -> list[str]:
    """A distinct picture name per input, ``STEM.jpg``; same-named inputs from different
    folders get ``STEM_2.jpg``, ``STEM_3.jpg``... in input order."""
    used: set[str] = set()
    out = []
    for p in paths:
        name, k = p.stem, 1
        while name in used:
            k += 1
            name = f"{p.stem}_{k}"
        used.add(name)
        out.append(f"{name}.jpg")
    return out


def _check_outputs(args: argparse.Namespace, pictures: list[Path]) -> None:
    """Refuse, before any work, outputs that exist (without --overwrite) or cannot be
    written."""
    from openhoi.errors import OutputError
    from openhoi.fileio import check_writable_dir

    if args.out:
        out = Path(args.out)
        if out.is_dir():
            raise OutputError(f"--out {out}: is a folder; give a file name (preds.jsonl)")
        if out.exists() and not args.overwrite:
            raise OutputError(f"--out {out} exists: pass --overwrite to replace it, or choose "
                              "another file")
        check_writable_dir(out.parent, "--out")
    if args.draw:
        check_writable_dir(args.draw, "--draw")
        existing = [p for p in pictures if p.exists()]
        if existing and not args.overwrite:
            raise OutputError(f"--draw {args.draw}: {len(existing)} pictures exist already "
                              f"(first: {existing[0]}): pass --overwrite to replace them, or "
                              "choose another folder")


def run(args: argparse.Namespace) -> int:
    from openhoi.data.image_io import list_images
    from openhoi.errors import OpenHOIError
    from openhoi.open_vocab import read_interaction_list

    if args.top_k is not None and args.top_k < 1:
        raise OpenHOIError("--top-k must be at least 1")
    paths = list_images(args.inputs)
    pictures = [Path(args.draw) / n for n in drawing_names(paths)] if args.draw else []
    _check_outputs(args, pictures)
    # An empty --interactions "" is an error (read_interaction_list), not "use the trained".
    entries = read_interaction_list(args.interactions) if args.interactions is not None else None
    objects = read_interaction_list(args.objects) if args.objects is not None else None

    from openhoi.predict import HOIPredictor

    predictor = HOIPredictor.from_checkpoint(args.checkpoint, args.device, entries, objects,
                                             args.precision)
    if args.overrides:
        predictor.apply_settings(args.overrides)
    failed = _write_results(args, predictor, paths, pictures)
    if failed == len(paths):
        print(f"openhoi predict: error: none of the {len(paths)} images could be read and "
              "predicted (see the 'error' entries)", file=sys.stderr)
        return 2
    if failed:
        print(f"openhoi predict: {failed} of {len(paths)} images could not be read or predicted "
              "(see the 'error' entries)", file=sys.stderr)
    return 0


def _write_line(out, result) -> None:
    out.write(json.dumps(result.to_json()) + "\n")
    out.flush()


def _write_results(args: argparse.Namespace, predictor, paths: list[Path],
                   pictures: list[Path]) -> int:
    """Predict, draw, write the JSON lines; returns how many images failed."""
    from openhoi.data.image_io import load_image
    from openhoi.fileio import atomic_write, clean_stale_temps, output_errors, publish, temp_path
    from openhoi.visualize import draw_triplets

    out_path = Path(args.out) if args.out else None
    tmp = None
    if out_path is not None:
        clean_stale_temps(out_path)  # what a killed run left
        tmp = temp_path(out_path)
    failed = 0
    try:
        with output_errors(out_path or "standard output"):
            out = open(tmp, "w") if tmp is not None else sys.stdout  # noqa: SIM115
            try:
                results = predictor.predict(paths, args.batch_size, args.top_k, args.min_score,
                                            progress=out_path is not None
                                            and not args.no_progress)
                for k, result in enumerate(results):
                    if result.error is not None:
                        failed += 1
                    elif pictures:
                        picture = draw_triplets(load_image(result.image), result.triplets)
                        atomic_write(pictures[k], lambda t, pic=picture: pic.save(
                            t, format="JPEG", quality=92))
                        result.drawing = str(pictures[k])
                    _write_line(out, result)
            finally:
                if out is not sys.stdout:
                    out.close()
        if tmp is not None:
            publish(tmp, out_path, args.overwrite)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return failed
