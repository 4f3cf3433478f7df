"""Typed containers passed between data, model, criterion, post-processor and evaluators.

Box conventions are in the names: ``_xyxy`` (x1, y1, x2, y2) or ``_cxcywh`` (centre, size);
absolute pixels unless the docstring says "normalized" (divided by the image's unpadded width
and height, DETR's convention). Annotations are instances + pairs: one box tensor, and pairs
that index into it, so a geometric transform touches one tensor and pairs cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import torch
from torch import Tensor


@dataclass
class HOITargets:
    """Ground truth of one image.

    Attributes:
        boxes_xyxy: ``[N, 4]`` float32, absolute pixels of the image as it is now (after
            transforms), xyxy.
        labels: ``[N]`` int64 object-class indices into ``LabelSpace.objects`` (humans carry
            ``LabelSpace.human_label``).
        pair_idx: ``[M, 2]`` int64 (human, object) indices into ``boxes_xyxy``. An object index
            of ``-1`` means the pair has no object (V-COCO roles without one).
        verbs: ``[M, V]`` float32 multi-hot over ``LabelSpace.verbs``; one row per distinct pair.
        image_id: the image's file name as the annotation file gives it.
        size: ``(height, width)`` of the image as it is now.
        orig_size: ``(height, width)`` of the image on disk.
        hoi_entries: ``[E, 2]`` int64 (row of ``pair_idx``, verb index) of every annotation
            entry in file order, repeated entries kept, or None: one entry per positive of
            ``verbs``. Training ignores it; the evaluators count ground truth from it, as the
            reference evaluators count every ``hoi_annotation`` entry.
    """

    boxes_xyxy: Tensor
    labels: Tensor
    pair_idx: Tensor
    verbs: Tensor
    image_id: str
    size: tuple[int, int]
    orig_size: tuple[int, int]
    hoi_entries: Tensor | None = None

    @property
    def num_pairs(self) -> int:
        return int(self.pair_idx.shape[0])

    def to(self, device: torch.device | str) -> HOITargets:
        return replace(
            self,
            boxes_xyxy=self.boxes_xyxy.to(device),
            labels=self.labels.to(device),
            pair_idx=self.pair_idx.to(device),
            verbs=self.verbs.to(device),
            hoi_entries=None if self.hoi_entries is None else self.hoi_entries.to(device),
        )

    def pair_boxes_xyxy(self) -> tuple[Tensor, Tensor]:
        """Human and object boxes of every pair, ``[M, 4]`` each (zeros where no object)."""
        h = self.boxes_xyxy[self.pair_idx[:, 0]]
        o_idx = self.pair_idx[:, 1]
        o = self.boxes_xyxy[o_idx.clamp(min=0)] * (o_idx >= 0).unsqueeze(-1)
        return h, o

    def pair_object_labels(self, no_object: int) -> Tensor:
        """Object label of every pair, ``[M]``; ``no_object`` where the pair has none."""
        o_idx = self.pair_idx[:, 1]
        labels = self.labels[o_idx.clamp(min=0)]
        return torch.where(o_idx >= 0, labels, torch.full_like(labels, no_object))


@dataclass
class ImageBatch:
    """A padded batch of images, DETR's NestedTensor made explicit.

    Attributes:
        images: ``[B, 3, H, W]`` float32, normalized with the detector's mean/std, zero-padded
            bottom/right to the largest image of the batch.
        mask: ``[B, H, W]`` bool, True on padding.
        sizes: ``[B, 2]`` int64 (height, width) of each unpadded image.
        image_ids: each image's id (file name) where the loader knows it, else empty; models
            that read per-image side data (a detections file) need it.
    """

    images: Tensor
    mask: Tensor
    sizes: Tensor
    image_ids: tuple[str, ...] = ()

    def to(self, device: torch.device | str, non_blocking: bool = False) -> ImageBatch:
        return ImageBatch(
            self.images.to(device, non_blocking=non_blocking),
            self.mask.to(device, non_blocking=non_blocking),
            self.sizes.to(device, non_blocking=non_blocking),
            self.image_ids,
        )

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass
class HOIRawOutput:
    """Raw output of an HOI detector for a batch of ``B`` images and ``Q`` query pairs.

    Attributes:
        obj_logits: ``[B, Q, O + 1]`` object-class logits, last column = no-object.
        h_boxes_cxcywh: ``[B, Q, 4]`` human boxes, cxcywh, normalized to [0, 1].
        o_boxes_cxcywh: ``[B, Q, 4]`` object boxes, cxcywh, normalized to [0, 1].
        interaction_logits: ``[B, Q, I]`` logits over the label space's interactions (for
            HOICLIP the training logits S_inter + alpha * S_v, HOICLIP eq. 10).
        verb_logits: ``[B, Q, V]`` verb logits where the model has a verb head, else None.
        aux: outputs of the intermediate decoder layers (their own ``aux`` is empty).
        extras: model-specific tensors, documented by the model that fills them (e.g. CLIP's
            global image feature for the zero-shot enhancement or the mimic loss).
    """

    obj_logits: Tensor
    h_boxes_cxcywh: Tensor
    o_boxes_cxcywh: Tensor
    interaction_logits: Tensor
    verb_logits: Tensor | None = None
    aux: list[HOIRawOutput] = field(default_factory=list)
    extras: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class HOIPredictions:
    """Scored triplets for one image, in the pixels of the image on disk.

    Attributes:
        boxes_xyxy: ``[N, 4]`` float32 absolute pixels, xyxy (humans and objects together).
        labels: ``[N]`` int64 object-class indices.
        pair_idx: ``[K, 2]`` int64 (human, object) indices into ``boxes_xyxy``.
        interactions: ``[K]`` int64 interaction indices into ``LabelSpace.interactions``.
        scores: ``[K]`` float32 triplet scores, higher is more confident.
        image_id: the image's file name.
    """

    boxes_xyxy: Tensor
    labels: Tensor
    pair_idx: Tensor
    interactions: Tensor
    scores: Tensor
    image_id: str

    def to(self, device: torch.device | str) -> HOIPredictions:
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        return HOIPredictions(**{k: v.to(device) if isinstance(v, Tensor) else v
                                 for k, v in kw.items()})

    def __len__(self) -> int:
        return int(self.scores.shape[0])


@dataclass
class RecognitionRawOutput:
    """Raw output of an image-level recognition model (task ``recognition``).

    Attributes:
        logits: ``[B, I]`` interaction logits (pre-sigmoid), one row per image.
        extras: optional named tensors of the model (e.g. ``image_embed`` ``[B, E]``).
    """

    logits: Tensor
    extras: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class RecognitionPredictions:
    """Image-level interaction scores of one image (what recognition post-processing gives
    and the recognition evaluator scores).

    Attributes:
        scores: ``[I]`` float32 score of every interaction, higher is more confident.
        image_id: the image's file name.
    """

    scores: Tensor
    image_id: str

    def to(self, device: torch.device | str) -> RecognitionPredictions:
        return RecognitionPredictions(self.scores.to(device), self.image_id)


@dataclass
class Triplet:
    """One <human, verb, object> detection, ready to print or draw (image pixels, xyxy).

    Attributes:
        h_box_xyxy: human box ``(x1, y1, x2, y2)`` in pixels of the image on disk.
        o_box_xyxy: object box, same convention (``None`` for a role without object).
        object_name: object class name.
        verb_name: verb name.
        interaction: index of the interaction in the label space used for prediction.
        score: triplet score.
    """

    h_box_xyxy: tuple[float, float, float, float]
    o_box_xyxy: tuple[float, float, float, float] | None
    object_name: str
    verb_name: str
    interaction: int
    score: float


# ---- image-level recognition (detection-free, DEFR) ------------------------------------------
@dataclass
class ImageLabels:
    """Image-level interaction labels of one image (HICO classification layout).

    Attributes:
        image_id: the image's file name.
        orig_size: ``(height, width)`` of the image on disk.
        labels: ``[I]`` float32 over ``LabelSpace.interactions``: 1 positive, -1 negative,
            0 ambiguous (ignored by the loss and the metric).
    """

    image_id: str
    orig_size: tuple[int, int]
    labels: Tensor

    @property
    def num_pairs(self) -> int:
        """The engine's per-step normaliser counts one unit per image (the recognition
        criterion averages over images itself, as DEFR's ``loss.mean()``)."""
        return 1

    def to(self, device: torch.device | str) -> ImageLabels:
        return replace(self, labels=self.labels.to(device))
