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

``build_hoi_criterion`` and ``build_hoi_postprocessor`` make the matching criterion (with the
feature-mimic term when its weight is non-zero) and post-processor (with the zero-shot
enhancement when ``zero_shot_topk > 0``) of the same config.

Parameters are named so that ``parameter_groups`` can split them for the engine: ``backbone``
(``detector.backbone.*``), ``clip`` (CLIP's own weights and the CLIP-text-initialised
classifiers), ``rest``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from openhoi.config import ModelConfig
from openhoi.errors import ConfigError
from openhoi.label_space import LabelSpace
from openhoi.models.clip.clip_knowledge import ClipKnowledge, build_clip_knowledge
from openhoi.models.clip.text_classifier import (
    CosineClassifier,
    interaction_prompts,
    object_prompts,
    text_embeddings,
)
from openhoi.models.clip.zero_shot import ZeroShotEnhancement, ZeroShotScorer
from openhoi.models.detr.criterion import SetCriterion, build_criterion
from openhoi.models.detr.detector import build_detector
from openhoi.models.detr.detr_checkpoint import load_detr_checkpoint
from openhoi.models.detr.postprocess import PostProcessor, build_postprocessor
from openhoi.models.detr.query_selection import centre_heatmap_loss
from openhoi.models.detr.transformer import TransformerDecoder
from openhoi.models.gen_vlkt.head import GenVLKTHead, feature_mimic_loss
from openhoi.models.hoiclip.head import HOICLIPHead
from openhoi.models.hoiclip.interaction_decoder import DetectorMemoryProjection, InteractionDecoder
from openhoi.models.hoiclip.query_builder import build_query_builder
from openhoi.models.hoiclip.verb_adapter import VerbAdapter
from openhoi.models.hoiclip.verb_repr import load_verb_representations
from openhoi.structures import HOIRawOutput, ImageBatch

log = logging.getLogger(__name__)

PARAM_GROUPS = ("backbone", "clip", "rest")


class HOIDetector(nn.Module):
    """An HOI detector with CLIP knowledge: HOICLIP or the GEN-VLKT baseline.

    Args:
        detector: ``ImageBatch -> DetectorOutput`` (``openhoi.models.detr.detector``).
        clip: CLIP knowledge (``openhoi.models.clip.clip_knowledge.ClipKnowledge``): from an
            ``ImageBatch`` its spatial tokens V_s ``[B, N, W]`` and image embedding V_g
            ``[B, E]``, plus its visual projection ``[W, E]``.
        head: ``HOICLIPHead`` or ``GenVLKTHead``.
        zero_shot: S_zs scorer over every interaction's text embedding.
        clip_side: name prefixes (besides ``clip.``) of parameters that belong to the CLIP
            parameter group, e.g. the text-initialised classifiers.
        clip_extras: with a head that does not read CLIP (GEN-VLKT), whether to run CLIP's
            image tower anyway for ``zs_logits`` and ``clip_image_embed`` (the zero-shot
            enhancement, the mimic loss); when False those extras are absent. HOICLIP always
            runs CLIP and always has them.
    """

    def __init__(
        self,
        detector: nn.Module,
        clip: nn.Module,
        head: HOICLIPHead | GenVLKTHead,
        zero_shot: ZeroShotScorer,
        clip_side: tuple[str, ...] = ("head.classifier.",),
        clip_extras: bool = True,
    ) -> None:
        super().__init__()
        self.clip_extras = clip_extras
        self.detector = detector
        self.clip = clip
        self.head = head
        self.zero_shot = zero_shot
        self.clip_side = ("clip.", *clip_side)

    def forward(self, batch: ImageBatch) -> HOIRawOutput:
        """Raw output of every query pair, last layer first-class and earlier layers in
        ``aux`` (see the module docstring for ``extras``)."""
        det = self.detector(batch)
        hoiclip = isinstance(self.head, HOICLIPHead)
        feats = self.clip(batch) if hoiclip or self.clip_extras else None
        if hoiclip:
            out = self.head(det.h_hs[-1], det.o_hs[-1], det.memory, det.memory_mask,
                            feats.spatial_tokens, self.clip.visual_projection)  # V_s
        else:
            out = self.head(det.h_hs, det.o_hs, det.memory, det.memory_mask, det.memory_pos)
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

    def parameter_groups(self, trainable_only: bool = True) -> dict[str, list[nn.Parameter]]:
        """Parameters by group (``PARAM_GROUPS``), frozen ones left out unless asked for."""
        groups: dict[str, list[nn.Parameter]] = {g: [] for g in PARAM_GROUPS}
        for name, p in self.named_parameters():
            if p.requires_grad or not trainable_only:
                groups[self.parameter_group(name)].append(p)
        return groups

    def named_parameters_in(self, group: str) -> Iterator[tuple[str, Tensor]]:
        """``(name, parameter)`` of one group, frozen ones included."""
        return ((n, p) for n, p in self.named_parameters() if self.parameter_group(n) == group)


