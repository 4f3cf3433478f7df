"""Value checks of the HOI annotation reader: what makes an image invalid (an error naming the
file, image and field, or the image dropped under ``skip_invalid``) and what is only counted in
a warning because the reference codes accept it."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np

from openhoi.data.label_arrays import interaction_table
from openhoi.errors import DataError
from openhoi.label_space import LabelSpace

logger = logging.getLogger("openhoi.data.annotations")

SKIP_HINT = " (set data.skip_invalid=true or pass --skip-invalid to drop invalid images)"
MIN_TOLERANCE_PX = 2.0
"""Boxes may always overshoot the image border by this many pixels (see ``box_tolerance``)."""


def out_of_image(boxes_xyxy: np.ndarray, height: np.ndarray, width: np.ndarray,
                 tolerance: float) -> np.ndarray:
    """``[N]`` bool: boxes that overshoot their image by more than the tolerance.

    Args:
        boxes_xyxy: ``[N, 4]`` absolute pixels.
        height, width: ``[N]`` size of each box's image.
        tolerance: allowed overshoot as a fraction of the image side (at least 2 px).
    """
    tol_w = np.maximum(MIN_TOLERANCE_PX, tolerance * width)
    tol_h = np.maximum(MIN_TOLERANCE_PX, tolerance * height)
    x1, y1, x2, y2 = boxes_xyxy.T
    return (x1 < -tol_w) | (y1 < -tol_h) | (x2 > width + tol_w) | (y2 > height + tol_h)


class Rejections:
    """Collects invalid images: raises on the first one, or counts them per reason."""

    def __init__(self, source: str, skip: bool):
        self.source = source
        self.skip = skip
        self.reasons: Counter[str] = Counter()

    def report(self, reason: str, image: int, file_name: str, field: str, detail: str) -> None:
        if not self.skip:
            raise DataError(f"{self.source}: image {image} ({file_name}): field {field!r}: "
                            f"{reason}: {detail}{SKIP_HINT}")

    def log(self, num_images: int) -> None:
        if self.reasons:
            counts = "; ".join(f"{r}: {n}" for r, n in sorted(self.reasons.items()))
            logger.warning("%s: skipped %d of %d images as invalid (%s)", self.source,
                           sum(self.reasons.values()), num_images, counts)


def offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def warn_accepted(c: dict[str, np.ndarray], labels: np.ndarray, verbs: np.ndarray,
                   valid: np.ndarray, space: LabelSpace, source: str) -> None:
    """Count, in a warning, what the reference codes accept: boxes with negative coordinates
    (GEN-VLKT's test loader and the MATLAB evaluation use them unclipped), HOIs whose subject
    is not a person (neither checks the subject's class), and (verb, object) combinations that
    are not interaction classes (GEN-VLKT's training loaders drop them, as openhoi's targets
    and evaluators do; real V-COCO files have them)."""
    n_box, n_hoi = c["n_box"], c["n_hoi"]
    box_img = np.repeat(np.arange(len(n_box)), n_box)
    hoi_img = np.repeat(np.arange(len(n_hoi)), n_hoi)
    negative = valid[box_img] & (c["boxes"] < 0).any(1)
    keep = valid[hoi_img]  # valid images have their ids in range
    subject = np.where(keep, offsets(n_box)[hoi_img] + c["sid"], 0)
    not_person = keep & (labels[subject] != space.human_label) if subject.size else keep
    has_obj = keep & (c["oid"] >= 0)
    obj = labels[np.where(has_obj, offsets(n_box)[hoi_img] + c["oid"], 0)] if has_obj.size else (
        c["oid"])
    inter = interaction_table(space)[np.maximum(verbs, 0), np.maximum(obj, 0)]
    not_class = has_obj & (inter < 0)
    for mask, img, what in (
            (negative, box_img, "boxes with negative coordinates, used as annotated"),
            (not_person, hoi_img, "HOIs whose subject is not a person, used as annotated"),
            (not_class, hoi_img, f"HOIs whose (verb, object) is not an interaction class of "
             f"label space {space.name!r}, left out of targets and ground truth")):
        if mask.any():
            k = int(img[np.flatnonzero(mask)[0]])
            logger.warning("%s: %d %s (%d images; first: %s)", source, int(mask.sum()), what,
                           np.unique(img[mask]).size, c["file_names"][k])


def invalid_images(c: dict[str, np.ndarray], orig_idx: np.ndarray, labels: np.ndarray,
                    verbs: np.ndarray, rej: Rejections, space: LabelSpace,
                    allow_no_object: bool, box_tolerance: float) -> np.ndarray:
    """``[I]`` bool: images failing a value check (vectorised over all boxes and HOIs)."""
    space_name = space.name
    num = len(orig_idx)
    n_box, n_hoi = c["n_box"], c["n_hoi"]
    box_img, hoi_img = np.repeat(np.arange(num), n_box), np.repeat(np.arange(num), n_hoi)
    box_off, hoi_off = offsets(n_box), offsets(n_hoi)
    boxes, sizes, sid, oid = c["boxes"], c["sizes"], c["sid"], c["oid"]
    bad = np.zeros(num, dtype=bool)

    def check(mask: np.ndarray, entry_img: np.ndarray, offsets: np.ndarray, reason: str,
              field: str, value: np.ndarray) -> None:
        hits = np.flatnonzero(mask)
        if hits.size == 0:
            return
        first = hits[0]
        i = entry_img[first]
        rej.report(reason, int(orig_idx[i]), str(c["file_names"][i]),
                   field.format(first - offsets[i]), repr(value[first].tolist()))
        images = np.unique(entry_img[hits])
        rej.reasons[reason] += int((~bad[images]).sum())
        bad[images] = True

    img_all = np.arange(num)
    check(((sizes <= 0) & (sizes != -1)).any(1), img_all, img_all, "invalid image size",
          "height/width", sizes)
    check(~np.isfinite(boxes).all(1), box_img, box_off, "bbox is not finite",
          "annotations[{}].bbox", boxes)
    with np.errstate(invalid="ignore"):
        check((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]), box_img, box_off,
              "bbox has x2 < x1 or y2 < y1", "annotations[{}].bbox", boxes)
        known = (sizes > 0).all(1)[box_img]
        h, w = sizes[box_img, 0].astype(np.float64), sizes[box_img, 1].astype(np.float64)
        check(known & out_of_image(boxes, h, w, box_tolerance), box_img, box_off,
              "bbox outside the image", "annotations[{}].bbox", boxes)
    check(labels < 0, box_img, box_off, f"object category_id not in label space "
          f"{space_name!r}", "annotations[{}].category_id", c["obj_ids"])
    check(verbs < 0, hoi_img, hoi_off, f"verb category_id not in label space "
          f"{space_name!r}", "hoi_annotation[{}].category_id", c["verb_ids"])
    check((sid < 0) | (sid >= n_box[hoi_img]), hoi_img, hoi_off,
          "subject_id out of range of annotations", "hoi_annotation[{}].subject_id", sid)
    check((oid < (-1 if allow_no_object else 0)) | (oid >= n_box[hoi_img]), hoi_img, hoi_off,
          "object_id out of range of annotations", "hoi_annotation[{}].object_id", oid)
    # A file name listed twice: the evaluators key predictions by it.
    names = c["file_names"]
    _, first = np.unique(names, return_index=True)
    repeat = np.ones(num, dtype=bool)
    repeat[first] = False
    check(repeat, img_all, img_all, "file_name repeats an earlier image", "file_name", names)
    return bad
