"""Per-image annotation records, stored flat: one array per field for a whole split.

A split of HICO-DET has ~38k images; keeping one Python object (or tensor) per image makes
reading slow and makes every forked data-loader worker copy the pages it touches (reference
counts). ``HOIAnnotations`` instead keeps a handful of numpy arrays plus offsets, the way
detectron2 serialises its dataset dicts, and builds an ``HOIRecord`` view per image on access.

Two views of the same HOIs: *pairs* (one row per distinct (human, object), multi-hot verbs: the
training targets) and *entries* (one row per ``hoi_annotation`` entry of the file, in file
order, repeats kept: what the reference evaluators count, see ``openhoi.evaluation.hico_map``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch only for to_targets: the evaluators read records without it
    from openhoi.structures import HOITargets


@dataclass(frozen=True, eq=False)
class HOIRecord:
    """The annotation of one image as the file gives it (original pixels, no transforms).

    Attributes:
        file_name: image file name as written in the annotation file.
        boxes_xyxy: ``[N, 4]`` float32 absolute pixels, xyxy (humans and objects together).
        labels: ``[N]`` int64 object-class indices into ``LabelSpace.objects``.
        pair_idx: ``[M, 2]`` int64 (human, object) indices into ``boxes_xyxy``; object ``-1``
            where the pair has no object (V-COCO roles without one). Distinct rows.
        verbs: ``[M, V]`` float32 multi-hot verbs of each pair.
        size: ``(height, width)`` when the annotation file states it, else None.
        index: position of the image in the annotation file.
        hoi_entries: ``[E, 2]`` int64 (row of ``pair_idx``, verb index) of every
            ``hoi_annotation`` entry, in file order, repeated entries kept (None: one entry per
            positive of ``verbs``).
    """

    file_name: str
    boxes_xyxy: np.ndarray
    labels: np.ndarray
    pair_idx: np.ndarray
    verbs: np.ndarray
    size: tuple[int, int] | None
    index: int
    hoi_entries: np.ndarray | None = None

    def to_targets(self, size: tuple[int, int]) -> HOITargets:
        """``HOITargets`` (torch, copies) of this record for an image of ``size`` = (h, w)."""
        import torch

        from openhoi.structures import HOITargets

        return HOITargets(
            boxes_xyxy=torch.tensor(self.boxes_xyxy, dtype=torch.float32).reshape(-1, 4),
            labels=torch.tensor(self.labels, dtype=torch.int64),
            pair_idx=torch.tensor(self.pair_idx, dtype=torch.int64).reshape(-1, 2),
            verbs=torch.tensor(self.verbs, dtype=torch.float32),
            image_id=self.file_name,
            size=size,
            orig_size=size,
            hoi_entries=None if self.hoi_entries is None else
            torch.tensor(self.hoi_entries, dtype=torch.int64).reshape(-1, 2),
        )


def gather_ranges(offsets: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions of the rows of ``indices`` in a ragged array, and the new offsets.

    Args:
        offsets: ``[I + 1]`` start of each item's rows (last = total).
        indices: ``[K]`` items to take, in the wanted order.

    Returns:
        ``([sum of counts] int64 row positions, [K + 1] int64 offsets of the gathered array)``.
    """
    starts = offsets[indices]
    counts = offsets[indices + 1] - starts
    new_offsets = np.zeros(len(indices) + 1, dtype=np.int64)
    np.cumsum(counts, out=new_offsets[1:])
    # position k of item j is starts[j] + (k - new_offsets[j])
    rows = np.arange(new_offsets[-1], dtype=np.int64)
    rows += np.repeat(starts - new_offsets[:-1], counts)
    return rows, new_offsets


