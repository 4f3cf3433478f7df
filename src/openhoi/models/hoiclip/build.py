"""Build the HOICLIP family: ``HOIDetector`` with HOICLIP's head (interaction decoder over
CLIP's spatial tokens, verb adapter), its criterion and post-processor; the family's line of
the build table (``ARCHITECTURE``)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor
from torch.nn import functional as F

from openhoi.errors import ConfigError
from openhoi.label_space import LabelSpace
from openhoi.models.clip.adapter import build_adapters
from openhoi.models.contract import Architecture
from openhoi.models.detr.hoi_detector import (
    HOIDetector,
    assemble,
    build_hoi_criterion,
    build_hoi_postprocessor,
    clip_and_text,
    detector_and_classifier,
)
from openhoi.models.hoiclip.config import HOICLIPConfig
from openhoi.models.hoiclip.head import HOICLIPHead
from openhoi.models.hoiclip.interaction_decoder import (
    DetectorMemoryProjection,
    InteractionDecoder,
)
from openhoi.models.hoiclip.query_builder import build_query_builder
from openhoi.models.hoiclip.verb_adapter import VerbAdapter
from openhoi.models.hoiclip.verb_repr import load_verb_representations

log = logging.getLogger(__name__)


def verb_representations(cfg: HOICLIPConfig, label_space: LabelSpace, embed_dim: int,
                         verb_repr: Tensor | str | Path | None, pretrained: bool = True
                         ) -> Tensor:
    """``[V, E]`` initial E_v: the given tensor or file (its recorded rule, label space and
    CLIP architecture checked), zeros when not ``pretrained`` (a checkpoint overwrites them),
    or unit-norm random rows when the config asks for ``verb_repr_init: random`` (tiny
    configs and tests only)."""
    icfg = cfg.interaction
    shape = (label_space.num_verbs, embed_dim)
    if verb_repr is None and not pretrained:
        verb_repr = torch.zeros(shape)
    elif verb_repr is None:
        if icfg.verb_repr_init == "file":
            raise ConfigError(
                "model.interaction.verb_repr_init: 'file' needs the verb representations "
                "(openhoi verb-repr) passed to the builder (verb_repr=..., `openhoi train "
                "--verb-repr`); use 'random' only for tiny test configs")
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


def build_model(
    cfg: HOICLIPConfig,
    label_space: LabelSpace,
    *,
    pretrained: bool = True,
    verb_repr: Tensor | str | Path | None = None,
    detr_weights: str | Path | None = None,
    **clip_kwargs,
) -> HOIDetector:
    """HOICLIP for ``label_space`` (on the current default device).

    Args:
        cfg: the model config.
        label_space: classes; every class count comes from it.
        pretrained: load CLIP's weight file and run its text tower; False builds placeholders
            for a checkpoint to overwrite (evaluation, prediction, resume).
        verb_repr: ``[V, E]`` verb representations E_v (HOICLIP eq. 6), or their file
            (``openhoi verb-repr`` output or HOICLIP's ``verb.pth``); required unless
            ``cfg.interaction.verb_repr_init`` is ``random`` or not ``pretrained``.
        detr_weights: DETR checkpoint copied into the detector; by default the config's
            ``detector.detr_checkpoint`` when ``pretrained``.
        clip_kwargs: ``clip`` (a built ``ClipKnowledge`` to reuse), ``clip_weights`` (CLIP
            weight file overriding ``cfg.clip.weights``), ``interaction_text`` ``[I, E]`` and
            ``object_text`` ``[O + 1, E]`` (text embeddings instead of the text tower's).
    """
    clip, inter_text, obj_text = clip_and_text(cfg, label_space, pretrained=pretrained,
                                               **clip_kwargs)
    detector, classifier = detector_and_classifier(cfg, label_space, clip, inter_text,
                                                   obj_text, pretrained)
    icfg = cfg.interaction
    width, embed_dim = clip.width, clip.embed_dim
    verb_adapter = None
    if icfg.verb_adapter:
        verb_adapter = VerbAdapter(
            embed_dim,
            verb_representations(cfg, label_space, embed_dim, verb_repr, pretrained),
            label_space.verb_to_interaction, icfg.verb_adapter_layers,
            trainable_repr=not icfg.freeze_verb_repr)
    adapters = build_adapters(cfg.adapter, {"interaction": embed_dim, "global": embed_dim})
    head = HOICLIPHead(
        build_query_builder(icfg.query_builder, cfg.detector.hidden_dim, width),
        DetectorMemoryProjection(cfg.detector.hidden_dim, width),
        InteractionDecoder(width, icfg.num_layers, icfg.num_heads, icfg.dim_feedforward,
                           icfg.dropout, icfg.shared_cross_attention),
        classifier, verb_adapter, icfg.verb_weight, icfg.init_temperature,
        icfg.mask_detector_padding,
        adapters["interaction"] if "interaction" in adapters else None)
    if detr_weights is None and pretrained:
        detr_weights = cfg.detector.detr_checkpoint
    return assemble(cfg, label_space, clip, detector, head, inter_text,
                    detr_weights=detr_weights,
                    global_adapter=adapters["global"] if "global" in adapters else None)


ARCHITECTURE = Architecture(
    config=HOICLIPConfig, model=build_model, criterion=build_hoi_criterion,
    postprocess=build_hoi_postprocessor, group_lrs=lambda cfg: {"clip": cfg.clip.lr})
"""The family's line of ``openhoi.models.build.ARCHITECTURES``."""
