"""Flat (concatenated) numpy views of ground truth and predictions for vectorised evaluation.

The evaluators never loop over detections in Python: ``HOITargets`` of a whole test set become
one row per ground-truth (pair, interaction) instance, and ``HOIPredictions`` one row per
scored triplet, each row carrying the index of its image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from openhoi.data.label_space import LabelSpace
from openhoi.errors import OpenHOIError, PredictionFileError
from openhoi.structures import HOIPredictions, HOITargets


def _np(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


@dataclass(frozen=True)
class FlatGroundTruth:
    """Ground-truth HOI instances of a test set, one row per (pair, interaction).

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

    @classmethod
    def from_targets(cls, targets: Sequence[HOITargets], space: LabelSpace) -> FlatGroundTruth:
        """Flatten per-image targets. Rows keep annotation order (pairs, then interactions).

        Raises:
            OpenHOIError: duplicated image ids, or targets that were resized (boxes must be in
                the pixels of the image on disk).
        """
        ids: list[str] = []
        seen: set[str] = set()
        rows_img, rows_h, rows_o, rows_verbs, rows_obj = [], [], [], [], []
        for k, t in enumerate(targets):
            if t.image_id in seen:
                raise OpenHOIError(f"ground truth: image {t.image_id!r} appears twice")
            if tuple(t.size) != tuple(t.orig_size):
                raise OpenHOIError(
                    f"ground truth: image {t.image_id!r} was resized {tuple(t.orig_size)} -> "
                    f"{tuple(t.size)}; evaluate against boxes in original pixels")
            seen.add(t.image_id)
            ids.append(t.image_id)
            pair_idx = _np(t.pair_idx).reshape(-1, 2)
            if pair_idx.shape[0] == 0:
                continue
            keep = pair_idx[:, 1] >= 0  # pairs without an object have no (verb, object) class
            boxes = _np(t.boxes_xyxy).astype(np.float32).reshape(-1, 4)
            labels = _np(t.labels).reshape(-1)
            pair_idx = pair_idx[keep]
            rows_img.append(np.full(pair_idx.shape[0], k, dtype=np.int64))
            rows_h.append(boxes[pair_idx[:, 0]])
            rows_o.append(boxes[pair_idx[:, 1]])
            rows_verbs.append(_np(t.verbs).reshape(-1, space.num_verbs)[keep])
            rows_obj.append(labels[pair_idx[:, 1]])
        num_images = len(ids)
        objects_present = np.zeros((num_images, space.num_objects), dtype=bool)
        if not rows_img:
            empty = np.zeros((0,), dtype=np.int64)
            return cls(tuple(ids), empty, empty, np.zeros((0, 4), np.float32),
                       np.zeros((0, 4), np.float32), objects_present,
                       np.zeros(space.num_interactions, dtype=np.int64))
        pair_img = np.concatenate(rows_img)
        pair_obj = np.concatenate(rows_obj).astype(np.int64)
        verbs = np.concatenate(rows_verbs)
        # One instance per positive (pair, verb) whose (verb, object) is an interaction class.
        pair_row, verb = np.nonzero(verbs > 0.5)
        table = space.interaction_table.numpy()
        inter = table[verb, pair_obj[pair_row]]
        valid = inter >= 0
        pair_row, inter = pair_row[valid], inter[valid]
        objects_present[pair_img, pair_obj] = True
        h_boxes = np.concatenate(rows_h)[pair_row]
        o_boxes = np.concatenate(rows_o)[pair_row]
        num_gt = np.bincount(inter, minlength=space.num_interactions).astype(np.int64)
        return cls(tuple(ids), pair_img[pair_row], inter.astype(np.int64), h_boxes, o_boxes,
                   objects_present, num_gt)


