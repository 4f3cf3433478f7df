"""Build the EZ-HOI family: CLIP once, the instance source, the prompted-class tables
(descriptions, EZ-HOI's class selection, UTPL partners), the model, its criterion and
post-processor; the family's line of the build table (``ARCHITECTURE``)."""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from openhoi.data.detections import read_detections
from openhoi.errors import ConfigError
from openhoi.label_space import LabelSpace
from openhoi.models.clip.adapter import build_adapters
from openhoi.models.clip.clip_knowledge import ClipKnowledge, build_clip_knowledge
from openhoi.models.clip.text_classifier import object_prompts
from openhoi.models.contract import Architecture
from openhoi.models.detr.plain_detr import build_plain_detr, load_plain_detr
from openhoi.models.ez_hoi.config import EZHOIConfig
from openhoi.models.ez_hoi.criterion import EZHOICriterion
from openhoi.models.ez_hoi.descriptions import (
    Difference,
    read_class_descriptions,
    read_differences,
)
from openhoi.models.ez_hoi.model import EZHOI, InstanceFilter
from openhoi.models.ez_hoi.postprocess import EZHOIPostProcess
from openhoi.models.ez_hoi.prompts import PromptLearner
from openhoi.models.ez_hoi.towers import PromptedImageTower, build_instance_adapters

log = logging.getLogger(__name__)


def select_classes(descriptions: Tensor, interaction_verb: Tensor, num_verbs: int) -> list[int]:
    """EZ-HOI's ``select_HOI_index``: for every verb with more than two classes, the two whose
    description features are least similar (the smallest entry of their cosine table, first
    in row-major order); all of them otherwise."""
    sim = descriptions @ descriptions.T  # [I, I]
    chosen: set[int] = set()
    for v in range(num_verbs):
        idx = (interaction_verb == v).nonzero().squeeze(1)
        if len(idx) > 2:
            r, c = divmod(int(sim[idx][:, idx].flatten().argmin()), len(idx))
            chosen |= {int(idx[r]), int(idx[c])}
        else:
            chosen |= {int(i) for i in idx}
    return sorted(chosen)


def utpl_partners(diffs: list[Difference], chosen: list[int], unseen: list[int],
                  descriptions: Tensor) -> list[Difference]:
    """(unseen, seen, sentences) of the prompted unseen classes: the file's entries whose
    unseen class is prompted (first entry per class, as EZ-HOI keeps one dict key per pair),
    or, without a file, the most similar seen class by description feature."""
    prompted = set(chosen)
    if diffs:
        out: dict[int, Difference] = {}
        for d in diffs:
            if d.unseen in prompted and d.unseen not in out:
                out[d.unseen] = d
        return list(out.values())
    unseen_set = set(unseen)
    seen = torch.tensor([i for i in range(len(descriptions)) if i not in unseen_set])
    out_list = []
    for u in unseen:
        if u in prompted and len(seen):
            s = int(seen[(descriptions[seen] @ descriptions[u]).argmax()])
            out_list.append(Difference(u, s, ()))
    return out_list


def _sentence_tables(clip: ClipKnowledge, partners: list[Difference], num_classes: int,
                     max_sentences: int, pretrained: bool) -> dict[str, Tensor]:
    """UTPL's per-class tables: ``partner [I]``, ``sentences [I, S, E]`` (CLIP text features,
    not normalised, as EZ-HOI's ``unseen_text_priors``), ``sentence_pad [I, S]``."""
    partner = torch.full((num_classes,), -1, dtype=torch.long)
    sentences = torch.zeros(num_classes, max_sentences, clip.embed_dim)
    pad = torch.ones(num_classes, max_sentences, dtype=torch.bool)
    for d in partners:
        partner[d.unseen] = d.seen
        texts = list(d.sentences)
        if len(texts) > max_sentences:
            log.warning("EZ-HOI: class %d has %d difference sentences; keeping the first %d "
                        "(model.prompts.utpl_max_sentences)", d.unseen, len(texts), max_sentences)
            texts = texts[:max_sentences]
        if texts and pretrained:
            sentences[d.unseen, :len(texts)] = clip.encode_text(texts).cpu()
        pad[d.unseen, :len(texts)] = False
    return {"partner": partner, "sentences": sentences, "sentence_pad": pad}


def class_tables(cfg: EZHOIConfig, space: LabelSpace, clip: ClipKnowledge,
                 pretrained: bool) -> dict[str, Tensor]:
    """Per-interaction tables of the model (see ``EZHOI``): descriptions, the prompted classes
    (EZ-HOI's selection, plus UTPL's seen partners), their token ids, UTPL's sentences."""
    prompts = space.prompts(cfg.clip.interaction_template)
    texts = read_class_descriptions(cfg.descriptions, space, prompts)
    with torch.no_grad():
        desc = (F.normalize(clip.encode_text(texts), dim=-1).cpu() if pretrained
                else torch.zeros(space.num_interactions, clip.embed_dim))
    chosen = (select_classes(desc, space.interaction_verb, space.num_verbs)
              if cfg.prompts.classes == "released" else list(range(space.num_interactions)))
    partners: list[Difference] = []
    if cfg.prompts.utpl and cfg.zero_shot is not None:
        unseen = list(space.zero_shot_split(cfg.zero_shot).unseen_interactions)
        partners = utpl_partners(read_differences(cfg.difference_descriptions, space), chosen,
                                 unseen, desc)
        chosen = sorted(set(chosen) | {d.seen for d in partners})
    prompted = torch.zeros(space.num_interactions, dtype=torch.bool)
    prompted[chosen] = True
    tokens = clip.tokenizer([f"{cfg.prompts.init} {p}." for p in space.interaction_phrases])
    with torch.no_grad():
        obj_text = (clip.encode_text(object_prompts(space, cfg.clip.object_template, None)).cpu()
                    if pretrained else torch.zeros(space.num_objects, clip.embed_dim))
        utpl = _sentence_tables(clip, partners, space.num_interactions,
                                cfg.prompts.utpl_max_sentences, pretrained)
    return {"prompted": prompted, "class_tokens": tokens, "descriptions": desc,
            "interaction_verb": space.interaction_verb, "object_text": obj_text,
            "interaction_table": space.interaction_table, **utpl}


