"""DETR as released (facebookresearch/detr ``models/detr.py``): one set of object queries, one
class head over COCO ids (or a fine-tune's classes) and one box head; the frozen instance
detector of the two-stage pipelines (UPT, EZ-HOI), loaded from a DETR checkpoint as it is.

Built from openhoi's DETR modules (``Backbone``, ``SinePositionEncoding``,
``TransformerEncoder`` / ``TransformerDecoder``, ``MLP``), whose math is DETR's; the key map
from DETR's layout is ``detr_key``. ``PlainDETR.detect`` is DETR's ``PostProcess`` (softmax,
no-object column dropped, best class) with the class rows mapped to the label space.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor, nn

from openhoi.config import DetectorConfig
from openhoi.data.detections import Instances
from openhoi.errors import CheckpointError
from openhoi.models.detr.backbone import Backbone
from openhoi.models.detr.detr_checkpoint import read_state_dict
from openhoi.models.detr.heads import MLP
from openhoi.models.detr.position_encoding import SinePositionEncoding
from openhoi.models.detr.transformer import TransformerDecoder, TransformerEncoder
from openhoi.ops.boxes import box_cxcywh_to_xyxy, denormalize_boxes
from openhoi.structures import ImageBatch

# COCO category ids 1..90 that name no category (DETR's 91-way head keeps rows for them; a
# head over the 80 categories, UPT's HICO-DET fine-tune, drops them: fredzzhang/hicodet
# ``detections/main_detr.py`` keeps rows [1..11, 13..25, 27, 28, 31..44, 46..65, 67, 70,
# 72..82, 84..91] of DETR's head).
COCO_UNUSED_IDS = frozenset({12, 26, 29, 30, 45, 66, 68, 69, 71, 83})
COCO_MAX_ID = 90


@dataclass
class PlainDETROutput:
    """DETR's raw output for ``B`` images, ``L`` decoder layers, ``Q`` queries.

    Attributes:
        logits: ``[L, B, Q, C + 1]`` class logits, last column = no-object.
        boxes_cxcywh: ``[L, B, Q, 4]`` boxes, cxcywh, normalized to [0, 1].
    """

    logits: Tensor
    boxes_cxcywh: Tensor


def class_rows_to_objects(num_classes: int, object_ids: Sequence[int],
                          num_objects: int | None = None) -> Tensor:
    """``[C]`` label-space object index of each class row of DETR's head (-1: none).

    Args:
        num_classes: ``C``, rows of the class head without no-object: 91 = DETR's COCO head
            (row = COCO category id), 80 = the 80 COCO categories in id order (UPT's HICO-DET
            fine-tune), any other count = the label space's objects in order.
        object_ids: COCO category id of each label-space object (``LabelSpace.object_ids``).
    """
    num_objects = len(object_ids) if num_objects is None else num_objects
    if num_classes == COCO_MAX_ID + 1:
        rank = {cid: cid for cid in range(num_classes)}
    elif num_classes == COCO_MAX_ID - len(COCO_UNUSED_IDS):
        used = [cid for cid in range(1, COCO_MAX_ID + 1) if cid not in COCO_UNUSED_IDS]
        rank = {cid: r for r, cid in enumerate(used)}
    elif num_classes == num_objects:
        rank = {cid: i for i, cid in enumerate(object_ids)}
    else:
        raise CheckpointError(f"DETR class head with {num_classes} classes: expected 91 (COCO "
                              f"ids), 80 (COCO categories) or the label space's {num_objects}")
    table = [-1] * num_classes
    for i, cid in enumerate(object_ids):
        if cid in rank:
            table[rank[cid]] = i
    if max(table) < 0:
        raise CheckpointError(f"DETR class head with {num_classes} classes: none of them is an "
                              "object of the label space")
    return torch.tensor(table, dtype=torch.int64)


class PlainDETR(nn.Module):
    """DETR: backbone, input projection, encoder, decoder over learned queries, class and box
    heads on every decoder layer (``facebookresearch/detr`` ``DETR``; parameter names follow
    it, see ``detr_key``).

    Args:
        backbone: ResNet feature extractor.
        encoder: post- or pre-norm encoder of width ``D``.
        decoder: decoder of width ``D`` (every layer's output through its final norm, DETR's
            ``return_intermediate``).
        num_queries: ``Q``.
        class_to_object: ``[C]`` label-space object of each class row, -1 for none
            (``class_rows_to_objects``).
    """

    def __init__(self, backbone: Backbone, encoder: TransformerEncoder,
                 decoder: TransformerDecoder, num_queries: int, class_to_object: Tensor) -> None:
        super().__init__()
        dim = decoder.norm.normalized_shape[0]
        self.backbone = backbone
        self.input_proj = nn.Conv2d(backbone.num_channels, dim, kernel_size=1)
        self.position_encoding = SinePositionEncoding(dim // 2, normalize=True)
        self.encoder = encoder
        self.decoder = decoder
        self.query_embed = nn.Embedding(num_queries, dim)
        self.class_embed = nn.Linear(dim, len(class_to_object) + 1)
        self.bbox_embed = MLP(dim, dim, 4, 3)
        self.register_buffer("class_to_object", class_to_object.long(), persistent=False)

    def forward(self, batch: ImageBatch) -> PlainDETROutput:
        features, mask = self.backbone(batch.images, batch.mask)  # [B, C, h, w], [B, h, w]
        pos = self.position_encoding(mask).to(features.dtype)  # [B, D, h, w]
        src = self.input_proj(features).flatten(2).transpose(1, 2)  # [B, hw, D]
        pos = pos.flatten(2).transpose(1, 2)  # [B, hw, D]
        mask = mask.flatten(1)  # [B, hw]
        memory = self.encoder(src, mask, pos)  # [B, hw, D]
        query_pos = self.query_embed.weight[None].expand(len(src), -1, -1)  # [B, Q, D]
        hs = self.decoder(torch.zeros_like(query_pos), memory, mask, pos, query_pos)  # [L,B,Q,D]
        return PlainDETROutput(self.class_embed(hs), self.bbox_embed(hs).sigmoid())

    @torch.no_grad()
    def detect(self, batch: ImageBatch, sizes_hw: Tensor | None = None,
               coco80_softmax: bool = False) -> list[Instances]:
        """Every query of the last layer as an instance in the pixels of ``sizes_hw`` (DETR's
        ``target_sizes``, ``[B, 2]`` (h, w); default ``batch.sizes``): DETR's ``PostProcess``
        (softmax over all columns, no-object dropped, best class), the best class taken among
        the rows that are label-space objects (all of them for HICO-DET and V-COCO with an
        80-class head). Boxes are not clipped to the image, as DETR's.

        ``coco80_softmax``: with a 91-class COCO head, the softmax runs over the 80 categories
        and no-object only (the 11 unnamed ids dropped first: UPT/EZ-HOI ``reserve_indices``);
        other heads are unaffected."""
        sizes_hw = batch.sizes if sizes_hw is None else sizes_hw
        out = self.forward(batch)
        logits = out.logits[-1].float()  # [B, Q, C + 1]
        if coco80_softmax and logits.shape[-1] == COCO_MAX_ID + 2:
            logits = logits.clone()
            logits[..., [0, *sorted(COCO_UNUSED_IDS)]] = float("-inf")  # softmax weight 0
        probs = logits.softmax(-1)[..., :-1]  # [B, Q, C]
        cols = (self.class_to_object >= 0).nonzero().squeeze(1)  # [C']
        scores, best = probs[..., cols].max(-1)  # [B, Q]
        labels = self.class_to_object[cols[best]]  # [B, Q] label-space objects
        boxes = denormalize_boxes(box_cxcywh_to_xyxy(out.boxes_cxcywh[-1].float()),
                                  sizes_hw[:, None])  # [B, Q, 4] xyxy pixels
        return [Instances(boxes[b], scores[b], labels[b]) for b in range(len(batch))]


def detr_key(key: str) -> str:
    """DETR's key -> ``PlainDETR``'s: ``backbone.0.body.`` -> ``backbone.body.``,
    ``transformer.{encoder,decoder}.`` -> ``{encoder,decoder}.``, ``multihead_attn`` ->
    ``cross_attn``; ``input_proj``, ``query_embed``, ``class_embed``, ``bbox_embed`` as they
    are."""
    key = key.replace("backbone.0.body.", "backbone.body.", 1)
    if key.startswith("transformer."):
        key = key[len("transformer."):].replace(".multihead_attn.", ".cross_attn.")
    return key


def _count(state: Mapping[str, Tensor], pattern: str) -> int:
    found = {m.group(1) for k in state if (m := re.match(pattern, k))}
    return len(found)


def infer_detr_config(state: Mapping[str, Tensor], where: str = "DETR checkpoint"
                      ) -> DetectorConfig:
    """The architecture a DETR state dict was saved from (heads and DC5 dilation cannot be
    read from weights: 8 heads, no dilation, as DETR's defaults)."""
    need = ("query_embed.weight", "class_embed.weight", "backbone.0.body.conv1.weight",
            "transformer.encoder.layers.0.linear1.weight")
    missing = [k for k in need if k not in state]
    if missing:
        raise CheckpointError(f"{where}: not in DETR's layout (facebookresearch/detr): no "
                              f"{', '.join(missing)}")
    bottleneck = "backbone.0.body.layer1.0.conv3.weight" in state
    blocks = _count(state, r"backbone\.0\.body\.layer3\.(\d+)\.")
    names = {(False, 2): "resnet18", (False, 6): "resnet34", (True, 6): "resnet50",
             (True, 23): "resnet101"}
    if (bottleneck, blocks) not in names:
        raise CheckpointError(f"{where}: backbone with {blocks} blocks in layer3 is not a "
                              "ResNet-18/34/50/101")
    num_queries, dim = state["query_embed.weight"].shape
    return DetectorConfig(
        backbone=names[bottleneck, blocks], hidden_dim=int(dim), num_queries=int(num_queries),
        dim_feedforward=int(state["transformer.encoder.layers.0.linear1.weight"].shape[0]),
        num_encoder_layers=_count(state, r"transformer\.encoder\.layers\.(\d+)\."),
        num_decoder_layers=_count(state, r"transformer\.decoder\.layers\.(\d+)\."),
        pre_norm="transformer.encoder.norm.weight" in state, train_backbone=False,
        backbone_norm="frozen_bn", channels_last=False)


def build_plain_detr(cfg: DetectorConfig, num_classes: int, object_ids: Sequence[int]
                     ) -> PlainDETR:
    """A DETR of ``cfg``'s architecture with random weights and a ``num_classes`` (+1) head;
    frozen BatchNorm, as released DETR checkpoints hold its statistics."""
    backbone = Backbone(cfg.backbone, cfg.dilation, train_backbone=False,
                        channels_last=cfg.channels_last, norm="frozen_bn",
                        return_layer=cfg.backbone_return_layer)
    layer_args = (cfg.hidden_dim, cfg.num_heads, cfg.dim_feedforward, cfg.dropout, cfg.pre_norm)
    return PlainDETR(backbone, TransformerEncoder(cfg.num_encoder_layers, *layer_args),
                     TransformerDecoder(cfg.num_decoder_layers, *layer_args), cfg.num_queries,
                     class_rows_to_objects(num_classes, object_ids))


def load_plain_detr(model: PlainDETR, path: str | Path,
                    state: Mapping[str, Tensor] | None = None) -> list[str]:
    """Copy a DETR checkpoint (``{'model': ...}``, pocket's ``{'model_state_dict': ...}`` as UPT
    saves its fine-tune, or a bare state dict) into ``model``: every tensor of the model must
    come from the file (``state``: the file's state dict, already read).

    Returns:
        the file's keys that were not used.

    Raises:
        CheckpointError: naming the file, the keys the model needs and does not find, or a key
            whose shape differs (both shapes).
    """
    state = read_state_dict(path) if state is None else state
    ours = model.state_dict()
    new: dict[str, Tensor] = {}
    unused = []
    for key, value in state.items():
        k = detr_key(key)
        if k not in ours:
            unused.append(key)
            continue
        if ours[k].shape != value.shape:
            hint = (" (model.instances.detr_classes: the head's classes without no-object)"
                    if k.startswith("class_embed.") else "")
            raise CheckpointError(f"{path}: {key} has shape {tuple(value.shape)} but the DETR "
                                  f"detector needs {tuple(ours[k].shape)}{hint}")
        new[k] = value
    missing = sorted(k for k in ours if k not in new)
    if missing:
        shown = ", ".join(missing[:5]) + (f" ... ({len(missing)} in all)" if len(missing) > 5
                                          else "")
        raise CheckpointError(f"{path}: not a DETR checkpoint of this architecture: no tensor "
                              f"for {shown} (DETR layout: backbone.0.body.*, input_proj, "
                              "transformer.encoder/decoder.*, query_embed, class_embed, "
                              "bbox_embed)")
    model.load_state_dict(new)
    return unused


def detr_from_checkpoint(path: str | Path, object_ids: Sequence[int], num_heads: int = 8,
                         dilation: bool = False) -> PlainDETR:
    """Build DETR with the architecture its checkpoint holds (``infer_detr_config``) and load
    it, in eval mode with frozen parameters."""
    state = read_state_dict(path)
    cfg = replace(infer_detr_config(state, str(path)), num_heads=num_heads, dilation=dilation)
    if cfg.hidden_dim % num_heads:
        raise CheckpointError(f"{path}: width {cfg.hidden_dim} is not a multiple of "
                              f"{num_heads} heads")
    model = build_plain_detr(cfg, int(state["class_embed.weight"].shape[0]) - 1, object_ids)
    load_plain_detr(model, path, state)
    return model.requires_grad_(False).eval()
