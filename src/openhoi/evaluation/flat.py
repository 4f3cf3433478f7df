"""Flat (concatenated) numpy views of ground truth and predictions for vectorised evaluation.

The evaluators never loop over detections in Python: ``HOITargets`` of a whole test set become
one row per ground-truth (pair, interaction) instance, and predictions (``PredictionArrays``)
one row per scored triplet, each row carrying the index of its image. Per-image tensors are
joined with one ``torch.cat`` per field; only their sizes are read image by image. Torch is
imported only for tensor inputs: files and the data reader's records stay numpy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from openhoi.data.label_arrays import interaction_table
from openhoi.data.records import HOIAnnotations
from openhoi.errors import OpenHOIError, PredictionFileError
from openhoi.label_space import LabelSpace

if TYPE_CHECKING:
    import torch

    from openhoi.evaluation.prediction_arrays import PredictionArrays
    from openhoi.structures import HOITargets


def cat_tensors(tensors: list[torch.Tensor], dim_tail: tuple[int, ...], what: str,
                names: Sequence[str], error: type[OpenHOIError]) -> np.ndarray:
    """``torch.cat`` of per-image tensors as one CPU numpy array; shape errors name the image."""
    import torch

    if not tensors:
        return np.zeros((0, *dim_tail))
    try:
        out = torch.cat(tensors)
        if tuple(out.shape[1:]) == dim_tail:
            return out.detach().cpu().numpy()
    except RuntimeError:  # mismatched shapes, or tensors on several devices
        pass
    for t, name in zip(tensors, names):
        if t.dim() != len(dim_tail) + 1 or tuple(t.shape[1:]) != dim_tail:
            want = ", ".join(["n", *map(str, dim_tail)])
            raise error(f"image {name!r}: {what} must have shape [{want}], not {tuple(t.shape)}")
    return torch.cat([t.detach().cpu() for t in tensors]).numpy()


def tensor_sizes(tensors: list[torch.Tensor]) -> np.ndarray:
    """Length of each tensor (-1 for a 0-d tensor)."""
    try:
        return np.fromiter((t.shape[0] for t in tensors), dtype=np.int64, count=len(tensors))
    except IndexError:
        return np.array([t.shape[0] if t.dim() else -1 for t in tensors], dtype=np.int64)


def _entries_of_targets(targets: Sequence[HOITargets], verbs: np.ndarray,
                        pair_counts: np.ndarray, ids: Sequence[str]) -> np.ndarray:
    """``[E, 2]`` (global pair row, verb) of every target's ``hoi_entries``, image by image;
    targets without them contribute one entry per positive of ``verbs`` (pair, then verb)."""
    import torch

    has = [t.hoi_entries is not None for t in targets]
    if not any(has):
        return np.argwhere(verbs > 0.5).astype(np.int64).reshape(-1, 2)  # row-major order
    starts = np.cumsum(pair_counts) - pair_counts
    if not all(has):  # mixed: derive the missing ones image by image
        targets = [t if t.hoi_entries is not None else replace(t, hoi_entries=torch.from_numpy(
            np.argwhere(verbs[s:s + n] > 0.5))) for t, s, n in zip(targets, starts, pair_counts)]
    entries = cat_tensors([t.hoi_entries for t in targets], (2,), "hoi_entries", ids,
                   OpenHOIError).astype(np.int64).reshape(-1, 2)
    counts = tensor_sizes([t.hoi_entries for t in targets])
    img = np.repeat(np.arange(len(targets)), counts)  # [E]
    bad = (entries[:, 0] < 0) | (entries[:, 0] >= pair_counts[img])
    if bad.any():
        k = int(img[np.flatnonzero(bad)[0]])
        raise OpenHOIError(f"ground truth: image {ids[k]!r}: hoi_entries pair rows must index "
                           f"its {pair_counts[k]} pairs")
    entries[:, 0] += starts[img]
    return entries


@dataclass(frozen=True)
class FlatGroundTruth:
    """Ground-truth HOI instances of a test set, one row per annotation entry.

    An instance is one (human, object, verb) entry of the annotation file whose (verb, object)
    is an interaction class; entries listed twice are two instances (the references count
    both, see ``hico_map`` C1). Rows are in image order and, within an image, in file order:
    the order in which the references compare ground truth (C3 ties).

    Attributes:
        image_ids: file name of each image, in the order given (defines image order).
        img: ``[G]`` int64 image index of each instance.
        cls: ``[G]`` int64 interaction index.
        h_boxes, o_boxes: ``[G, 4]`` float32 xyxy boxes in original pixels, as annotated.
        objects_present: ``[num_images, O]`` bool, object classes of the image's ground-truth
            pairs (the default "known objects" of the Known-Object setting).
        num_gt: ``[I]`` int64 instances per interaction.
    """

    image_ids: tuple[str, ...]
    img: np.ndarray
    cls: np.ndarray
    h_boxes: np.ndarray
    o_boxes: np.ndarray
    objects_present: np.ndarray
    num_gt: np.ndarray

    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    def num_images_per_class(self) -> np.ndarray:
        """``[I]`` int64 images with at least one instance of each interaction."""
        key = np.unique(self.img * self.num_gt.shape[0] + self.cls)
        return np.bincount(key % self.num_gt.shape[0], minlength=self.num_gt.shape[0])

    @classmethod
    def from_targets(cls, targets: Sequence[HOITargets], space: LabelSpace) -> FlatGroundTruth:
        """Flatten per-image targets: one instance per ``hoi_entries`` row (file order,
        repeats kept), or, for targets without them, per positive verb (pairs, then verbs).

        Pairs without an object (``pair_idx[:, 1] == -1``) and (verb, object) combinations that
        are not interaction classes give no instance.

        Raises:
            OpenHOIError: duplicated image ids, malformed tensors, entries that disagree with
                ``verbs``, or targets that were resized (boxes must be in the pixels of the
                image on disk).
        """
        ids = [t.image_id for t in targets]
        for t in targets:
            if tuple(t.size) != tuple(t.orig_size):
                raise OpenHOIError(
                    f"ground truth: image {t.image_id!r} was resized {tuple(t.orig_size)} -> "
                    f"{tuple(t.size)}; evaluate against boxes in original pixels")
        err = OpenHOIError
        label_counts = tensor_sizes([t.labels for t in targets])
        pair_counts = tensor_sizes([t.pair_idx for t in targets])
        verbs = cat_tensors([t.verbs for t in targets], (space.num_verbs,), "verbs", ids, err)
        return cls._build(
            ids,
            cat_tensors([t.boxes_xyxy for t in targets], (4,), "boxes_xyxy", ids, err),
            cat_tensors([t.labels for t in targets], (), "labels", ids, err).astype(np.int64),
            cat_tensors([t.pair_idx for t in targets], (2,), "pair_idx", ids, err).astype(np.int64),
            verbs > 0.5, _entries_of_targets(targets, verbs, pair_counts, ids),
            tensor_sizes([t.boxes_xyxy for t in targets]), pair_counts, space, label_counts)

    @classmethod
    def from_annotations(cls, ann: HOIAnnotations, space: LabelSpace) -> FlatGroundTruth:
        """Flatten the data reader's records (already flat: no per-image work); instances
        come from ``ann.hoi_entries`` (file order, repeats kept)."""
        entry_img = np.repeat(np.arange(len(ann)), ann.num_entries)
        entries = ann.hoi_entries + np.stack([ann.pair_offsets[entry_img],
                                              np.zeros_like(entry_img)], 1)
        return cls._build([str(n) for n in ann.file_names], ann.boxes_xyxy, ann.labels,
                          ann.pair_idx.astype(np.int64), ann.pair_verbs, entries.reshape(-1, 2),
                          ann.num_boxes, ann.num_pairs, space)

    @classmethod
    def _build(cls, ids: list[str], boxes: np.ndarray, labels: np.ndarray, pair_idx: np.ndarray,
               positive: np.ndarray, entries: np.ndarray, box_counts: np.ndarray,
               pair_counts: np.ndarray, space: LabelSpace,
               label_counts: np.ndarray | None = None) -> FlatGroundTruth:
        """``positive``: ``[P, V]`` bool verbs of the pairs; ``entries``: ``[E, 2]`` (global
        pair row, verb), image by image in file order."""
        if len(set(ids)) != len(ids):
            dup = next(i for i, n in Counter(ids).items() if n > 1)
            raise OpenHOIError(f"ground truth: image {dup!r} appears twice")
        if label_counts is not None and (label_counts != box_counts).any():
            k = int(np.flatnonzero(label_counts != box_counts)[0])
            raise OpenHOIError(f"ground truth: image {ids[k]!r}: labels and boxes_xyxy have "
                               "different lengths")
        bad = (labels < 0) | (labels >= space.num_objects)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            img_of = np.repeat(np.arange(len(ids)), box_counts)
            raise OpenHOIError(f"ground truth: image {ids[img_of[k]]!r}: object label "
                               f"{labels[k]} is outside [0, {space.num_objects})")
        pair_img = np.repeat(np.arange(len(ids)), pair_counts)
        n_box = np.repeat(box_counts, pair_counts)
        bad = ((pair_idx[:, 0] < 0) | (pair_idx[:, 0] >= n_box) | (pair_idx[:, 1] < -1)
               | (pair_idx[:, 1] >= n_box))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise OpenHOIError(f"ground truth: image {ids[pair_img[k]]!r}: pair_idx "
                               f"{pair_idx[k].tolist()} does not index its boxes")
        row, verb = entries[:, 0], entries[:, 1]
        _check_entries(row, verb, positive, pair_img, ids)
        has_obj = pair_idx[:, 1] >= 0
        offset = np.repeat(np.cumsum(box_counts) - box_counts, pair_counts)
        h = pair_idx[:, 0] + offset
        o = pair_idx[:, 1] + offset
        pair_obj = np.where(has_obj, labels[np.where(has_obj, o, 0)], -1) if o.size else o
        # One instance per entry whose (verb, object) is an interaction class (C1).
        keep = has_obj[row]
        row, verb = row[keep], verb[keep]
        inter = interaction_table(space)[verb, pair_obj[row]]
        row, inter = row[inter >= 0], inter[inter >= 0].astype(np.int64)
        objects_present = np.zeros((len(ids), space.num_objects), dtype=bool)
        objects_present[pair_img[has_obj], pair_obj[has_obj]] = True
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        return cls(tuple(ids), pair_img[row], inter, boxes[h[row]], boxes[o[row]],
                   objects_present, np.bincount(inter, minlength=space.num_interactions))


def _check_entries(row: np.ndarray, verb: np.ndarray, positive: np.ndarray,
                   pair_img: np.ndarray, ids: Sequence[str]) -> None:
    """Entries must be exactly the positive verbs of the pairs (each one at least once)."""
    num_verbs = positive.shape[1]
    bad = (verb < 0) | (verb >= num_verbs)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise OpenHOIError(f"ground truth: image {ids[pair_img[row[k]]]!r}: hoi_entries verb "
                           f"{int(verb[k])} is outside [0, {num_verbs})")
    covered = np.zeros_like(positive)
    covered[row, verb] = True
    bad = covered != positive
    if bad.any():
        r, v = (int(x[0]) for x in np.nonzero(bad))
        local = r - int(np.searchsorted(pair_img, pair_img[r]))  # pair row within its image
        what = "has no hoi_entries row" if positive[r, v] else "is not a positive of verbs"
        raise OpenHOIError(f"ground truth: image {ids[pair_img[r]]!r}: (pair {local}, verb {v}) "
                           f"{what}")


@dataclass(frozen=True)
class FlatDetections:
    """Scored triplets of many images, one row per triplet, in (image, position) order.

    Boxes are kept once per image box (not per triplet) in the dtype they were given, so
    float32 model output is not widened and float64 file values are not rounded.

    Attributes:
        img: ``[D]`` int64 image index (evaluator order), non-decreasing.
        pos: ``[D]`` int64 position of the triplet in its image's prediction list.
        cls: ``[D]`` int64 interaction index.
        score: ``[D]`` float64.
        boxes: ``[NB, 4]`` xyxy boxes of all images, original pixels, exactly as predicted.
        h_idx, o_idx: ``[D]`` int64 rows of ``boxes`` of each triplet's human and object.
    """

    img: np.ndarray
    pos: np.ndarray
    cls: np.ndarray
    score: np.ndarray
    boxes: np.ndarray
    h_idx: np.ndarray
    o_idx: np.ndarray

    def __len__(self) -> int:
        return int(self.img.shape[0])

    @classmethod
    def from_arrays(cls, preds: PredictionArrays, img: np.ndarray) -> FlatDetections:
        """Flatten records; ``img[k]`` is the image index of record ``k`` (non-decreasing).

        Pair rows are checked against each record's boxes (``PredictionFileError`` naming the
        image); values are checked by :func:`check`.
        """
        counts = preds.triplet_counts
        starts = preds.triplet_offsets[:-1]
        image_of = np.repeat(np.arange(len(preds)), counts)
        pair_idx = preds.pair_idx.astype(np.int64, copy=False).reshape(-1, 2)
        bad = (pair_idx < 0).any(1) | (pair_idx >= preds.box_counts[image_of][:, None]).any(1)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise PredictionFileError(
                f"predictions for image {preds.image_ids[image_of[k]]!r}, triplet "
                f"{k - starts[image_of[k]]}: pair_idx {pair_idx[k].tolist()} must index its "
                f"{preds.box_counts[image_of[k]]} boxes")
        pair_idx = pair_idx + preds.box_offsets[:-1][image_of][:, None]
        return cls(
            img=np.repeat(np.asarray(img, dtype=np.int64), counts),
            pos=np.arange(int(counts.sum())) - np.repeat(starts, counts),
            cls=preds.interactions.astype(np.int64, copy=False),
            score=preds.scores.astype(np.float64, copy=False),
            boxes=preds.boxes_xyxy.reshape(-1, 4),
            h_idx=pair_idx[:, 0],
            o_idx=pair_idx[:, 1],
        )

    def check(self, num_interactions: int, image_ids: Sequence[str]) -> None:
        """Raise ``PredictionFileError`` naming the image and triplet of the first bad value."""

        def fail(mask: np.ndarray, what: str) -> None:
            k = int(np.flatnonzero(mask)[0])
            raise PredictionFileError(
                f"predictions for image {image_ids[int(self.img[k])]!r}, triplet "
                f"{int(self.pos[k])}: {what}")

        bad = ~np.isfinite(self.score)
        if bad.any():
            fail(bad, f"score is {self.score[bad][0]} (scores must be finite numbers)")
        bad = (self.cls < 0) | (self.cls >= num_interactions)
        if bad.any():
            fail(bad, f"interaction {int(self.cls[bad][0])} is outside [0, {num_interactions})")
        finite = np.isfinite(self.boxes).all(1)
        bad = ~(finite[self.h_idx] & finite[self.o_idx])
        if bad.any():
            fail(bad, "box coordinates must be finite")
