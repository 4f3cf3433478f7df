"""HOI detection the DEFR way: a recognition checkpoint scores the human-object pairs of
off-the-shelf detections (DEFR ``hoi_detection/``, built on SCG's pipeline).

Per image (DEFR ``pair_generator.py`` + ``hoi_head.py`` + ``eval/cache.py``):

1. instances from a detections file (``openhoi.data.detections``); scores below 0.2 dropped,
   per-class NMS at IoU 0.5, at most 15 humans and 15 objects, best first
   (``box_score_thresh``, ``box_nms_thresh``, ``max_human``, ``max_object``);
2. pairs: every human with every other instance, other humans included
   (``PairGenerator.forward``: ``x != y`` over humans x instances);
3. each pair's interaction scores ``sigmoid(logits) [I]`` from the recognition model;
4. the triplet score ``s_hoi ** p_i * s_h ** p_h * s_o ** p_o``, only for the interactions of
   the detected object's class (``compute_prior_scores`` zeroes the rest); DEFR's test.py
   computes ``s_h ** 2.8 * s_o ** 2.8`` and ``eval/cache.py`` re-powers it to
   ``p_h = 6, p_o = 3, p_i = 1``, the defaults here.

What the model sees of a pair (``region``):

- ``"mask"``: DEFR's released code. The whole image goes through CLIP's ViT (resized to the
  model's square input); in the last ``mask_layers`` blocks the class token may attend only to
  itself and to the patches inside the human and the object box (``HoiHead.
  build_attention_masks``; ``test.py`` sets ``mask_layers = 1``). CLIP ViT backbones only.
- ``"union"``: each pair's union box is cropped from the image and classified as the model
  classifies whole images (square resize, its normalisation): any backbone.
- ``"auto"`` (default): ``mask`` where the model supports it, else ``union``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from PIL import Image
from torch import Tensor

from openhoi.data.detections import Instances, file_instances, region_proposals
from openhoi.errors import ConfigError
from openhoi.ops.boxes import union_boxes
from openhoi.ops.pairs import enumerate_pairs
from openhoi.structures import HOIPredictions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairScoring:
    """DEFR's detection settings (``hoi_detection/configs/defaults.yaml``, ``eval/cache.py``)."""

    score_thresh: float = 0.2
    """Instances scoring below this are dropped (``box_score_thresh``)."""
    nms_iou: float = 0.5
    """Per-class NMS IoU threshold (``box_nms_thresh``)."""
    max_instances: int = 15
    """Humans, and separately objects, kept at most (``max_human``, ``max_object``)."""
    power_human: float = 6.0
    """Exponent of the human detection score (``cache.py`` ``h_p``)."""
    power_object: float = 3.0
    """Exponent of the object detection score (``cache.py`` ``o_p``)."""
    power_interaction: float = 1.0
    """Exponent of the recognition score (``cache.py`` ``i_p``)."""
    region: Literal["auto", "mask", "union"] = "auto"
    """What the recognition model sees of a pair (see the module docstring)."""
    mask_layers: int = 1
    """``mask``: the last blocks whose class token is limited to the boxes (DEFR ``test.py``
    ``cfg.model.mask_layers = 1``; ``defaults.yaml`` says 6)."""
    batch_size: int = 32
    """Pairs per forward pass."""

    def __post_init__(self) -> None:
        if not 0 <= self.score_thresh <= 1 or not 0 < self.nms_iou <= 1:
            raise ConfigError("detection settings: the score threshold must lie in [0, 1] and "
                              "the NMS IoU in (0, 1]")
        if min(self.max_instances, self.batch_size, self.mask_layers) < 1:
            raise ConfigError("detection settings: max instances, mask layers and batch size "
                              "must be >= 1")
        if min(self.power_human, self.power_object, self.power_interaction) < 0:
            raise ConfigError("detection settings: score exponents must be >= 0")
        if self.region not in ("auto", "mask", "union"):
            raise ConfigError(f"detection settings: unknown region {self.region!r}")


def triplet_scores(hoi_scores: Tensor, h_scores: Tensor, o_scores: Tensor, o_labels: Tensor,
                   interaction_object: Tensor, scoring: PairScoring) -> Tensor:
    """``[P, I]`` DEFR's triplet scores, 0 for interactions of another object class.

    Args:
        hoi_scores: ``[P, I]`` sigmoid scores of each pair's region.
        h_scores, o_scores: ``[P]`` detection scores of the pair's human and object.
        o_labels: ``[P]`` object class of the pair's second instance.
        interaction_object: ``[I]`` object class of each interaction.
    """
    prior = h_scores.pow(scoring.power_human) * o_scores.pow(scoring.power_object)  # [P]
    valid = o_labels[:, None] == interaction_object[None, :]  # [P, I]
    return hoi_scores.pow(scoring.power_interaction) * prior[:, None] * valid


