"""The DETR-style instance detector of GEN-VLKT/HOICLIP and its output contract.

ResNet backbone -> 1x1 input projection -> sine position encoding -> transformer encoder ->
paired instance decoder (``Q`` human + ``Q`` object queries with GEN-VLKT's position-guided
embedding) -> human box, object box and object class heads on every decoder layer.
The interaction branch (``openhoi.models`` HOICLIP / GEN-VLKT heads) consumes ``DetectorOutput``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from openhoi.structures import HOIRawOutput


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
            per_layer = {k: layer(v, i) for k, v in (layer_extras or {}).items()}
            return HOIRawOutput(
                obj_logits=self.obj_logits[i],
                h_boxes_cxcywh=self.h_boxes_cxcywh[i],
                o_boxes_cxcywh=self.o_boxes_cxcywh[i],
                interaction_logits=layer(interaction_logits, i),
                verb_logits=layer(verb_logits, i),
                extras=per_layer,
            )

        out = build(num_layers - 1)
        out.extras.update(extras or {})
        if aux:
            out.aux = [build(i) for i in range(num_layers - 1)]
        return out
