"""``HOIDetector``: detector + CLIP knowledge + interaction branch, composed (DETR's model).

``forward(batch) -> HOIRawOutput`` and nothing else: the criterion and the post-processor are
separate objects fed by the same raw output. The CLIP-side tensors every architecture
exposes in ``HOIRawOutput.extras`` (last layer; per-layer ones in each ``aux`` entry too):

* ``zs_logits``: ``[B, I]`` S_zs, cosine of V_g with every interaction's text embedding (the
  training-free zero-shot enhancement, ``openhoi.models.clip.zero_shot``).
* ``clip_image_embed`` (every layer): ``[B, E]`` CLIP's image embedding V_g, not normalised
  (the target of GEN-VLKT's feature-mimic loss).
* ``interaction_features`` (every layer): ``[B, Q, E]`` interaction features in CLIP space
  before normalisation (the reference's ``inter_memory``; the mimic loss averages them over Q).

A GEN-VLKT model with ``clip_extras`` off (the inference view evaluation runs when no
post-processor reads S_zs, ``openhoi.models.detr.inference``) skips CLIP: ``zs_logits`` and
``clip_image_embed`` are then absent, as in the reference, which runs no CLIP at inference.

Parameters are named so that ``parameter_group`` can split them for the engine: ``backbone``
(``detector.backbone.*``), ``clip`` (CLIP's own weights and the CLIP-text-initialised
classifiers), ``rest``.

The families that compose an ``HOIDetector`` (``openhoi.models.hoiclip``,
``openhoi.models.gen_vlkt``) build it with the shared steps below (``clip_and_text``,
``assemble``) and their own interaction head; the criterion and post-processor builders here
take the family's own loss terms.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from openhoi.config import ClipConfig, DetectionModelConfig
from openhoi.errors import ConfigError
from openhoi.label_space import LabelSpace
from openhoi.models.clip.adapter import global_adapter_loss
from openhoi.models.clip.clip_knowledge import ClipKnowledge, build_clip_knowledge
from openhoi.models.clip.feature_mimic import feature_mimic_loss
from openhoi.models.clip.text_classifier import (
    CosineClassifier,
    interaction_prompts,
    object_prompts,
    text_embeddings,
)
from openhoi.models.clip.vild import build_vild_head, vild_image_loss
from openhoi.models.clip.vild_crops import CropLookup
from openhoi.models.clip.zero_shot import ZeroShotEnhancement, ZeroShotScorer
from openhoi.models.contract import HOIModel
from openhoi.models.detr.criterion import LossTerm, SetCriterion, build_criterion
from openhoi.models.detr.detector import build_detector
from openhoi.models.detr.detr_checkpoint import load_detr_checkpoint
from openhoi.models.detr.postprocess import PostProcessor, build_postprocessor
from openhoi.models.detr.query_selection import centre_heatmap_loss
from openhoi.structures import HOIRawOutput, ImageBatch

log = logging.getLogger(__name__)

CLIP_SIDE = ("head.classifier.", "detector.obj_classifier.classifier.")
"""Parameters (besides ``clip.*``) in the ``clip`` group: the text-initialised classifiers."""


class HOIDetector(HOIModel):
    """An HOI detector with CLIP knowledge: a DETR-style detector, CLIP and a family's
    interaction head (HOICLIP's or GEN-VLKT's).

    Args:
        detector: ``ImageBatch -> DetectorOutput`` (``openhoi.models.detr.detector``).
        clip: CLIP knowledge (``openhoi.models.clip.clip_knowledge.ClipKnowledge``): from an
            ``ImageBatch`` its spatial tokens V_s ``[B, N, W]`` and image embedding V_g
            ``[B, E]``, plus its visual projection ``[W, E]`` and its text tower.
        head: the interaction head: ``head.interact(det, clip_feats, clip) ->
            InteractionHeadOutput``, ``head.reads_clip`` (whether it needs CLIP's image
            features), ``head.classifier`` (the text-initialised interaction classifier).
        zero_shot: S_zs scorer over every interaction's text embedding.
        clip_side: name prefixes (besides ``clip.``) of parameters that belong to the CLIP
            parameter group, e.g. the text-initialised classifiers.
        clip_extras: with a head that does not read CLIP (GEN-VLKT), whether to run CLIP's
            image tower anyway for ``zs_logits`` and ``clip_image_embed`` (the zero-shot
            enhancement, the mimic loss); when False those extras are absent. A head that
            reads CLIP always has them.
        interaction_template, object_template: prompts of new classes (``retarget``).
        global_adapter: CLIP-Adapter on V_g before the zero-shot scorer and the mimic loss
            (``openhoi.models.clip.adapter``), or None.
    """

    task = "detection"

    def __init__(
        self,
        detector: nn.Module,
        clip: nn.Module,
        head: nn.Module,
        zero_shot: ZeroShotScorer,
        clip_side: tuple[str, ...] = CLIP_SIDE,
        clip_extras: bool = True,
        interaction_template: str = ClipConfig.interaction_template,
        object_template: str = ClipConfig.object_template,
        global_adapter: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.global_adapter = global_adapter
        self.clip_extras = clip_extras
        self.detector = detector
        self.clip = clip
        self.head = head
        self.zero_shot = zero_shot
        self.clip_side = ("clip.", *clip_side)
        self.interaction_template = interaction_template
        self.object_template = object_template

    def forward(self, batch: ImageBatch) -> HOIRawOutput:
        """Raw output of every query pair, last layer first-class and earlier layers in
        ``aux`` (see the module docstring for ``extras``)."""
        det = self.detector(batch)
        run_clip = self.head.reads_clip or self.clip_extras
        feats = self.clip(batch) if run_clip else None
        if feats is not None and self.global_adapter is not None:
            feats = dataclasses.replace(feats, global_feature=self.global_adapter(
                feats.global_feature))  # CLIP-Adapter on V_g
        out = self.head.interact(det, feats, self.clip)
        layer_extras = {"interaction_features": out.features}  # [L, B, Q, E]
        extras = {}
        if feats is not None:
            image_embed = feats.global_feature  # V_g
            layer_extras["clip_image_embed"] = image_embed[None]  # [1, B, E]: every layer
            extras["zs_logits"] = self.zero_shot(image_embed)
        return det.raw_output(out.interaction_logits, out.verb_logits, extras=extras,
                              layer_extras=layer_extras)

    def parameter_group(self, name: str) -> str:
        """``backbone``, ``clip`` or ``rest``: the engine's learning-rate group of a parameter."""
        if name.startswith("detector.backbone."):
            return "backbone"
        if name.startswith(self.clip_side):
            return "clip"
        return "rest"

    def retarget(self, new_space: LabelSpace, base_space: LabelSpace) -> None:
        """Score ``new_space``'s classes (open vocabulary); see ``openhoi.models.detr.retarget``."""
        from openhoi.models.detr.retarget import retarget_hoi_detector

        retarget_hoi_detector(self, base_space, new_space)

    def inference_view(self, *, extras: bool = True) -> HOIDetector:
        """The BatchNorm-folded, channels-last view (``openhoi.models.detr.inference``);
        without ``extras`` a head that does not read CLIP skips CLIP's image tower."""
        from openhoi.models.detr.inference import inference_model

        return inference_model(self, clip_extras=extras)