# --------------------------------------------------------------------------------------------
# Builder: reads the config, loads weights once, passes modules and tensors in.
# --------------------------------------------------------------------------------------------


def _verb_representations(cfg: ModelConfig, label_space: LabelSpace, embed_dim: int,
                          verb_repr: Tensor | str | Path | None) -> Tensor:
    """``[V, E]`` initial E_v: the given tensor or file (its recorded rule, label space and
    CLIP architecture checked), or unit-norm random rows when the config asks for
    ``verb_repr_init: random`` (tiny configs and tests only)."""
    icfg = cfg.interaction
    shape = (label_space.num_verbs, embed_dim)
    if verb_repr is None:
        if icfg.verb_repr_init == "file":
            raise ConfigError(
                "model.interaction.verb_repr_init: 'file' needs the verb representations "
                "(openhoi verb-repr) passed to build_hoi_detector(verb_repr=...); use "
                "'random' only for tiny test configs")
        log.warning("E_v (verb representations) randomly initialised: "
                    "model.interaction.verb_repr_init=random is for tests and tiny configs")
        verb_repr = torch.randn(shape)
    elif isinstance(verb_repr, str | Path):
        verb_repr = load_verb_representations(verb_repr, label_space, embed_dim,
                                              rule=icfg.verb_repr, arch=cfg.clip.arch).embeddings
    if tuple(verb_repr.shape) != shape:
        raise ConfigError(f"verb representations have shape {list(verb_repr.shape)}, expected "
                          f"{list(shape)} (verbs of label space {label_space.name!r}, CLIP "
                          "embedding size)")
    verb_repr = verb_repr.float()
    return F.normalize(verb_repr, dim=-1) if icfg.normalize_verb_repr else verb_repr


