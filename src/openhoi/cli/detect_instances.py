"""Write a per-image detections file (human and object boxes, scores, classes) with a trained
openhoi HOI detector or with DETR's released weights, for the two-stage pipelines that read one
(`openhoi recognize --detections`, DEFR's way; EZ-HOI's model.instances.source: file).

  openhoi detect-instances hico_20160224_det/images/test2015 \\
      --checkpoint runs/hoiclip/model.safetensors --out detections_test2015.json
  openhoi detect-instances hico_20160224_det/images/test2015 \\
      --detr detr-r50-hicodet.pth --out detections_test2015.json
  openhoi recognize hico_20160224_det/images/test2015 --checkpoint runs/defr/model.safetensors \\
      --detections detections_test2015.json --out triplets.npz

Open object vocabulary (a detector with ViLD's object head, model.detector.obj_head: vild):

  openhoi detect-instances photos/ --checkpoint runs/hoiclip_vild/model.safetensors \\
      --objects "giraffe,zebra" --out dets.json
  openhoi recognize photos/ --checkpoint runs/defr/model.safetensors --detections dets.json \\
      --interactions "feed giraffe,ride zebra" --out triplets.json

--checkpoint: each query pair of the detector gives its object box (best object class, its
probability) and its human box (the same score: a one-stage detector scores the pair, not the
human apart). --detr: a DETR checkpoint in facebookresearch/detr's layout (COCO DETR, or UPT's
HICO-DET fine-tune); its architecture is read from the weights; every query gives one box with
DETR's post-processing (softmax, no-object dropped, best class), classes mapped to the label
space (`--label-space`; a 91-class head by COCO id, an 80-class head in COCO order), at DETR's
test scale (shorter side 800, longer at most 1333, ImageNet normalisation). Boxes are in the
pixels of the image on disk (EXIF orientation not applied, as the benchmark annotations); the
file's layout is in openhoi.data.detections. Images are keyed by file name. The file names its
object classes, so a reader maps them onto its own label space by name; --objects retargets
the detector's object head to a vocabulary given as text first (as `openhoi predict
--objects`: known objects keep their trained rows, new ones are embedded by the head's text
encoder; ViLD's and the CLIP-text head can, DETR's linear head cannot).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="PATH",
                        help="image files, folders or glob patterns (quote globs)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint",
                        help="an openhoi HOI detection checkpoint (model.safetensors, "
                             "checkpoints/best.pt, `openhoi convert` output)")
    source.add_argument("--detr", metavar="WEIGHTS",
                        help="a DETR checkpoint in facebookresearch/detr's layout "
                             "(detr-r50-e632da11.pth, UPT's detr-r50-hicodet.pth)")
    parser.add_argument("--objects", metavar="LIST",
                        help="--checkpoint: open object vocabulary, 'giraffe,zebra' or a .txt "
                             "file; the detector's object head scores these classes (and the "
                             "human) instead of the trained ones")
    detr = parser.add_argument_group("--detr options")
    detr.add_argument("--label-space", default="hicodet", metavar="NAME_OR_JSON",
                      help="label space of the written classes (default hicodet)")
    detr.add_argument("--detr-heads", type=int, default=8,
                      help="attention heads (not stored in the weights; DETR's 8)")
    detr.add_argument("--detr-dilation", action="store_true",
                      help="DETR-DC5 weights (dilated last stage; not stored in the weights)")
    detr.add_argument("--test-scale", type=int, default=800,
                      help="shorter image side (DETR's 800)")
    detr.add_argument("--max-size", type=int, default=1333,
                      help="cap on the longer side (DETR's 1333)")
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
    if args.objects is not None and args.detr:
        raise ConfigError("--objects retargets an openhoi detector (--checkpoint); DETR's "
                          "released heads are closed-vocabulary")
    check_writable_dir(Path(args.out).parent, "--out")
    paths = list_images(args.inputs)
    if args.detr:
        detect, names = _detr_detect(args)
    else:
        from openhoi.open_vocab import read_interaction_list

        objects = read_interaction_list(args.objects) if args.objects is not None else None
        predictor = HOIPredictor.from_checkpoint(args.checkpoint, args.device, objects=objects,
                                                 precision="fp32")
        detect, names = predictor.detect_instances, predictor.label_space.objects
    entries = {}
    for start in tqdm(range(0, len(paths), args.batch_size), desc="detect", disable=None):
        chunk = paths[start:start + args.batch_size]
        images = [load_image(p, apply_exif=False) for p in chunk]
        for p, im, inst in zip(chunk, images, detect(images)):
            if p.name in entries:
                raise ConfigError(f"{p}: two input images are named {p.name!r}; the "
                                  "detections file is keyed by file name")
            entries[p.name] = ((im.height, im.width), inst.select(inst.scores >= args.min_score))
    write_detections(args.out, entries, names)
    print(f"{sum(len(i.scores) for _, i in entries.values())} boxes of {len(entries)} images "
          f"-> {args.out}")
    return 0


def _detr_detect(args: argparse.Namespace) -> tuple[Callable[[list], list], tuple[str, ...]]:
    """(images -> DETR's instances in each image's pixels, the object names they index)."""
    import torch
    from torchvision.transforms import functional as TF

    from openhoi.data.detections import Instances
    from openhoi.data.loader import pad_images
    from openhoi.data.transforms import resize_shape
    from openhoi.errors import ConfigError
    from openhoi.label_space import load_label_space
    from openhoi.models.detr.plain_detr import detr_from_checkpoint

    if args.test_scale < 1 or args.max_size < args.test_scale:
        raise ConfigError("--test-scale must be >= 1 and --max-size >= --test-scale")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    space = load_label_space(args.label_space)
    model = detr_from_checkpoint(args.detr, space.object_ids, args.detr_heads,
                                 args.detr_dilation).to(device)

    def detect(images: list) -> list:
        tensors = []
        for im in images:
            h, w = resize_shape((im.height, im.width), args.test_scale, args.max_size)
            resized = TF.resize(im, [max(h, 1), max(w, 1)])
            tensors.append(TF.normalize(TF.to_tensor(resized), [0.485, 0.456, 0.406],
                                        [0.229, 0.224, 0.225]))  # DETR's ImageNet statistics
        batch = pad_images(tensors).to(device)
        sizes = torch.tensor([[im.height, im.width] for im in images], device=device)
        return [Instances(i.boxes_xyxy.cpu(), i.scores.cpu(), i.labels.cpu())
                for i in model.detect(batch, sizes)]

    return detect, space.objects
