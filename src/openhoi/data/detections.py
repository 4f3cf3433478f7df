"""Instances for the two-stage pipelines (EZ-HOI, DEFR detection): a per-image detections file,
openhoi's DETR, and UPT's filtering of either (per-class NMS, score threshold, human/object
count limits).

Detections file (JSON)::

    {"format": "openhoi-detections", "version": 1,
     "boxes": "xyxy_abs",                 # absolute pixels of the image on disk
     "images": {"HICO_test2015_00000001.jpg": {
         "size": [h, w],                  # of the image on disk
         "boxes": [[x1, y1, x2, y2], ...],
         "scores": [0.98, ...],
         "labels": [0, ...]}},            # object indices into "objects"
     "objects": ["person", "giraffe", ...]}   # optional: the class names labels index

With ``objects`` (``openhoi detect-instances`` writes it) the reader maps every label to its
own label space by name (case, spaces and underscores ignored), so a detector retargeted to a
new object vocabulary (``detect-instances --objects``) feeds a recognizer retargeted to the
same names; detections of objects the reader's space does not name are left out (they could
pair with none of its interactions). Without it, labels index the reader's label space.
An image the file does not list has no instances. Boxes are rescaled to the image as the model
sees it (``size`` -> ``ImageBatch.sizes``); geometric training augmentations cannot be
replayed on file boxes, so training from a file needs ``data.flip_prob: 0, crop_prob: 0``.

SCG / DEFR's cache (``fredzzhang/hicodet`` ``detections/preprocessing.py``, DEFR's
``detections/test2015_finetuned_drg``) is also read (``read_detections_folder``): a folder with
one ``<image stem>.json`` per image, ``{"boxes": [[x1, y1, x2, y2], ...], "scores": [...],
"labels": [...]}``, labels indexing the objects in alphabetical order with underscores (HICO's
80-object order for HICO-DET; person = 49), boxes in the pixels of the image on disk (no size).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torchvision.ops import batched_nms

from openhoi.errors import DataError
from openhoi.label_space import normalize_name

FORMAT = "openhoi-detections"

log = logging.getLogger(__name__)


@dataclass
class Instances:
    """Detected instances of one image: ``boxes_xyxy [N, 4]`` (pixels of the image as the
    model sees it), ``scores [N]``, ``labels [N]`` int64 object indices."""

    boxes_xyxy: Tensor
    scores: Tensor
    labels: Tensor

    def select(self, keep: Tensor) -> Instances:
        return Instances(self.boxes_xyxy[keep], self.scores[keep], self.labels[keep])


def read_detections(path: str | Path, num_objects: int,
                    object_names: Sequence[str] | None = None) -> dict[str, dict[str, Tensor]]:
    """Read a detections file: ``{image_id: {size [2], boxes [N, 4], scores [N], labels [N]}}``,
    labels indexing the reader's ``num_objects`` objects.

    Args:
        object_names: the reader's objects in order; a file that names its objects (field
            ``objects``) is mapped onto them by name. Without them such a file's names must
            be as many as ``num_objects`` (taken to be the same classes).

    Raises:
        DataError: naming the file and field of any malformed entry, or a file whose object
            names share none with ``object_names``.
    """
    where = str(path)
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{where}: cannot read detections file: {err}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(f"{where}: field 'format' must be {FORMAT!r}")
    if data.get("boxes") != "xyxy_abs":
        raise DataError(f"{where}: field 'boxes' must be 'xyxy_abs'")
    images = data.get("images")
    if not isinstance(images, dict):
        raise DataError(f"{where}: field 'images' must map image ids to detections")
    names = data.get("objects")
    to_ours = None
    if names is not None:
        to_ours = _name_map(names, num_objects, object_names, where)
    out = {}
    for image_id, entry in images.items():
        parsed = _entry(entry, f"{where}: images[{image_id!r}]",
                        num_objects if to_ours is None else len(to_ours))
        if to_ours is not None:
            labels = to_ours[parsed["labels"]]  # [N] ours, -1: a class we do not name
            keep = labels >= 0
            parsed.update(boxes=parsed["boxes"][keep], scores=parsed["scores"][keep],
                          labels=labels[keep])
        out[image_id] = parsed
    return out


def _name_map(names: object, num_objects: int, object_names: Sequence[str] | None,
              where: str) -> Tensor:
    """``[O_file]`` the reader's index of each of the file's object names (-1: unknown)."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataError(f"{where}: field 'objects' must be a list of class names")
    if object_names is None:
        if len(names) != num_objects:
            raise DataError(f"{where}: field 'objects' names {len(names)} classes, the label "
                            f"space has {num_objects}")
        return torch.arange(num_objects)
    ours = {normalize_name(n): i for i, n in enumerate(object_names)}
    to_ours = torch.tensor([ours.get(normalize_name(n), -1) for n in names], dtype=torch.int64)
    unknown = [n for n, i in zip(names, to_ours.tolist()) if i < 0]
    if len(unknown) == len(names):
        raise DataError(f"{where}: field 'objects' ({', '.join(names[:5])}...) names none of "
                        f"the label space's objects ({', '.join(object_names[:5])}...)")
    if unknown:
        log.warning("%s: detections of %s left out (not objects of the label space)", where,
                    ", ".join(unknown))
    return to_ours