class PairRecognizer:
    """A ``Recognizer`` (recognition checkpoint + its preprocessing) applied to detected pairs.

    Args:
        recognizer: ``openhoi.recognize.Recognizer``.
        scoring: the detection settings.
    """

    def __init__(self, recognizer: Any, scoring: PairScoring | None = None) -> None:
        self.recognizer = recognizer
        self.scoring = s = scoring or PairScoring()
        self.space = recognizer.space
        self.interaction_object = self.space.interaction_object.cpu()  # [I]
        masks = bool(getattr(recognizer.model, "supports_box_mask", False))
        if s.region == "mask" and not masks:
            raise ConfigError("--region mask (DEFR's attention mask) needs a recognition model "
                              "with a CLIP ViT backbone; use --region union")
        self.region = ("mask" if masks else "union") if s.region == "auto" else s.region

    @torch.no_grad()
    def union_scores(self, image: Image.Image, boxes_xyxy: Tensor) -> Tensor:
        """``[P, I]`` sigmoid scores of the model on each box's crop of ``image``.

        Args:
            boxes_xyxy: ``[P, 4]`` absolute pixels of ``image``.
        """
        out = []
        x1, y1, x2, y2 = boxes_xyxy.round().long().unbind(-1)  # [P] each, whole pixels
        x1, y1 = x1.clamp(0, image.width - 1), y1.clamp(0, image.height - 1)
        # inside the image (PIL pads outside with black) and at least one pixel wide and high
        x2 = torch.maximum(x2.clamp(max=image.width), x1 + 1)
        y2 = torch.maximum(y2.clamp(max=image.height), y1 + 1)
        rects = torch.stack([x1, y1, x2, y2], -1).tolist()  # [P, 4]
        for start in range(0, len(rects), self.scoring.batch_size):
            chunk = rects[start:start + self.scoring.batch_size]
            crops = [image.crop(tuple(b)) for b in chunk]
            out.append(self.recognizer.scores(crops))  # [p, I]
        return torch.cat(out) if out else torch.zeros(0, self.space.num_interactions)

    @torch.no_grad()
    def masked_scores(self, image: Image.Image, h_boxes: Tensor, o_boxes: Tensor) -> Tensor:
        """``[P, I]`` sigmoid scores with DEFR's box attention mask (pixels of ``image``)."""
        rec = self.recognizer
        if len(h_boxes) == 0:
            return torch.zeros(0, self.space.num_interactions)
        pixels = rec.transform(image)[None].to(rec.device)  # [1, 3, S, S]
        s_h, s_w = pixels.shape[-2:]
        scale = torch.tensor([s_w / image.width, s_h / image.height]).repeat(2)  # [4]
        pairs = torch.stack([h_boxes, o_boxes], 1) * scale  # [P, 2, 4] input pixels
        out = []
        for start in range(0, len(pairs), self.scoring.batch_size):
            chunk = pairs[start:start + self.scoring.batch_size].to(rec.device)
            logits = rec.model.box_masked_logits(pixels, chunk, self.scoring.mask_layers)
            out.append(logits.float().sigmoid().cpu())  # [p, I]
        return torch.cat(out)

    def detect(self, image: Image.Image, instances: Instances, image_id: str) -> HOIPredictions:
        """Triplets of one image from its detected instances (pixels of ``image``)."""
        s = self.scoring
        inst = region_proposals(instances, self.space.human_label, s.nms_iou, s.score_thresh,
                                0, s.max_instances)  # humans first, best first
        h_idx, o_idx = enumerate_pairs(inst.labels, self.space.human_label)  # [P], [P]
        boxes = inst.boxes_xyxy.float()
        if self.region == "mask":
            hoi = self.masked_scores(image, boxes[h_idx], boxes[o_idx])  # [P, I]
        else:
            hoi = self.union_scores(image, union_boxes(boxes[h_idx], boxes[o_idx]))
        scores = triplet_scores(hoi, inst.scores[h_idx], inst.scores[o_idx],
                                inst.labels[o_idx], self.interaction_object, s)  # [P, I]
        pair, interaction = torch.nonzero(scores > 0).unbind(1)  # DEFR keeps scores.nonzero()
        return HOIPredictions(
            boxes_xyxy=boxes, labels=inst.labels.long(),
            pair_idx=torch.stack([h_idx[pair], o_idx[pair]], 1).long(),  # [K, 2]
            interactions=interaction.long(), scores=scores[pair, interaction].float(),
            image_id=image_id)

    def detect_files(self, paths: Iterable[str | Path],
                     detections: dict[str, dict[str, Tensor]]) -> Iterator[HOIPredictions]:
        """Triplets of every image file; its entry in ``detections`` is found by file name
        (an image the file does not list has no instances, hence no triplets)."""
        from openhoi.data.image_io import load_image

        for path in paths:
            image = load_image(path, apply_exif=False)  # boxes are in the stored pixels
            image_id = Path(path).name
            size_hw = torch.tensor([image.height, image.width])
            yield self.detect(image, file_instances(detections, image_id, size_hw), image_id)
