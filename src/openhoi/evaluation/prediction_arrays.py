"""``PredictionArrays``: the scored triplets of many images as a handful of flat numpy arrays.

What the prediction files hold (the ``.npz`` layout) and what the evaluators consume. Building
it never touches torch, so ``openhoi evaluate`` reads a file and scores it without importing
torch; ``HOIPredictions`` (torch, one object per image) convert both ways for the Python API.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from openhoi.data.records import gather_ranges
from openhoi.errors import PredictionFileError

if TYPE_CHECKING:
    from openhoi.structures import HOIPredictions

FIELDS = ("boxes_xyxy", "labels", "pair_idx", "interactions", "scores")
Where = Callable[[int], str]
"""Names record ``k`` in an error message, e.g. ``preds.json: record 3 (image 'a.jpg')``."""


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


@dataclass(frozen=True, eq=False)
class PredictionArrays:
    """Predictions of ``I`` images (records), concatenated.

    Attributes:
        image_ids: ``[I]`` image file names, one per record (repeats allowed here; the
            evaluators keep the first).
        box_counts: ``[I]`` int64 boxes of each record; ``triplet_counts`` likewise triplets.
        boxes_xyxy: ``[sum N, 4]`` xyxy original pixels, in the dtype they were given.
        labels: ``[sum N]`` int64 object index of each box.
        pair_idx: ``[sum K, 2]`` int64 (human, object) rows of the record's own boxes.
        interactions: ``[sum K]`` int64 interaction index.
        scores: ``[sum K]`` float triplet scores.
    """

    image_ids: tuple[str, ...]
    box_counts: np.ndarray
    triplet_counts: np.ndarray
    boxes_xyxy: np.ndarray
    labels: np.ndarray
    pair_idx: np.ndarray
    interactions: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def box_offsets(self) -> np.ndarray:
        return _offsets(self.box_counts)

    @property
    def triplet_offsets(self) -> np.ndarray:
        return _offsets(self.triplet_counts)

    @classmethod
    def empty(cls) -> PredictionArrays:
        return cls((), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4), np.float32),
                   np.zeros(0, np.int64), np.zeros((0, 2), np.int64), np.zeros(0, np.int64),
                   np.zeros(0, np.float32))

    @classmethod
    def from_records(cls, records: Sequence[tuple]) -> PredictionArrays:
        """From ``(image_id, boxes [N, 4], labels [N], pair_idx [K, 2], interactions [K],
        scores [K])`` numpy tuples, one per image."""
        if not records:
            return cls.empty()
        cols = list(zip(*records))
        return cls(tuple(cols[0]),
                   np.array([len(b) for b in cols[1]], dtype=np.int64),
                   np.array([len(s) for s in cols[5]], dtype=np.int64),
                   np.concatenate(cols[1]).reshape(-1, 4),
                   np.concatenate(cols[2]).astype(np.int64, copy=False),
                   np.concatenate(cols[3]).astype(np.int64, copy=False).reshape(-1, 2),
                   np.concatenate(cols[4]).astype(np.int64, copy=False),
                   np.concatenate(cols[5]))

    @classmethod
    def concat(cls, parts: Sequence[PredictionArrays]) -> PredictionArrays:
        parts = [p for p in parts if len(p)]
        if len(parts) <= 1:
            return parts[0] if parts else cls.empty()
        return cls(tuple(n for p in parts for n in p.image_ids),
                   *(np.concatenate([getattr(p, f) for p in parts]) for f in (
                       "box_counts", "triplet_counts", *FIELDS)))

    @classmethod
    def from_predictions(cls, predictions: Sequence[HOIPredictions]) -> PredictionArrays:
        """Concatenate ``HOIPredictions`` (any device): one ``torch.cat`` per field; a shape
        error names the image."""
        from openhoi.evaluation.flat import cat_tensors, tensor_sizes

        if not predictions:
            return cls.empty()
        names = [p.image_id for p in predictions]
        err = PredictionFileError
        counts = tensor_sizes([p.scores for p in predictions])
        for field in ("pair_idx", "interactions"):
            n = tensor_sizes([getattr(p, field) for p in predictions])
            if (n != counts).any():
                k = int(np.flatnonzero(n != counts)[0])
                raise err(f"predictions for image {names[k]!r}: {field} has {n[k]} rows but "
                          f"there are {counts[k]} scores")
        box_counts = tensor_sizes([p.boxes_xyxy for p in predictions])
        labels = tensor_sizes([p.labels for p in predictions])
        if (labels != box_counts).any():
            k = int(np.flatnonzero(labels != box_counts)[0])
            raise err(f"predictions for image {names[k]!r}: {labels[k]} labels for "
                      f"{box_counts[k]} boxes")
        tails = {"boxes_xyxy": (4,), "labels": (), "pair_idx": (2,), "interactions": (),
                 "scores": ()}
        arrays = {f: cat_tensors([getattr(p, f) for p in predictions], tails[f], f, names, err)
                  for f in FIELDS}
        return cls(tuple(names), box_counts, counts, arrays["boxes_xyxy"].reshape(-1, 4),
                   arrays["labels"].astype(np.int64), arrays["pair_idx"].astype(np.int64)
                   .reshape(-1, 2), arrays["interactions"].astype(np.int64), arrays["scores"])

    def to_predictions(self) -> list[HOIPredictions]:
        """One ``HOIPredictions`` (CPU tensors sharing this memory) per record."""
        import torch

        from openhoi.structures import HOIPredictions

        b, t = self.box_offsets, self.triplet_offsets
        return [HOIPredictions(torch.from_numpy(self.boxes_xyxy[b[k]:b[k + 1]]),
                               torch.from_numpy(self.labels[b[k]:b[k + 1]]),
                               torch.from_numpy(self.pair_idx[t[k]:t[k + 1]]),
                               torch.from_numpy(self.interactions[t[k]:t[k + 1]]),
                               torch.from_numpy(self.scores[t[k]:t[k + 1]]), name)
                for k, name in enumerate(self.image_ids)]

    def select(self, records: np.ndarray) -> PredictionArrays:
        """The records at ``records``, in that order (``self`` if that is all of them, in
        order: a file in the ground truth's image order is not copied)."""
        records = np.asarray(records, dtype=np.int64)
        if len(records) == len(self) and (records == np.arange(len(self))).all():
            return self
        box_rows, _ = gather_ranges(self.box_offsets, records)
        tri_rows, _ = gather_ranges(self.triplet_offsets, records)
        return PredictionArrays(tuple(self.image_ids[k] for k in records.tolist()),
                                self.box_counts[records], self.triplet_counts[records],
                                self.boxes_xyxy[box_rows], self.labels[box_rows],
                                self.pair_idx[tri_rows], self.interactions[tri_rows],
                                self.scores[tri_rows])

    def check(self, num_interactions: int, where: Where,
              names: dict[str, str] | None = None) -> None:
        """Raise ``PredictionFileError`` naming the record, field and entry of the first bad
        value: pair rows outside the record's boxes, interactions outside
        ``[0, num_interactions)``, non-finite scores or boxes. ``names`` renames fields for
        the message (a GEN-VLKT file's own field names)."""
        tri_rec = np.repeat(np.arange(len(self)), self.triplet_counts)
        box_rec = np.repeat(np.arange(len(self)), self.box_counts)
        n_box = self.box_counts[tri_rec][:, None]
        checks = [
            (((self.pair_idx < 0) | (self.pair_idx >= n_box)).any(1), tri_rec,
             self.triplet_offsets, "pair_idx", lambda k: f"must index the "
             f"{self.box_counts[k]} boxes"),
            ((self.interactions < 0) | (self.interactions >= num_interactions), tri_rec,
             self.triplet_offsets, "interactions", lambda k: f"must be in [0, {num_interactions})"),
            (~np.isfinite(self.scores), tri_rec, self.triplet_offsets, "scores",
             lambda k: "must be finite numbers"),
            (~np.isfinite(self.boxes_xyxy).all(1), box_rec, self.box_offsets, "boxes_xyxy",
             lambda k: "must be finite"),
        ]
        for bad, rec, offsets, field, rule in checks:
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                k = int(rec[i])
                field = (names or {}).get(field, field)
                raise PredictionFileError(f"{where(k)}: field {field!r} entry {i - offsets[k]} "
                                          f"{rule(k)}")


def check_record(boxes: np.ndarray, labels: np.ndarray, pair_idx: np.ndarray,
                 inter: np.ndarray, scores: np.ndarray, where: str) -> None:
    """Lengths of one record's fields must agree (``PredictionFileError`` naming it)."""
    if len(labels) != len(boxes):
        raise PredictionFileError(f"{where}: {len(labels)} labels for {len(boxes)} boxes")
    if not len(pair_idx) == len(inter) == len(scores):
        raise PredictionFileError(f"{where}: pair_idx, interactions and scores have "
                                  f"{len(pair_idx)}, {len(inter)}, {len(scores)} rows")