@dataclass(frozen=True)
class FlatDetections:
    """Scored triplets of many images, one row per triplet.

    Attributes:
        img: ``[D]`` int64 image index (evaluator order).
        pos: ``[D]`` int64 position of the triplet in its image's prediction list.
        cls: ``[D]`` int64 interaction index.
        score: ``[D]`` float64.
        h_boxes, o_boxes: ``[D, 4]`` float64 xyxy, original pixels, exactly as predicted.
    """

    img: np.ndarray
    pos: np.ndarray
    cls: np.ndarray
    score: np.ndarray
    h_boxes: np.ndarray
    o_boxes: np.ndarray

    def __len__(self) -> int:
        return int(self.img.shape[0])

    def select(self, mask: np.ndarray) -> FlatDetections:
        return FlatDetections(self.img[mask], self.pos[mask], self.cls[mask], self.score[mask],
                              self.h_boxes[mask], self.o_boxes[mask])

    @classmethod
    def concat(cls, preds: Mapping[int, HOIPredictions | PredArrays]) -> FlatDetections:
        """Concatenate per-image predictions keyed by image index (vectorised box lookup)."""
        items = [(i, p if isinstance(p, PredArrays) else PredArrays.of(p))
                 for i, p in preds.items()]
        if not items:
            z = np.zeros((0,), dtype=np.int64)
            return cls(z, z, z, np.zeros((0,)), np.zeros((0, 4)), np.zeros((0, 4)))
        counts = np.array([len(p.scores) for _, p in items])
        box_counts = np.array([p.boxes.shape[0] for _, p in items])
        box_offset = np.repeat(np.cumsum(box_counts) - box_counts, counts)
        boxes = np.concatenate([p.boxes for _, p in items]).astype(np.float64)
        pair_idx = np.concatenate([p.pair_idx for _, p in items]) + box_offset[:, None]
        img = np.repeat(np.array([i for i, _ in items], dtype=np.int64), counts)
        pos = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        return cls(
            img=img,
            pos=pos.astype(np.int64),
            cls=np.concatenate([p.interactions for _, p in items]).astype(np.int64),
            score=np.concatenate([p.scores for _, p in items]).astype(np.float64),
            h_boxes=boxes[pair_idx[:, 0]],
            o_boxes=boxes[pair_idx[:, 1]],
        )


@dataclass(frozen=True)
class PredArrays:
    """Numpy view of one image's ``HOIPredictions`` (shapes checked)."""

    boxes: np.ndarray  # [N, 4]
    pair_idx: np.ndarray  # [K, 2] int64
    interactions: np.ndarray  # [K] int64
    scores: np.ndarray  # [K]

    @classmethod
    def of(cls, p: HOIPredictions) -> PredArrays:
        boxes = _np(p.boxes_xyxy)
        pair_idx = _np(p.pair_idx)
        inter = _np(p.interactions)
        scores = _np(p.scores)
        where = f"predictions for image {p.image_id!r}"
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise PredictionFileError(f"{where}: boxes_xyxy must be [N, 4], got {boxes.shape}")
        k = scores.shape[0] if scores.ndim == 1 else -1
        if k < 0 or pair_idx.shape != (k, 2) or inter.shape != (k,):
            raise PredictionFileError(
                f"{where}: pair_idx {pair_idx.shape}, interactions {inter.shape} and scores "
                f"{scores.shape} must be [K, 2], [K], [K]")
        if k and (pair_idx.min() < 0 or pair_idx.max() >= boxes.shape[0]):
            raise PredictionFileError(
                f"{where}: pair_idx values must index its {boxes.shape[0]} boxes, got range "
                f"[{pair_idx.min()}, {pair_idx.max()}]")
        return cls(boxes, pair_idx.astype(np.int64, copy=False),
                   inter.astype(np.int64, copy=False), scores)


def check_detections(det: FlatDetections, num_interactions: int, image_ids: Sequence[str]) -> None:
    """Raise ``PredictionFileError`` naming the image and triplet of the first bad value."""

    def fail(mask: np.ndarray, what: str) -> None:
        k = int(np.flatnonzero(mask)[0])
        raise PredictionFileError(
            f"predictions for image {image_ids[int(det.img[k])]!r}, triplet {int(det.pos[k])}: "
            f"{what}")

    bad = ~np.isfinite(det.score)
    if bad.any():
        fail(bad, f"score is {det.score[bad][0]} (scores must be finite numbers)")
    bad = (det.cls < 0) | (det.cls >= num_interactions)
    if bad.any():
        fail(bad, f"interaction {int(det.cls[bad][0])} is outside [0, {num_interactions})")
    bad = ~(np.isfinite(det.h_boxes).all(1) & np.isfinite(det.o_boxes).all(1))
    if bad.any():
        fail(bad, "box coordinates must be finite")