# --------------------------------------------------------------------------------------------
# Shared build steps: read the config, load weights once, pass modules and tensors in.
# --------------------------------------------------------------------------------------------


def clip_and_text(
    cfg: DetectionModelConfig,
    label_space: LabelSpace,
    *,
    pretrained: bool = True,
    clip: ClipKnowledge | None = None,
    clip_weights: str | Path | None = None,
    interaction_text: Tensor | None = None,
    object_text: Tensor | None = None,
) -> tuple[ClipKnowledge, Tensor, Tensor | None]:
    """CLIP and the classifiers' text embeddings: ``(clip, [I, E] interaction text
    (normalised), [O + 1, E] object text or None for DETR's linear object head)``.

    Without ``pretrained`` (a checkpoint is about to overwrite every weight) CLIP is built
    without its weight file and the text embeddings are zero placeholders, so nothing is read
    from disk and the text tower does not run.
    """
    if clip is None:
        clip_cfg = cfg.clip if clip_weights is None else dataclasses.replace(
            cfg.clip, weights=str(clip_weights))
        clip = build_clip_knowledge(clip_cfg, device=torch.get_default_device(),
                                    load_weights=pretrained)
    e = clip.embed_dim
    if interaction_text is None:
        interaction_text = (text_embeddings(clip, interaction_prompts(
            label_space, cfg.clip.interaction_template)) if pretrained
            else torch.zeros(label_space.num_interactions, e))
    interaction_text = F.normalize(interaction_text.float(), dim=-1)  # [I, E]
    if object_text is None and cfg.detector.obj_head == "clip":
        object_text = (text_embeddings(clip, object_prompts(
            label_space, cfg.clip.object_template, cfg.clip.no_object_prompt)) if pretrained
            else torch.zeros(label_space.num_objects + 1, e))
    return clip, interaction_text, object_text


