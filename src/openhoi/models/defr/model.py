"""DEFR's model (backbone -> optional neck -> classifier), criterion and post-processor.

``DefrModel.forward(ImageBatch) -> RecognitionRawOutput(logits [B, I])``; the criterion is
LSE-Sign or BCE over 1/-1 labels with 0 ignored; the post-processor gives sigmoid scores per
image, or the logits (``score: logit``, DEFR's evaluation: float32 sigmoid ties large logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from openhoi.label_space import LabelSpace
from openhoi.models.contract import HOIModel
from openhoi.ops.losses import lse_sign_loss, masked_bce_loss
from openhoi.structures import (
    HOITargets,
    ImageBatch,
    ImageLabels,
    RecognitionPredictions,
    RecognitionRawOutput,
)


class CosineClassifier(nn.Module):
    """``logits = exp(s) * norm(x) @ norm(W)^T`` with a fixed log scale ``s`` (DEFR
    ``ClipViT.forward``: ``logit_scale.exp() * image_features @ text_features.t()``, both
    normalised every call; ``log_scale_trainable: False``).

    Args:
        weight: ``[I, D]`` initial rows (language embeddings or random).
        logit_scale: ``s`` (DEFR 4.61).
        trainable: whether ``weight`` trains.
    """

    def __init__(self, weight: Tensor, logit_scale: float, trainable: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.clone().float(), requires_grad=trainable)
        self.register_buffer("logit_scale", torch.tensor(float(logit_scale)))

    def forward(self, x: Tensor) -> Tensor:
        return self.logit_scale.exp() * F.normalize(x, dim=-1) @ F.normalize(self.weight, dim=-1).T


class LinearClassifier(nn.Module):
    """``logits = Linear(exp(s) * norm(x))`` (DEFR ``*-linear``: weight = normalised
    embeddings, bias 0 for language init; ``nn.Linear``'s default init for random)."""

    def __init__(self, weight: Tensor | None, num_classes: int, dim: int, logit_scale: float,
                 trainable: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, num_classes)
        if weight is not None:
            with torch.no_grad():
                self.linear.weight.copy_(F.normalize(weight.float(), dim=-1))
                self.linear.bias.zero_()
        self.linear.requires_grad_(trainable)
        self.register_buffer("logit_scale", torch.tensor(float(logit_scale)))

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.logit_scale.exp() * F.normalize(x, dim=-1))


class DefrModel(HOIModel):
    """Image -> interaction logits.

    Args:
        backbone: ``pixels [B, 3, S, S] -> [B, D]``, with ``out_dim``.
        classifier: ``[B, D'] -> [B, I]``.
        neck: ``[B, D] -> [B, D']`` linear map when the classifier's space differs, else None.
        backbone_trainable: ``False`` keeps the backbone frozen and in eval mode.
    """

    task: ClassVar[str] = "recognition"

    def __init__(self, backbone: nn.Module, classifier: nn.Module, neck: nn.Module | None = None,
                 backbone_trainable: bool = True, image_size: int = 224,
                 pixel_mean: tuple[float, ...] = (0.5, 0.5, 0.5),
                 pixel_std: tuple[float, ...] = (0.5, 0.5, 0.5)) -> None:
        super().__init__()
        # preprocessing travels with the model (open_clip style): square input, normalisation
        self.image_size, self.pixel_mean, self.pixel_std = image_size, pixel_mean, pixel_std
        self.backbone = backbone
        self.neck = neck
        self.classifier = classifier
        self.backbone_trainable = backbone_trainable
        if not backbone_trainable:
            self.backbone.requires_grad_(False)
            self.backbone.eval()

    def train(self, mode: bool = True) -> DefrModel:
        super().train(mode)
        if not self.backbone_trainable:
            self.backbone.eval()  # a frozen backbone never leaves eval mode
        return self

    def features(self, images: Tensor) -> Tensor:
        """``[B, D']`` the features the classifier sees."""
        with torch.set_grad_enabled(self.backbone_trainable and torch.is_grad_enabled()):
            x = self.backbone(images)  # [B, D]
        return self.neck(x) if self.neck is not None else x

    def forward(self, batch: ImageBatch) -> RecognitionRawOutput:
        return RecognitionRawOutput(self.classifier(self.features(batch.images)))  # [B, I]

    def parameter_group(self, name: str) -> str:
        """``rest`` (``train.lr``) for the classifier, ``backbone`` (``train.lr_backbone``)
        for the image tower and the neck that feeds the classifier."""
        return "rest" if name.startswith("classifier.") else "backbone"


def image_labels(targets: Sequence[ImageLabels | HOITargets], space: LabelSpace) -> Tensor:
    """``[B, I]`` labels in {1, -1, 0}: ``ImageLabels`` as given; detection ground truth
    (``HOITargets``) as 1 where a pair has the interaction, -1 elsewhere."""
    rows = []
    for t in targets:
        if isinstance(t, ImageLabels):
            rows.append(t.labels.float())
            continue
        obj = t.pair_object_labels(space.num_objects)  # [M]
        hit = space.pair_interactions(t.verbs, obj).gt(0).any(0)  # [I]
        rows.append(hit.float() * 2 - 1)
    return torch.stack(rows)


class DefrCriterion(nn.Module):
    """``{"loss_<kind>": mean over images}`` (DEFR ``loss.mean()``); the engine's
    normaliser is not needed (every image counts once). Targets are image-level labels or
    detection ground truth (see ``image_labels``)."""

    def __init__(self, kind: str, space: LabelSpace) -> None:
        super().__init__()
        if kind not in ("bce", "lse_sign"):
            raise ValueError(f"unknown DEFR loss {kind!r}")
        self.kind, self.space = kind, space

    def forward(self, raw: RecognitionRawOutput, targets: Sequence[ImageLabels | HOITargets],
                num_pairs: float | None = None) -> dict[str, Tensor]:
        labels = image_labels(targets, self.space).to(raw.logits.device)  # [B, I]
        fn = lse_sign_loss if self.kind == "lse_sign" else masked_bce_loss
        return {f"loss_{self.kind}": fn(raw.logits.float(), labels)}


class DefrPostprocess:
    """``RecognitionPredictions(image_id, scores)`` per image: ``sigmoid(logits)``, or the
    logits themselves with ``score="logit"`` (DEFR's evaluation; float32 sigmoid saturates
    to 1 above a logit of ~17 and would tie confident classes)."""

    reads_extras = False

    def __init__(self, score: str = "sigmoid") -> None:
        if score not in ("sigmoid", "logit"):
            raise ValueError(f"unknown DEFR score {score!r}")
        self.score = score

    def __call__(self, raw: RecognitionRawOutput, orig_sizes: Tensor,
                 image_ids: Sequence[str]) -> list[RecognitionPredictions]:
        scores = raw.logits.float()  # [B, I]
        if self.score == "sigmoid":
            scores = scores.sigmoid()
        return [RecognitionPredictions(s, i) for i, s in zip(image_ids, scores)]