@dataclass(frozen=True, eq=False)
class HOIAnnotations(Sequence[HOIRecord]):
    """All images of one annotation file, as flat arrays. ``annotations[i]`` is an ``HOIRecord``.

    Attributes:
        source: the file the annotations were read from (for error messages).
        num_verbs: ``V``, width of the verb multi-hot.
        file_names: ``[I]`` numpy unicode array of image file names.
        indices: ``[I]`` int64 position of each image in the source file.
        sizes: ``[I, 2]`` int64 (height, width) stated by the file, -1 where it states none.
        box_offsets: ``[I + 1]`` int64; image ``i`` owns boxes ``box_offsets[i]:box_offsets[i+1]``.
        boxes_xyxy: ``[sum N, 4]`` float32 absolute pixels, xyxy.
        labels: ``[sum N]`` int64 object-class indices.
        pair_offsets: ``[I + 1]`` int64, as ``box_offsets`` for pairs.
        pair_idx: ``[sum M, 2]`` int64 (human, object) indices local to the image, object -1
            where there is none.
        pair_verbs: ``[sum M, V]`` bool multi-hot verbs.
        entry_offsets: ``[I + 1]`` int64, as ``box_offsets`` for ``hoi_entries``.
        hoi_entries: ``[sum E, 2]`` int64 (pair row local to the image, verb index) of every
            ``hoi_annotation`` entry in file order, repeated entries kept. Both default to one
            entry per positive of ``pair_verbs`` (pair order, then verb order).
    """

    source: str
    num_verbs: int
    file_names: np.ndarray
    indices: np.ndarray
    sizes: np.ndarray
    box_offsets: np.ndarray
    boxes_xyxy: np.ndarray
    labels: np.ndarray
    pair_offsets: np.ndarray
    pair_idx: np.ndarray
    pair_verbs: np.ndarray
    entry_offsets: np.ndarray | None = None
    hoi_entries: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.entry_offsets is None) != (self.hoi_entries is None):
            raise ValueError("entry_offsets and hoi_entries must be given together")
        if self.hoi_entries is None:
            row, verb = np.nonzero(self.pair_verbs)  # [E] each, pair order then verb order
            image_of_row = np.repeat(np.arange(len(self)), self.num_pairs)
            local = row - self.pair_offsets[image_of_row[row]] if row.size else row
            counts = np.bincount(image_of_row[row], minlength=len(self))
            offsets = np.zeros(len(self) + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            object.__setattr__(self, "entry_offsets", offsets)
            object.__setattr__(self, "hoi_entries",
                               np.stack([local, verb], 1).astype(np.int64).reshape(-1, 2))

    def __len__(self) -> int:
        return int(self.file_names.shape[0])

    def __getitem__(self, i: int) -> HOIRecord:  # type: ignore[override]
        if not -len(self) <= i < len(self):
            raise IndexError(f"image {i} out of range for {len(self)} images")
        i = int(i) % len(self)
        b0, b1 = self.box_offsets[i], self.box_offsets[i + 1]
        p0, p1 = self.pair_offsets[i], self.pair_offsets[i + 1]
        e0, e1 = self.entry_offsets[i], self.entry_offsets[i + 1]
        size = tuple(int(s) for s in self.sizes[i])
        return HOIRecord(
            file_name=str(self.file_names[i]),
            boxes_xyxy=self.boxes_xyxy[b0:b1],
            labels=self.labels[b0:b1],
            pair_idx=self.pair_idx[p0:p1],
            verbs=self.pair_verbs[p0:p1].astype(np.float32),
            size=size if min(size) > 0 else None,  # type: ignore[arg-type]
            index=int(self.indices[i]),
            hoi_entries=self.hoi_entries[e0:e1],
        )

    def __iter__(self) -> Iterator[HOIRecord]:
        return (self[i] for i in range(len(self)))

    @property
    def num_boxes(self) -> np.ndarray:
        """``[I]`` int64 number of boxes of each image."""
        return np.diff(self.box_offsets)

    @property
    def num_pairs(self) -> np.ndarray:
        """``[I]`` int64 number of distinct (human, object) pairs of each image."""
        return np.diff(self.pair_offsets)

    @property
    def num_entries(self) -> np.ndarray:
        """``[I]`` int64 number of ``hoi_annotation`` entries of each image (repeats kept)."""
        return np.diff(self.entry_offsets)

    def select(self, indices: Sequence[int] | np.ndarray) -> HOIAnnotations:
        """The images at ``indices`` (in that order), as a new ``HOIAnnotations``."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"select: indices out of range for {len(self)} images")
        box_rows, box_offsets = gather_ranges(self.box_offsets, idx)
        pair_rows, pair_offsets = gather_ranges(self.pair_offsets, idx)
        entry_rows, entry_offsets = gather_ranges(self.entry_offsets, idx)
        return HOIAnnotations(
            source=self.source,
            num_verbs=self.num_verbs,
            file_names=self.file_names[idx],
            indices=self.indices[idx],
            sizes=self.sizes[idx],
            box_offsets=box_offsets,
            boxes_xyxy=self.boxes_xyxy[box_rows],
            labels=self.labels[box_rows],
            pair_offsets=pair_offsets,
            pair_idx=self.pair_idx[pair_rows],
            pair_verbs=self.pair_verbs[pair_rows],
            entry_offsets=entry_offsets,
            hoi_entries=self.hoi_entries[entry_rows],
        )

    def pair_object_labels(self) -> np.ndarray:
        """``[sum M]`` int64 object-class index of every pair, -1 where it has no object."""
        image_of_pair = np.repeat(np.arange(len(self)), self.num_pairs)
        o = self.pair_idx[:, 1]
        flat = self.box_offsets[image_of_pair] + np.maximum(o, 0)
        labels = self.labels[flat] if len(flat) else np.zeros(0, dtype=np.int64)
        return np.where(o >= 0, labels, -1)
