"""Build the GEN-VLKT family: ``HOIDetector`` with GEN-VLKT's head (an interaction decoder on
the detector's memory, guided by the instance queries), the criterion with its feature-mimic
term, and the post-processor."""

from __future__ import annotations

from pathlib import Path

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
from openhoi.models.detr.transformer import TransformerDecoder
from openhoi.models.gen_vlkt.config import GenVLKTConfig
from openhoi.models.gen_vlkt.head import GenVLKTHead


def build_model(
    cfg: GenVLKTConfig,
    label_space: LabelSpace,
    *,
    pretrained: bool = True,
    detr_weights: str | Path | None = None,
    verb_repr: object = None,
    **clip_kwargs,
) -> HOIDetector:
    """GEN-VLKT for ``label_space`` (on the current default device).

    Args:
        pretrained, clip_kwargs: as ``openhoi.models.hoiclip.build.build_model``.
        detr_weights: DETR checkpoint copied into the detector and into the interaction
            decoder (as GEN-VLKT's ``detr-r50-pre-2branch-hico.pth`` initialises both); by
            default the config's ``detector.detr_checkpoint`` when ``pretrained``.
        verb_repr: ignored (GEN-VLKT has no verb representations); accepted so that every
            detection family takes the same arguments.
    """
    clip, inter_text, obj_text = clip_and_text(cfg, label_space, pretrained=pretrained,
                                               **clip_kwargs)
    detector, classifier = detector_and_classifier(cfg, label_space, clip, inter_text,
                                                   obj_text, pretrained)
    d = cfg.detector
    decoder = TransformerDecoder(d.num_decoder_layers, d.hidden_dim, d.num_heads,
                                 d.dim_feedforward, d.dropout, d.pre_norm)
    head = GenVLKTHead(decoder, d.hidden_dim, clip.embed_dim, classifier,
                       cfg.interaction.init_temperature)
    if detr_weights is None and pretrained:
        detr_weights = cfg.detector.detr_checkpoint
    adapters = build_adapters(cfg.adapter, {"global": clip.embed_dim})
    return assemble(cfg, label_space, clip, detector, head, inter_text,
                    detr_weights=detr_weights, detr_extra=[head.decoder],
                    global_adapter=adapters["global"] if "global" in adapters else None)


ARCHITECTURE = Architecture(
    config=GenVLKTConfig, model=build_model, criterion=build_hoi_criterion,
    postprocess=build_hoi_postprocessor, group_lrs=lambda cfg: {"clip": cfg.clip.lr})
"""The family's line of ``openhoi.models.build.ARCHITECTURES``."""
