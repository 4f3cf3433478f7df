"""DEFR's model (backbone -> optional CLIP-Adapter -> optional neck -> classifier), criterion
and post-processor.

``DefrModel.forward(ImageBatch) -> RecognitionRawOutput(logits [B, I])``; the criterion is
LSE-Sign, BCE or multi-label softmax cross-entropy over 1/-1 labels with 0 ignored; the
post-processor gives sigmoid scores per image, or the logits (``score: logit``, DEFR's
evaluation: float32 sigmoid ties large logits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from openhoi.errors import ConfigError
from openhoi.label_space import LabelSpace, class_index_maps
from openhoi.models.clip.adapter import apply_adapter
from openhoi.models.contract import HOIModel, OpenVocabularyError
from openhoi.ops.losses import lse_sign_loss, masked_bce_loss, multilabel_softmax_loss
from openhoi.structures import (
    HOITargets,
    ImageBatch,
    ImageLabels,
    RecognitionPredictions,
    RecognitionRawOutput,
)

RowMap = Callable[[Tensor], Tensor]
"""``[I, D] -> [I, D]``: a map of classifier rows (the text-side CLIP-Adapter)."""

LanguageRowsFn = Callable[[LabelSpace], Tensor]
"""``space -> [I, D]``: language-initialised classifier rows of a label space's interactions
(``openhoi.models.defr.build.LanguageRows``)."""


def keep_rows(old: Tensor, old_index: list[int], new_rows: Tensor) -> Tensor:
    """Row i = ``old[old_index[i]]`` where that index is >= 0, else ``new_rows[i]``."""
    idx = torch.tensor(old_index, dtype=torch.long, device=old.device)
    known = idx >= 0
    out = new_rows.to(old.device, old.dtype).clone()
    out[known] = old[idx[known]]
    return out


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

    def forward(self, x: Tensor, adapt_rows: RowMap | None = None) -> Tensor:
        """``[B, D] -> [B, I]``; ``adapt_rows`` maps the rows ``[I, D]`` before their
        normalisation (CLIP-Adapter's text side: ``CustomCLIP.forward`` normalises after the
        residual mix)."""
        rows = self.weight if adapt_rows is None else adapt_rows(self.weight)  # [I, D]
        return self.logit_scale.exp() * F.normalize(x, dim=-1) @ F.normalize(rows, dim=-1).T

    @torch.no_grad()
    def set_rows(self, old_index: list[int], new_rows: Tensor) -> None:
        """Row i becomes row ``old_index[i]`` (trained), or ``new_rows[i]`` where it is -1."""
        weight = keep_rows(self.weight.detach(), old_index, new_rows)  # [I', D]
        self.weight = nn.Parameter(weight, requires_grad=self.weight.requires_grad)


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

    def forward(self, x: Tensor, adapt_rows: RowMap | None = None) -> Tensor:
        """``[B, D] -> [B, I]``; ``adapt_rows`` maps the weight rows ``[I, D]`` first."""
        x = self.logit_scale.exp() * F.normalize(x, dim=-1)
        if adapt_rows is None:
            return self.linear(x)
        return F.linear(x, adapt_rows(self.linear.weight), self.linear.bias)

    @torch.no_grad()
    def set_rows(self, old_index: list[int], new_rows: Tensor) -> None:
        """Row i becomes row ``old_index[i]`` (trained weight and bias), or where that is -1
        the normalised ``new_rows[i]`` with bias 0 (as language initialisation)."""
        lin = self.linear
        weight = keep_rows(lin.weight.detach(), old_index, F.normalize(new_rows.float(), dim=-1))
        bias = keep_rows(lin.bias.detach()[:, None], old_index,
                         torch.zeros(len(old_index), 1))[:, 0]  # [I']
        out = nn.Linear(weight.shape[1], weight.shape[0]).to(lin.weight.device)
        out.weight.copy_(weight)
        out.bias.copy_(bias)
        out.requires_grad_(lin.weight.requires_grad)
        self.linear = out


class DefrModel(HOIModel):
    """Image -> interaction logits.

    Args:
        backbone: ``pixels [B, 3, S, S] -> [B, D]``, with ``out_dim``.
        classifier: ``[B, D'] -> [B, I]``.
        neck: ``[B, D] -> [B, D']`` linear map when the classifier's space differs, else None.
        backbone_trainable: ``False`` keeps the backbone frozen and in eval mode.
        adapters: CLIP-Adapters (``openhoi.models.clip.adapter.build_adapters``): ``image`` on
            the backbone's ``[B, D]`` feature (before the neck), ``text`` on the classifier
            rows; None (or missing keys): no adapter there.
        language_rows: ``space -> [I, D']`` the language initialisation of the classifier, for
            the rows of new interactions (``retarget``); None: the rows have no text (random
            initialisation).
    """

    task: ClassVar[str] = "recognition"

    def __init__(self, backbone: nn.Module, classifier: nn.Module, neck: nn.Module | None = None,
                 backbone_trainable: bool = True, image_size: int = 224,
                 pixel_mean: tuple[float, ...] = (0.5, 0.5, 0.5),
                 pixel_std: tuple[float, ...] = (0.5, 0.5, 0.5),
                 adapters: nn.ModuleDict | None = None,
                 language_rows: LanguageRowsFn | None = None) -> None:
        super().__init__()
        self.language_rows = language_rows
        # preprocessing travels with the model (open_clip style): square input, normalisation
        self.image_size, self.pixel_mean, self.pixel_std = image_size, pixel_mean, pixel_std
        self.backbone = backbone
        self.neck = neck
        self.classifier = classifier
        self.adapters = adapters
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
        x = apply_adapter(self.adapters, "image", x)  # CLIP-Adapter: a*A(f) + (1-a)*f
        return self.neck(x) if self.neck is not None else x

    def forward(self, batch: ImageBatch) -> RecognitionRawOutput:
        text = None
        if self.adapters is not None and "text" in self.adapters:
            text = self.adapters["text"]
        return RecognitionRawOutput(self.classifier(self.features(batch.images), text))  # [B, I]

    @property
    def supports_box_mask(self) -> bool:
        """Whether ``box_masked_logits`` applies (a CLIP ViT backbone)."""
        return bool(getattr(self.backbone, "supports_box_mask", False))

    def box_masked_logits(self, pixels: Tensor, boxes_xyxy: Tensor, mask_layers: int) -> Tensor:
        """``[P, I]`` logits of P box pairs of one image, DEFR's HOI detection
        (``hoi_detection/hoi_head.py``): the class token of the last ``mask_layers`` blocks
        sees only the patches inside each pair's boxes.

        Args:
            pixels: ``[1, 3, S, S]`` the preprocessed image.
            boxes_xyxy: ``[P, 2, 4]`` (human, object) boxes in pixels of ``pixels``.
        """
        if not self.supports_box_mask:
            raise ConfigError("box-masked pair scoring needs a CLIP ViT backbone "
                              "(model.backbone.kind: open_clip, a ViT arch)")
        x = self.backbone.box_masked(pixels, boxes_xyxy, mask_layers)  # [P, D]
        return self.classifier(self.neck(x) if self.neck is not None else x)

    @torch.no_grad()
    def retarget(self, new_space: LabelSpace, base_space: LabelSpace) -> None:
        """Score ``new_space``'s interactions (open vocabulary), in place: interactions of
        ``base_space`` keep their trained classifier rows bit for bit; new ones get the rows
        language initialisation gives them (same text encoder, templates and CLIP projection
        as the build; ``language_rows``). A CLIP-Adapter on the rows applies to both.

        Raises:
            OpenVocabularyError: a new interaction and a classifier without text (random
                initialisation).
        """
        inter_idx, _, _ = class_index_maps(base_space, new_space)
        unknown = [i for i, j in enumerate(inter_idx) if j < 0]
        c = self.classifier
        dim = (c.weight if isinstance(c, CosineClassifier) else c.linear.weight).shape[1]
        new_rows = torch.zeros(len(inter_idx), dim)
        if unknown:
            if self.language_rows is None:
                names = ", ".join(repr(new_space.interaction_phrases[i]) for i in unknown[:5])
                more = ", ..." if len(unknown) > 5 else ""
                raise OpenVocabularyError(
                    f"{len(unknown)} interactions are not trained classes ({names}{more}) and this "
                    "DEFR classifier was initialised randomly (model.classifier.init=random): "
                    "its rows have no text to extend; list only trained interactions, or use a "
                    "language-initialised model")
            new_rows = self.language_rows(new_space).float()  # [I', D]
            if new_rows.shape != (len(inter_idx), dim):
                raise OpenVocabularyError(
                    f"the text encoder gives rows of shape {tuple(new_rows.shape)}, the "
                    f"classifier needs {(len(inter_idx), dim)}")
        c.set_rows(inter_idx, new_rows)

    def parameter_group(self, name: str) -> str:
        """``rest`` (``train.lr``) for the classifier and the CLIP-Adapters, ``backbone``
        (``train.lr_backbone``) for the image tower and the neck that feeds the classifier."""
        return "rest" if name.startswith(("classifier.", "adapters.")) else "backbone"


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


LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "lse_sign": lse_sign_loss, "bce": masked_bce_loss, "softmax": multilabel_softmax_loss}
"""``model.loss.kind`` -> loss of ``[B, I]`` logits and {1, -1, 0} labels."""


class DefrCriterion(nn.Module):
    """``{"loss_<kind>": mean over images}`` (DEFR ``loss.mean()``); the engine's
    normaliser is not needed (every image counts once). Targets are image-level labels or
    detection ground truth (see ``image_labels``)."""

    def __init__(self, kind: str, space: LabelSpace) -> None:
        super().__init__()
        if kind not in LOSSES:
            raise ValueError(f"unknown DEFR loss {kind!r}")
        self.kind, self.space = kind, space

    def forward(self, raw: RecognitionRawOutput, targets: Sequence[ImageLabels | HOITargets],
                num_pairs: float | None = None) -> dict[str, Tensor]:
        labels = image_labels(targets, self.space).to(raw.logits.device)  # [B, I]
        return {f"loss_{self.kind}": LOSSES[self.kind](raw.logits.float(), labels)}


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
