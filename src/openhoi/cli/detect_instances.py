"""Write a per-image detections file (human and object boxes, scores, classes) with a trained
openhoi HOI detector, for the two-stage pipelines that read one (`openhoi recognize
--detections`, DEFR's way; EZ-HOI's model.instances.source: file).

  openhoi detect-instances hico_20160224_det/images/test2015 \\
      --checkpoint runs/hoiclip/model.safetensors --out detections_test2015.json
  openhoi recognize hico_20160224_det/images/test2015 --checkpoint runs/defr/model.safetensors \\
      --detections detections_test2015.json --out triplets.npz

Each query pair of the detector gives its object box (best object class, its probability) and
its human box (the same score: a one-stage detector scores the pair, not the human apart).
Boxes are in the pixels of the image on disk (EXIF orientation not applied, as the benchmark
annotations); the file's layout is in openhoi.data.detections. Images are keyed by file name.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="PATH",
                        help="image files, folders or glob patterns (quote globs)")
    parser.add_argument("--checkpoint", required=True,
                        help="an openhoi HOI detection checkpoint (model.safetensors, "
                             "checkpoints/best.pt, `openhoi convert` output)")
    parser.add_argument("--out", required=True, help="detections JSON to write")
    parser.add_argument("--min-score", type=float, default=0.0,
                        help="leave out boxes scoring below this (default 0: all of them)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--device", help="cpu, cuda ... (default: cuda if available)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from openhoi.data.detections import write_detections
    from openhoi.data.image_io import list_images, load_image
    from openhoi.errors import ConfigError
    from openhoi.fileio import check_writable_dir
    from openhoi.predict import HOIPredictor

    if args.batch_size < 1:
        raise ConfigError("--batch-size must be at least 1")
    check_writable_dir(Path(args.out).parent, "--out")
    paths = list_images(args.inputs)
    predictor = HOIPredictor.from_checkpoint(args.checkpoint, args.device, precision="fp32")
    entries = {}
    for start in tqdm(range(0, len(paths), args.batch_size), desc="detect", disable=None):
        chunk = paths[start:start + args.batch_size]
        images = [load_image(p, apply_exif=False) for p in chunk]
        for p, im, inst in zip(chunk, images, predictor.detect_instances(images)):
            if p.name in entries:
                raise ConfigError(f"{p}: two input images are named {p.name!r}; the "
                                  "detections file is keyed by file name")
            entries[p.name] = ((im.height, im.width), inst.select(inst.scores >= args.min_score))
    write_detections(args.out, entries)
    print(f"{sum(len(i.scores) for _, i in entries.values())} boxes of {len(entries)} images "
          f"-> {args.out}")
    return 0