def write_detections(path: str | Path,
                     entries: Mapping[str, tuple[tuple[int, int], Instances]],
                     object_names: Sequence[str] | None = None) -> None:
    """Write a detections file (layout above).

    Args:
        entries: ``image_id -> ((height, width) of the image on disk, its instances in those
            pixels)``.
        object_names: the names the labels index (field ``objects``); None leaves it out.
    """
    from openhoi.fileio import atomic_write_text

    def round_list(t: Tensor, digits: int) -> list:
        return [[round(v, digits) for v in row] for row in t.tolist()] if t.dim() == 2 else \
            [round(v, digits) for v in t.tolist()]

    images = {
        image_id: {"size": [int(size[0]), int(size[1])],
                   "boxes": round_list(inst.boxes_xyxy.detach().float().cpu(), 2),
                   "scores": round_list(inst.scores.detach().float().cpu(), 6),
                   "labels": [int(v) for v in inst.labels.tolist()]}
        for image_id, (size, inst) in entries.items()}
    data = {"format": FORMAT, "version": 1, "boxes": "xyxy_abs", "images": images}
    if object_names is not None:
        data["objects"] = list(object_names)
    atomic_write_text(path, json.dumps(data))


def read_detections_folder(folder: str | Path, object_names: Sequence[str]
                           ) -> dict[str, dict[str, Tensor | None]]:
    """Read SCG / DEFR's per-image detection files (see the module docstring) into
    ``read_detections``' layout (``size`` None), keyed ``<stem>.jpg`` as SCG names them.

    Args:
        object_names: the label space's objects, in its order.

    Raises:
        DataError: naming the file and field of any malformed entry.
    """
    folder = Path(folder)
    files = sorted(folder.glob("*.json"))
    if not files:
        raise DataError(f"{folder}: no per-image detection files (*.json)")
    alphabetical = sorted(range(len(object_names)),
                          key=lambda i: object_names[i].replace(" ", "_"))  # [O] ours by rank
    to_ours = torch.tensor(alphabetical, dtype=torch.int64)
    out: dict[str, dict[str, Tensor | None]] = {}
    for f in files:
        try:
            entry = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise DataError(f"{f}: cannot read detections: {err}") from None
        parsed = _entry(entry, str(f), len(object_names), need_size=False)
        parsed["labels"] = to_ours[parsed["labels"]]
        out[f.stem + ".jpg"] = parsed
    return out


def load_detections(path: str | Path, object_names: Sequence[str]
                    ) -> dict[str, dict[str, Tensor | None]]:
    """A detections file (``read_detections``) or an SCG / DEFR folder
    (``read_detections_folder``)."""
    if Path(path).is_dir():
        return read_detections_folder(path, object_names)
    return read_detections(path, len(object_names), object_names)