def detector_and_classifier(cfg: DetectionModelConfig, label_space: LabelSpace,
                            clip: ClipKnowledge, interaction_text: Tensor,
                            object_text: Tensor | None, pretrained: bool = True
                            ) -> tuple[nn.Module, CosineClassifier]:
    """The DETR-style detector (with ViLD's object head when the config asks; its text rows
    are placeholders without ``pretrained``) and the text-initialised interaction classifier
    (the reference's ``visual_projection``; the logit scale lives in the head), built in this
    order before a family's head: the order fixes which random numbers each part draws, so a
    seeded run starts from the same weights as it always has."""
    obj_head = None
    if cfg.detector.obj_head == "vild":
        obj_head = build_vild_head(cfg.vild, label_space.objects, cfg.detector.hidden_dim, clip,
                                   pretrained=pretrained)
    detector = build_detector(cfg.detector, label_space.num_objects, object_text, obj_head)
    classifier = CosineClassifier.from_embeddings(
        interaction_text, bias=cfg.interaction.classifier_bias, logit_scale=None,
        trainable=not cfg.freeze_text_classifiers)
    return detector, classifier


def assemble(
    cfg: DetectionModelConfig,
    label_space: LabelSpace,
    clip: ClipKnowledge,
    detector: nn.Module,
    head: nn.Module,
    interaction_text: Tensor,
    *,
    detr_weights: str | Path | None = None,
    detr_extra: list[nn.Module] | None = None,
    global_adapter: nn.Module | None = None,
) -> HOIDetector:
    """The ``HOIDetector`` of a family's ``detector`` and ``head``: loads DETR's weights (into
    the detector and the ``detr_extra`` decoders), freezes what the config fixes."""
    if detr_weights is not None:
        report = load_detr_checkpoint(detector, detr_weights, label_space.object_ids,
                                      detr_extra or [])
        log.info("DETR weights from %s: %s", detr_weights, report.summary())
    model = HOIDetector(detector, clip, head, ZeroShotScorer(interaction_text),
                        interaction_template=cfg.clip.interaction_template,
                        object_template=cfg.clip.object_template,
                        global_adapter=global_adapter)
    if cfg.freeze_text_classifiers:
        for name, p in model.named_parameters():
            if name.startswith(CLIP_SIDE):
                p.requires_grad_(False)
    return model


def build_hoi_criterion(cfg: DetectionModelConfig, label_space: LabelSpace,
                        interaction_columns: Tensor | None = None,
                        extra_terms: dict[str, LossTerm] | None = None) -> SetCriterion:
    """The detector's set criterion plus ``feat_mimic`` (GEN-VLKT's feature-mimic loss, weighted
    by ``interaction.mimic_loss_coef``; absent at weight 0), ``centre`` (the heat-map loss of
    the query selection, where the detector has one) and a family's ``extra_terms`` (name ->
    (weight, fn)).

    Args:
        interaction_columns: ``[I']`` interactions the losses see (the seen ones of a
            zero-shot split); None for all.
    """
    if "global" in cfg.adapter.where:
        extra_terms = {"adapter_global": (cfg.adapter.global_loss,
                                          global_adapter_loss(interaction_columns)),
                       **(extra_terms or {})}
    unseen_objects, pair_extras = None, None
    if cfg.detector.obj_head == "vild":
        unseen_objects = vild_unseen_objects(label_space, interaction_columns)
        if cfg.vild.image_weight > 0:
            if cfg.vild.crop_embeddings is None:
                raise ConfigError("model.vild.image_weight > 0 needs model.vild.crop_embeddings "
                                  "(the file `openhoi vild-crops` writes)")
            pair_extras = CropLookup(cfg.vild.crop_embeddings)
            extra_terms = {"vild_image": (cfg.vild.image_weight, vild_image_loss),
                           **(extra_terms or {})}
    terms = {"feat_mimic": (cfg.interaction.mimic_loss_coef, feature_mimic_loss),
             "centre": (cfg.loss.centre, centre_heatmap_loss), **(extra_terms or {})}
    return build_criterion(cfg.matcher, cfg.loss, label_space, interaction_columns, terms,
                           unseen_objects, pair_extras)


def vild_unseen_objects(label_space: LabelSpace, interaction_columns: Tensor | None
                        ) -> Tensor | None:
    """``[O]`` bool: objects of no trained interaction (ViLD leaves them out of the
    softmax); None when every interaction is trained. The human class is always seen."""
    if interaction_columns is None:
        return None
    seen = torch.zeros(label_space.num_objects, dtype=torch.bool)
    obj = label_space.interaction_object[interaction_columns.long()]
    seen[obj[obj >= 0]] = True
    seen[label_space.human_label] = True
    return ~seen


def build_hoi_postprocessor(cfg: DetectionModelConfig, label_space: LabelSpace
                            ) -> PostProcessor:
    """The post-processor of ``cfg``, with HOICLIP's training-free zero-shot enhancement
    (top ``interaction.zero_shot_topk`` of S_zs) when that k is positive."""
    k = cfg.interaction.zero_shot_topk
    terms = [ZeroShotEnhancement(k)] if k > 0 else []
    return build_postprocessor(cfg.postprocess, label_space, terms)