def build_hoi_detector(
    cfg: ModelConfig,
    label_space: LabelSpace,
    *,
    clip: ClipKnowledge | None = None,
    clip_weights: str | Path | None = None,
    load_clip_weights: bool = True,
    detr_weights: str | Path | None = None,
    verb_repr: Tensor | str | Path | None = None,
    interaction_text: Tensor | None = None,
    object_text: Tensor | None = None,
) -> HOIDetector:
    """Build the HOI detector of ``cfg`` for ``label_space`` (on the current default device).

    Args:
        cfg: the model config.
        label_space: classes; every class count comes from it.
        clip: an already built ``ClipKnowledge`` to reuse; otherwise built from ``cfg.clip``.
        clip_weights: CLIP weight file overriding ``cfg.clip.weights``.
        load_clip_weights: false leaves CLIP randomly initialised, for a checkpoint to
            overwrite (evaluation, prediction); the text classifiers are then random too.
        detr_weights: DETR checkpoint (``cfg.detector.detr_checkpoint`` when training from
            DETR) copied into the detector, and for GEN-VLKT into its interaction decoder too
            (as GEN-VLKT's ``detr-r50-pre-2branch-hico.pth`` initialises both decoders).
        verb_repr: ``[V, E]`` verb representations E_v (HOICLIP eq. 6), or their file
            (``openhoi verb-repr`` output or HOICLIP's ``verb.pth``); required unless
            ``cfg.interaction.verb_repr_init`` is ``random`` or the architecture is GEN-VLKT.
        interaction_text: ``[I, E]`` text embeddings of the interaction prompts, instead of
            running CLIP's text tower (normalised here).
        object_text: ``[O + 1, E]`` text embeddings of the object prompts + no-object.

    Returns:
        ``HOIDetector``; frozen parts have ``requires_grad=False``.
    """
    if clip is None:
        clip_cfg = cfg.clip if clip_weights is None else dataclasses.replace(
            cfg.clip, weights=str(clip_weights))
        clip = build_clip_knowledge(clip_cfg, device=torch.get_default_device(),
                                    load_weights=load_clip_weights)
    if interaction_text is None:
        interaction_text = text_embeddings(
            clip, interaction_prompts(label_space, cfg.clip.interaction_template))
    interaction_text = F.normalize(interaction_text.float(), dim=-1)  # [I, E]
    if object_text is None and cfg.detector.obj_head == "clip":
        object_text = text_embeddings(clip, object_prompts(
            label_space, cfg.clip.object_template, cfg.clip.no_object_prompt))
    detector = build_detector(cfg.detector, label_space.num_objects, object_text)
    icfg = cfg.interaction
    # The reference's ``visual_projection``; the scale lives in the head (shared with S_v).
    classifier = CosineClassifier.from_embeddings(
        interaction_text, bias=icfg.classifier_bias, logit_scale=None,
        trainable=not cfg.freeze_text_classifiers)
    if cfg.architecture == "hoiclip":
        width, embed_dim = clip.width, clip.embed_dim
        verb_adapter = None
        if icfg.verb_adapter:
            verb_adapter = VerbAdapter(
                embed_dim, _verb_representations(cfg, label_space, embed_dim, verb_repr),
                label_space.verb_to_interaction, icfg.verb_adapter_layers,
                trainable_repr=not icfg.freeze_verb_repr)
        head: HOICLIPHead | GenVLKTHead = HOICLIPHead(
            build_query_builder(icfg.query_builder, cfg.detector.hidden_dim, width),
            DetectorMemoryProjection(cfg.detector.hidden_dim, width),
            InteractionDecoder(width, icfg.num_layers, icfg.num_heads, icfg.dim_feedforward,
                               icfg.dropout, icfg.shared_cross_attention),
            classifier, verb_adapter, icfg.verb_weight, icfg.init_temperature,
            icfg.mask_detector_padding)
    else:
        d = cfg.detector
        decoder = TransformerDecoder(d.num_decoder_layers, d.hidden_dim, d.num_heads,
                                     d.dim_feedforward, d.dropout, d.pre_norm)
        head = GenVLKTHead(decoder, d.hidden_dim, clip.embed_dim, classifier,
                           icfg.init_temperature)
    if detr_weights is not None:
        extra = [head.decoder] if isinstance(head, GenVLKTHead) else []
        report = load_detr_checkpoint(detector, detr_weights, label_space.object_ids, extra)
        log.info("DETR weights from %s: %s", detr_weights, report.summary())
    model = HOIDetector(detector, clip, head, ZeroShotScorer(interaction_text),
                        clip_side=("head.classifier.", "detector.obj_classifier.classifier."))
    if cfg.freeze_text_classifiers:
        for name, p in model.named_parameters():
            if name.startswith(("head.classifier.", "detector.obj_classifier.classifier.")):
                p.requires_grad_(False)
    return model


def build_hoi_criterion(cfg: ModelConfig, label_space: LabelSpace,
                        interaction_columns: Tensor | None = None) -> SetCriterion:
    """The criterion of ``cfg``: the detector's set criterion plus the model's own terms
    (``feat_mimic``, GEN-VLKT's feature-mimic loss, weighted by
    ``interaction.mimic_loss_coef``; absent at weight 0; ``centre``, the heat-map loss of the
    query selection, where the detector has one).

    Args:
        interaction_columns: ``[I']`` interactions the losses see (the seen ones of a
            zero-shot split); None for all.
    """
    terms = {"feat_mimic": (cfg.interaction.mimic_loss_coef, feature_mimic_loss),
             "centre": (cfg.loss.centre, centre_heatmap_loss)}
    return build_criterion(cfg.matcher, cfg.loss, label_space, interaction_columns, terms)


def build_hoi_postprocessor(cfg: ModelConfig, label_space: LabelSpace) -> PostProcessor:
    """The post-processor of ``cfg``, with HOICLIP's training-free zero-shot enhancement
    (top ``interaction.zero_shot_topk`` of S_zs) when that k is positive."""
    k = cfg.interaction.zero_shot_topk
    terms = [ZeroShotEnhancement(k)] if k > 0 else []
    return build_postprocessor(cfg.postprocess, label_space, terms)