def _entry(entry: object, where: str, num_objects: int,
           need_size: bool = True) -> dict[str, Tensor | None]:
    if not isinstance(entry, dict):
        raise DataError(f"{where}: must be an object with size, boxes, scores, labels")
    try:
        size = torch.tensor(entry["size"], dtype=torch.float32) if need_size else None
        boxes = torch.tensor(entry["boxes"], dtype=torch.float32).reshape(-1, 4)
        scores = torch.tensor(entry["scores"], dtype=torch.float32).reshape(-1)
        labels = torch.tensor(entry["labels"], dtype=torch.int64).reshape(-1)
    except KeyError as err:
        raise DataError(f"{where}: missing field {err}") from None
    except (TypeError, ValueError, RuntimeError) as err:
        raise DataError(f"{where}: malformed numbers ({err})") from None
    if size is not None and (size.shape != (2,) or bool((size <= 0).any())):
        raise DataError(f"{where}.size: must be [height, width] > 0")
    if not len(boxes) == len(scores) == len(labels):
        raise DataError(f"{where}: boxes, scores and labels differ in length "
                        f"({len(boxes)}, {len(scores)}, {len(labels)})")
    if bool(((labels < 0) | (labels >= num_objects)).any()):
        raise DataError(f"{where}.labels: object indices must lie in [0, {num_objects})")
    if bool((boxes[:, 2:] < boxes[:, :2]).any()):
        raise DataError(f"{where}.boxes: need x2 >= x1 and y2 >= y1 (xyxy)")
    return {"size": size, "boxes": boxes, "scores": scores, "labels": labels}


def file_instances(dets: dict[str, dict[str, Tensor]], image_id: str, size_hw: Tensor
                   ) -> Instances:
    """The file's instances of ``image_id`` in the pixels of an image of ``size_hw`` (h, w)."""
    entry = dets.get(image_id)
    device = size_hw.device
    if entry is None:
        return Instances(torch.zeros(0, 4, device=device), torch.zeros(0, device=device),
                         torch.zeros(0, dtype=torch.int64, device=device))
    if entry["size"] is None:  # SCG's folder: boxes already in the image's pixels
        return Instances(entry["boxes"].to(device), entry["scores"].to(device),
                         entry["labels"].to(device))
    scale = size_hw.float() / entry["size"].to(device)  # [2] (h, w)
    boxes = entry["boxes"].to(device) * scale[[1, 0, 1, 0]]  # [N, 4] xyxy abs
    return Instances(boxes, entry["scores"].to(device), entry["labels"].to(device))


def detr_instances(obj_logits: Tensor, boxes_cxcywh: Tensor, size_hw: Tensor) -> Instances:
    """DETR's post-processing of one image: softmax, no-object column dropped, best class.

    Args:
        obj_logits: ``[Q, O + 1]`` object-class logits (last = no-object).
        boxes_cxcywh: ``[Q, 4]`` normalised boxes.
        size_hw: ``[2]`` (h, w) of the image as the model sees it.
    """
    scores, labels = obj_logits.softmax(-1)[:, :-1].max(-1)  # [Q], [Q]
    cx, cy, w, h = boxes_cxcywh.unbind(-1)
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)  # [Q, 4] norm
    hw = size_hw.float()
    return Instances(boxes * hw[[1, 0, 1, 0]], scores, labels)


def region_proposals(inst: Instances, human_label: int, nms_iou: float, score_thresh: float,
                     min_instances: int, max_instances: int) -> Instances:
    """UPT's ``prepare_region_proposals`` (EZ-HOI keeps it verbatim): per-class NMS, then the
    instances above ``score_thresh``; humans and objects are each topped up to
    ``min_instances`` or cut to ``max_instances`` by score. Humans come first in the output.
    """
    keep = batched_nms(inst.boxes_xyxy, inst.scores, inst.labels, nms_iou)
    inst = inst.select(keep)
    sc, is_human = inst.scores, inst.labels == human_label
    above = sc >= score_thresh
    chosen = []
    for group in (is_human, ~is_human):
        idx = torch.nonzero(group).squeeze(1)
        n = int((group & above).sum())
        if n < min_instances or n > max_instances:
            limit = min_instances if n < min_instances else max_instances
            chosen.append(idx[sc[idx].argsort(descending=True)[:limit]])
        else:
            chosen.append(torch.nonzero(group & above).squeeze(1))
    return inst.select(torch.cat(chosen))