def build_model(cfg: EZHOIConfig, space: LabelSpace, *, pretrained: bool = True,
                **files: object) -> EZHOI:
    """The EZ-HOI model of ``cfg`` (unknown ``files`` are ignored, as the contract asks;
    ``clip=ClipKnowledge`` uses that CLIP instead of building one: the checkpoint converter)."""
    given = files.get("clip")
    clip = (given if isinstance(given, ClipKnowledge)
            else build_clip_knowledge(cfg.clip, load_weights=pretrained))
    pc = cfg.prompts
    text_layers = len(clip.model.transformer.resblocks)
    image_layers = len(clip.model.visual.transformer.resblocks)
    if pc.depth > min(text_layers, image_layers):
        raise ConfigError(f"model.prompts.depth: {pc.depth} exceeds the towers' depth "
                          f"({text_layers} text, {image_layers} image layers)")
    text_width = clip.model.token_embedding.embedding_dim
    if pc.utpl and cfg.zero_shot is not None and text_width != clip.embed_dim:
        raise ConfigError("model.prompts.utpl: EZ-HOI's unseen adapter mixes text features "
                          f"({clip.embed_dim}) and prompt tokens ({text_width}); they must match")
    tables = class_tables(cfg, space, clip, pretrained)
    with torch.no_grad():
        init = clip.model.token_embedding(clip.tokenizer([pc.init]))[0, 1:1 + pc.num_tokens]
    prompts = PromptLearner(init.detach(), pc.depth, text_width, clip.width, clip.embed_dim,
                            pc.adapter_dim, pc.adapter_heads, pc.adapter_dropout,
                            pc.image_conditioned, pc.utpl and cfg.zero_shot is not None)
    adapters = (build_instance_adapters(clip.width, image_layers, pc.adapter_dim,
                                        pc.adapter_heads, pc.adapter_dropout)
                if pc.instance_adapter else None)
    tower = PromptedImageTower(clip.model.visual, cfg.train_visual_head, adapters,
                               pc.visual_prompts_fp16)
    ic = cfg.instances
    detector, detections = None, None
    if ic.source == "detr":
        # DETR as released: one query set, its class head over COCO (or the fine-tune's) classes
        detector = build_plain_detr(ic.detector, ic.detr_classes, space.object_ids)
        if pretrained and ic.detr_weights:
            unused = load_plain_detr(detector, ic.detr_weights)
            log.info("EZ-HOI detector: DETR from %s (%d tensors unused)", ic.detr_weights,
                     len(unused))
        elif pretrained and not ic.allow_random_detector:
            raise ConfigError("model.instances.detr_weights: the DETR checkpoint is required for "
                              "source 'detr' (UPT's detr-r50-hicodet.pth or a COCO DETR), or "
                              "use source 'file' with a detections file")
        elif pretrained:
            log.warning("EZ-HOI: random detector (model.instances.allow_random_detector)")
    else:
        detections = read_detections(ic.detections_file, space.num_objects, space.objects)
    filt = InstanceFilter(space.human_label, ic.nms_iou, ic.box_score_thresh, ic.min_instances,
                          ic.max_instances)
    return EZHOI(clip, prompts, tower, detector, detections, filt, tables,
                 pc.text_position, pc.instance_adapter, pc.adapter_dim, cfg.roi_dropout,
                 cfg.clip.image_resize, _clip_adapters(cfg, clip.embed_dim))


def _clip_adapters(cfg: EZHOIConfig, embed_dim: int) -> nn.ModuleDict | None:
    """CLIP-Adapters of ``model.adapter`` (pair features and class text features both live in
    CLIP's joint space), or None."""
    if not cfg.adapter.where:
        return None
    return build_adapters(cfg.adapter, {"pair": embed_dim, "text": embed_dim})


def build_criterion(cfg: EZHOIConfig, space: LabelSpace,
                    interaction_columns: Tensor | None = None) -> EZHOICriterion:
    seen = torch.ones(space.num_interactions, dtype=torch.bool)
    if interaction_columns is not None:
        seen = torch.zeros_like(seen)
        seen[interaction_columns] = True
    lc = cfg.loss
    return EZHOICriterion(space, seen, lc.focal_alpha, lc.focal_gamma, lc.fg_iou,
                          lc.semantic_weight, lc.semantic_temperature)


ARCHITECTURE = Architecture(
    config=EZHOIConfig, model=build_model, criterion=build_criterion,
    postprocess=lambda cfg, space: EZHOIPostProcess(space, cfg.score_power))
