"""Recognise human-object interactions in whole images with a recognition checkpoint (DEFR).

  openhoi recognize photos/ --checkpoint runs/defr/model.safetensors --draw pictures/
  openhoi recognize hico_20160224_det/images/test2015 --checkpoint runs/defr/model.safetensors \\
      --detections detections_test2015.json --out triplets.npz

Writes one JSON line per image (top interactions with their scores) to --out or standard
output; with --draw, a picture per image with the list beside it. Unreadable images are
reported and skipped.

--interactions / --objects (open vocabulary, as `openhoi predict`): the model scores the listed
classes instead of its trained ones; trained classes keep their rows, new ones get the rows of
its language initialisation (the text encoder and templates of its config). A randomly
initialised classifier cannot add classes (exit 2). With --detections, the file's object names
are mapped onto the listed objects (e.g. a ViLD detector's `detect-instances --objects`).

With --detections (a detections file, or SCG / DEFR's folder of per-image JSONs; layouts in
openhoi.data.detections), HOI
detection the DEFR way: every human x instance pair of each image's detections is scored by the
model (--region: DEFR's box attention mask on CLIP ViTs, or the pair's union box cropped),
times the detection scores (s_hoi^1 * s_h^6 * s_o^3, DEFR's eval/cache.py), for the
interactions of the detected object only. The triplets go to --out in
openhoi's predictions format (.json, .jsonl or .npz), which `openhoi evaluate --dataset hicodet
--predictions` scores. Images are matched to the file's entries by file name.
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
    parser.add_argument("--interactions", metavar="LIST",
                        help="open vocabulary: 'ride horse,feed giraffe' or a .txt file with "
                             "one per line; replaces the trained interaction classes (new ones "
                             "need a language-initialised model)")
    parser.add_argument("--objects", metavar="LIST",
                        help="open object vocabulary: 'cup,giraffe' or a .txt file; each object "
                             "brings its trained interactions, a new object one per trained "
                             "verb (added to --interactions when both are given)")
    det = parser.add_argument_group("HOI detection from detections (--detections)")
    det.add_argument("--detections", metavar="FILE",
                     help="detections JSON (or SCG / DEFR's folder of per-image JSONs): score "
                          "their human-object pairs and write HICO-DET triplets to --out "
                          "(.json, .jsonl or .npz)")
    det.add_argument("--box-score-thresh", type=float, default=0.2,
                     help="drop detections scoring below this (DEFR/SCG: 0.2)")
    det.add_argument("--box-nms", type=float, default=0.5,
                     help="per-class NMS IoU of the detections (0.5)")
    det.add_argument("--max-instances", type=int, default=15,
                     help="humans, and separately objects, kept per image at most (15)")
    det.add_argument("--score-powers", type=float, nargs=3, default=(6.0, 3.0, 1.0),
                     metavar=("H", "O", "I"),
                     help="triplet score = s_h^H * s_o^O * s_hoi^I (DEFR: 6 3 1)")
    det.add_argument("--region", choices=["auto", "mask", "union"], default="auto",
                     help="what the model sees of a pair: mask = DEFR's released code (whole "
                          "image, class token limited to the two boxes; CLIP ViT models), "
                          "union = the pair's union box cropped (any model); auto = mask "
                          "where possible (default)")
    det.add_argument("--mask-layers", type=int, default=1,
                     help="--region mask: last blocks with the box mask (DEFR test.py: 1)")
    det.add_argument("--batch-size", type=int, default=32, help="pairs per forward (32)")


def run(args: argparse.Namespace) -> int:
    from openhoi.data.image_io import list_images, load_image
    from openhoi.errors import OpenHOIError
    from openhoi.recognize import draw_interaction_list

    if args.top_k < 1:
        raise OpenHOIError("--top-k must be at least 1")
    if args.detections:
        return _detect(args)
    paths = list_images(args.inputs)
    recognizer = _recognizer(args)
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


def _recognizer(args: argparse.Namespace):
    """The checkpoint's ``Recognizer``, retargeted to --interactions / --objects if given."""
    from openhoi.open_vocab import read_interaction_list
    from openhoi.recognize import Recognizer

    # An empty --interactions "" is an error (read_interaction_list), not "use the trained".
    entries = read_interaction_list(args.interactions) if args.interactions is not None else None
    objects = read_interaction_list(args.objects) if args.objects is not None else None
    return Recognizer.from_checkpoint(args.checkpoint, args.device, entries, objects)


def _detect(args: argparse.Namespace) -> int:
    """--detections: triplets of every image to --out (openhoi predictions format)."""
    import logging

    from tqdm import tqdm

    from openhoi.data.detections import load_detections
    from openhoi.data.image_io import list_images
    from openhoi.errors import ConfigError
    from openhoi.evaluation import write_predictions
    from openhoi.fileio import check_writable_dir
    from openhoi.pair_recognition import PairRecognizer, PairScoring

    if not args.out or Path(args.out).suffix not in (".json", ".jsonl", ".npz"):
        raise ConfigError("--detections needs --out FILE ending in .json, .jsonl or .npz "
                          "(openhoi predictions format)")
    if args.draw:
        raise ConfigError("--draw pictures image-level lists; with --detections, draw the "
                          "triplets from --out")
    check_writable_dir(Path(args.out).parent, "--out")
    p_h, p_o, p_i = args.score_powers
    scoring = PairScoring(args.box_score_thresh, args.box_nms, args.max_instances, p_h, p_o,
                          p_i, args.region, args.mask_layers, args.batch_size)
    paths = list_images(args.inputs)
    recognizer = _recognizer(args)
    space = recognizer.space
    detections = load_detections(args.detections, space.objects)
    missing = [p.name for p in paths if p.name not in detections]
    if len(missing) == len(paths):
        raise ConfigError(f"{args.detections}: lists none of the {len(paths)} images given "
                          f"(entries are keyed by file name, e.g. {paths[0].name!r})")
    if missing:
        logging.getLogger(__name__).warning(
            "%d of %d images have no entry in %s (no instances, no triplets), e.g. %s",
            len(missing), len(paths), args.detections, missing[0])
    pairs = PairRecognizer(recognizer, scoring)
    logging.getLogger(__name__).info("pair region: %s", pairs.region)
    preds = list(tqdm(pairs.detect_files(paths, detections), total=len(paths),
                      desc="pairs", disable=None))
    write_predictions(args.out, preds, space)
    print(f"{sum(len(p) for p in preds)} triplets of {len(preds)} images -> {args.out}")
    return 0
