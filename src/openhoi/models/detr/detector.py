"""The DETR-style instance detector of GEN-VLKT/HOICLIP and its output contract.

ResNet backbone -> 1x1 input projection -> sine position encoding -> transformer encoder ->
paired instance decoder (``Q`` human + ``Q`` object queries with GEN-VLKT's position-guided
embedding) -> human box, object box and object class heads on every decoder layer.
The interaction branch (``openhoi.models`` HOICLIP / GEN-VLKT heads) consumes ``DetectorOutput``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from openhoi.config import DetectorConfig
from openhoi.errors import ConfigError
from openhoi.models.detr.backbone import Backbone
from openhoi.models.detr.heads import MLP, LinearObjectClassifier, TextObjectClassifier
from openhoi.models.detr.instance_decoder import InstanceDecoder
from openhoi.models.detr.position_encoding import SinePositionEncoding
from openhoi.models.detr.query_selection import Selection
from openhoi.models.detr.transformer import TransformerDecoder, TransformerEncoder
from openhoi.structures import HOIRawOutput, ImageBatch


@dataclass
class DetectorOutput:
    """Everything the detector computes for a batch of ``B`` images and ``Q`` query pairs.

    ``L`` is the number of instance-decoder layers; index ``-1`` is the last layer. Every
    per-layer tensor of the decoder is already passed through the decoder's final LayerNorm,
    as GEN-VLKT/HOICLIP's ``TransformerDecoder(return_intermediate=True)`` returns it.

    Attributes:
        h_hs: ``[L, B, Q, D]`` human-query features per decoder layer.
        o_hs: ``[L, B, Q, D]`` object-query features per decoder layer.
        obj_logits: ``[L, B, Q, O + 1]`` object-class logits, last column = no-object.
        h_boxes_cxcywh: ``[L, B, Q, 4]`` human boxes, cxcywh, normalized to [0, 1].
        o_boxes_cxcywh: ``[L, B, Q, 4]`` object boxes, cxcywh, normalized to [0, 1].
        memory: ``[B, HW, D]`` transformer-encoder output (row-major over the feature map).
        memory_mask: ``[B, HW]`` bool, True on padding.
        memory_pos: ``[B, HW, D]`` sine position encoding of the memory.
        feature_size: ``(h, w)`` of the backbone feature map, ``HW = h * w``.
        selection: the query selection (``openhoi.models.detr.query_selection``; its heat map
            feeds a loss), or None.
        obj_extras: ``[L, B, Q, ...]`` per-layer tensors of the object head (ViLD's image
            branch), passed into every layer's ``HOIRawOutput.extras``.
    """

    h_hs: Tensor
    o_hs: Tensor
    obj_logits: Tensor
    h_boxes_cxcywh: Tensor
    o_boxes_cxcywh: Tensor
    memory: Tensor
    memory_mask: Tensor
    memory_pos: Tensor
    feature_size: tuple[int, int]
    selection: Selection | None = None
    obj_extras: dict[str, Tensor] = field(default_factory=dict)

    @property
    def num_layers(self) -> int:
        return int(self.h_hs.shape[0])

    def raw_output(
        self,
        interaction_logits: Tensor,
        verb_logits: Tensor | None = None,
        extras: dict[str, Tensor] | None = None,
        layer_extras: dict[str, Tensor] | None = None,
        aux: bool = True,
    ) -> HOIRawOutput:
        """Assemble ``HOIRawOutput`` (last layer + ``aux`` list of the earlier layers).

        Args:
            interaction_logits: ``[L', B, Q, I]`` with ``L'`` equal to ``L`` or 1; a single
                layer is shared by every decoder layer (HOICLIP's ``_set_aux_loss_triplet``
                repeats it the same way).
            verb_logits: ``[L', B, Q, V]`` or None, same layer rule.
            extras: tensors for the last layer only.
            layer_extras: ``[L', ...]`` tensors split per layer into each output's ``extras``.
            aux: build ``aux`` from layers ``0 .. L-2``.
        """
        num_layers = self.num_layers

        def layer(t: Tensor | None, i: int) -> Tensor | None:
            if t is None:
                return None
            if t.shape[0] not in (1, num_layers):
                raise ValueError(f"per-layer tensor has {t.shape[0]} layers, expected 1 or "
                                 f"{num_layers}")
            return t[0] if t.shape[0] == 1 else t[i]

        def build(i: int) -> HOIRawOutput:
            per_layer = {k: layer(v, i) for k, v in
                         {**self.obj_extras, **(layer_extras or {})}.items()}
            return HOIRawOutput(
                obj_logits=self.obj_logits[i],
                h_boxes_cxcywh=self.h_boxes_cxcywh[i],
                o_boxes_cxcywh=self.o_boxes_cxcywh[i],
                interaction_logits=layer(interaction_logits, i),
                verb_logits=layer(verb_logits, i),
                extras=per_layer,
            )

        out = build(num_layers - 1)
        if self.selection is not None:  # for the losses of the query selection
            out.extras["centre_logits"] = self.selection.logits
            if self.selection.object_logits is not None:
                out.extras["object_centre_logits"] = self.selection.object_logits
            out.extras["centre_valid"] = self.selection.valid
        out.extras.update(extras or {})
        if aux:
            out.aux = [build(i) for i in range(num_layers - 1)]
        return out


class Detector(nn.Module):
    """Backbone + encoder + paired instance decoder + box and object-class heads.

    Args:
        backbone: ResNet feature extractor (``num_channels`` output channels).
        encoder: transformer encoder of width ``D``.
        instance_decoder: GEN-VLKT paired instance decoder of width ``D``.
        obj_classifier: ``[..., D] -> [..., O + 1]`` object-class head, or ``-> (logits,
            extras)`` for a head with per-layer extras (``ViLDObjectClassifier``).
        box_head_layers: layers of the human and object box MLPs (3 in DETR/GEN-VLKT).

    Attributes:
        input_proj: ``nn.Conv2d(C, D, 1)`` from backbone channels to the transformer width.
        position_encoding: sine encoding with ``D / 2`` features per axis.
        h_box_head, o_box_head: ``MLP(D, D, 4)`` followed by a sigmoid (GEN-VLKT's
            ``hum_bbox_embed`` / ``obj_bbox_embed``).
    """

    def __init__(self, backbone: Backbone, encoder: TransformerEncoder,
                 instance_decoder: InstanceDecoder, obj_classifier: nn.Module,
                 box_head_layers: int = 3) -> None:
        super().__init__()
        dim = instance_decoder.decoder.norm.normalized_shape[0]
        self.backbone = backbone
        self.input_proj = nn.Conv2d(backbone.num_channels, dim, kernel_size=1)
        self.position_encoding = SinePositionEncoding(dim // 2, normalize=True)
        self.encoder = encoder
        self.instance_decoder = instance_decoder
        self.h_box_head = MLP(dim, dim, 4, box_head_layers)
        self.o_box_head = MLP(dim, dim, 4, box_head_layers)
        self.obj_classifier = obj_classifier

    @property
    def num_queries(self) -> int:
        return self.instance_decoder.num_queries

    def _box_logits(self, hs: Tensor) -> Tensor:
        """``[..., 2Q, D]`` human-then-object query features -> ``[..., 2Q, 4]`` box logits."""
        q = self.num_queries
        return torch.cat([self.h_box_head(hs[..., :q, :]), self.o_box_head(hs[..., q:, :])], -2)

    def forward(self, batch: ImageBatch) -> DetectorOutput:
        features, mask = self.backbone(batch.images, batch.mask)  # [B, C, h, w], [B, h, w]
        pos = self.position_encoding(mask).to(features.dtype)  # [B, D, h, w]
        src = self.input_proj(features)  # [B, D, h, w]
        h, w = src.shape[-2:]
        src = src.flatten(2).transpose(1, 2)  # [B, hw, D]
        pos = pos.flatten(2).transpose(1, 2)  # [B, hw, D]
        mask = mask.flatten(1)  # [B, hw]
        memory = self.encoder(src, mask, pos)  # [B, hw, D]
        dec = self.instance_decoder(memory, mask, pos, (int(h), int(w)), self._box_logits)
        h_hs, o_hs = dec.h_hs, dec.o_hs  # [L, B, Q, D]
        h_logits, o_logits = dec.box_logits.split(self.num_queries, dim=2)  # [L, B, Q, 4]
        obj_logits = self.obj_classifier(o_hs)  # [L, B, Q, O + 1], or (logits, extras)
        obj_extras = {}
        if isinstance(obj_logits, tuple):  # an open-vocabulary head's extras (ViLD)
            obj_logits, obj_extras = obj_logits
        return DetectorOutput(
            h_hs=h_hs,
            o_hs=o_hs,
            obj_logits=obj_logits,
            h_boxes_cxcywh=h_logits.sigmoid(),  # [L, B, Q, 4] normalized
            o_boxes_cxcywh=o_logits.sigmoid(),
            memory=memory,
            memory_mask=mask,
            memory_pos=pos,
            feature_size=(int(h), int(w)),
            selection=dec.selection,
            obj_extras=obj_extras,
        )


def build_detector(cfg: DetectorConfig, num_objects: int,
                   obj_text_embeds: Tensor | None = None,
                   obj_classifier: nn.Module | None = None) -> Detector:
    """Build the detector of ``cfg`` with random weights (no weight file is read here).

    Args:
        cfg: detector config.
        num_objects: ``O``, object classes of the label space (the head has ``O + 1`` outputs).
        obj_text_embeds: ``[O + 1, E]`` CLIP text embeddings of the object prompts plus the
            no-object prompt; required when ``cfg.obj_head == "clip"``.
        obj_classifier: a built object head (``cfg.obj_head == "vild"``: the family builds it
            from ``model.vild``).
    """
    backbone = Backbone(cfg.backbone, cfg.dilation, cfg.train_backbone,
                        norm=cfg.backbone_norm, frozen_stages=cfg.backbone_frozen_stages,
                        return_layer=cfg.backbone_return_layer, channels_last=cfg.channels_last)
    layer_args = (cfg.hidden_dim, cfg.num_heads, cfg.dim_feedforward, cfg.dropout, cfg.pre_norm)
    encoder = TransformerEncoder(cfg.num_encoder_layers, *layer_args)
    decoder = InstanceDecoder(TransformerDecoder(cfg.num_decoder_layers, *layer_args),
                              cfg.num_queries, cfg.spatial_prior, cfg.spatial_prior_sigma,
                              cfg.box_refine, cfg.value_pos, cfg.query_selection)
    if cfg.obj_head == "vild":
        if obj_classifier is None:
            raise ConfigError("model.detector.obj_head='vild' needs the ViLD head built from "
                              "model.vild")
    elif cfg.obj_head == "clip":
        if obj_text_embeds is None:
            raise ConfigError("model.detector.obj_head='clip' needs the object text embeddings")
        if obj_text_embeds.shape[0] != num_objects + 1:
            raise ConfigError(f"object text embeddings have {obj_text_embeds.shape[0]} rows, "
                              f"expected {num_objects} objects + 1 no-object")
        obj_classifier = TextObjectClassifier(
            cfg.hidden_dim, obj_text_embeds, cfg.obj_head_bias, cfg.obj_logit_scale_init)
    else:
        obj_classifier = LinearObjectClassifier(cfg.hidden_dim, num_objects + 1)
    return Detector(backbone, encoder, decoder, obj_classifier)
