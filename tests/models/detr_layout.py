"""A random DETR checkpoint in facebookresearch/detr's layout, built from torch / torchvision
modules with DETR's names (not openhoi's), and DETR's forward written out from its
``models/detr.py``, ``transformer.py`` and ``position_encoding.py`` (sequence-first, post-norm,
as DETR runs it): the reference of the plain-DETR tests."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

HIDDEN, HEADS, FFN, ENC, DEC, QUERIES = 32, 2, 64, 2, 3, 10


def detr_state(num_classes, seed=0):
    """A random DETR-R18 state dict (``num_classes`` + no-object rows) in DETR's key layout."""
    torch.manual_seed(seed)
    parts = {"backbone.0.body": torchvision.models.resnet18(weights=None,
                                                           norm_layer=FrozenBatchNorm2d),
             "input_proj": nn.Conv2d(512, HIDDEN, 1),
             "transformer.decoder.norm": nn.LayerNorm(HIDDEN),
             "class_embed": nn.Linear(HIDDEN, num_classes + 1),
             "query_embed": nn.Embedding(QUERIES, HIDDEN)}
    for i in range(ENC):
        parts[f"transformer.encoder.layers.{i}"] = nn.TransformerEncoderLayer(HIDDEN, HEADS, FFN)
    for i in range(DEC):
        parts[f"transformer.decoder.layers.{i}"] = nn.TransformerDecoderLayer(HIDDEN, HEADS, FFN)
    for i, (a, b) in enumerate([(HIDDEN, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, 4)]):
        parts[f"bbox_embed.layers.{i}"] = nn.Linear(a, b)
    state = {}
    for prefix, module in parts.items():
        for k, v in module.state_dict().items():
            if prefix == "backbone.0.body" and k.startswith("fc."):
                continue  # DETR's body stops at layer4
            v = v.clone()
            if k.endswith("running_var"):
                v = torch.rand_like(v) + 0.5
            elif v.dtype.is_floating_point and not k.endswith("weight") or "norm" in k:
                v = torch.randn_like(v) * 0.1 + (1.0 if k.endswith("weight") else 0.0)
            state[f"{prefix}.{k}"] = v
    return state


def _attention(q, k, v, p, prefix, key_padding_mask=None):
    out, _ = F.multi_head_attention_forward(
        q, k, v, HIDDEN, HEADS, p[prefix + "in_proj_weight"], p[prefix + "in_proj_bias"],
        None, None, False, 0.0, p[prefix + "out_proj.weight"], p[prefix + "out_proj.bias"],
        training=False, key_padding_mask=key_padding_mask, need_weights=False)
    return out


def _ln(x, p, name):
    return F.layer_norm(x, (HIDDEN,), p[name + ".weight"], p[name + ".bias"])


def _ffn(x, p, pre):
    h = F.relu(F.linear(x, p[pre + "linear1.weight"], p[pre + "linear1.bias"]))
    return F.linear(h, p[pre + "linear2.weight"], p[pre + "linear2.bias"])


def _sine(mask, num_pos_feats):
    """DETR ``PositionEmbeddingSine(normalize=True)``."""
    not_mask = ~mask
    y = not_mask.cumsum(1, dtype=torch.float32)
    x = not_mask.cumsum(2, dtype=torch.float32)
    y = y / (y[:, -1:, :] + 1e-6) * 2 * math.pi
    x = x / (x[:, :, -1:] + 1e-6) * 2 * math.pi
    dim_t = torch.arange(num_pos_feats, dtype=torch.float32)
    dim_t = 10000 ** (2 * (dim_t // 2) / num_pos_feats)
    px, py = x[:, :, :, None] / dim_t, y[:, :, :, None] / dim_t
    px = torch.stack((px[:, :, :, 0::2].sin(), px[:, :, :, 1::2].cos()), dim=4).flatten(3)
    py = torch.stack((py[:, :, :, 0::2].sin(), py[:, :, :, 1::2].cos()), dim=4).flatten(3)
    return torch.cat((py, px), dim=3).permute(0, 3, 1, 2)


def reference_detr(p, images, mask):
    """DETR.forward: ``pred_logits`` / ``pred_boxes`` of every decoder layer."""
    body = torchvision.models.resnet18(weights=None, norm_layer=FrozenBatchNorm2d)
    body.load_state_dict({k[len("backbone.0.body."):]: v for k, v in p.items()
                          if k.startswith("backbone.0.body.")}, strict=False)
    body.eval()
    x = images
    for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
        x = getattr(body, name)(x)
    m = F.interpolate(mask[None].float(), size=x.shape[-2:]).to(torch.bool)[0]
    pos = _sine(m, HIDDEN // 2).flatten(2).permute(2, 0, 1)  # [hw, B, D]
    src = F.conv2d(x, p["input_proj.weight"], p["input_proj.bias"]).flatten(2).permute(2, 0, 1)
    m = m.flatten(1)
    for i in range(ENC):  # post-norm TransformerEncoderLayer.forward_post
        pre = f"transformer.encoder.layers.{i}."
        q = src + pos
        src = _ln(src + _attention(q, q, src, p, pre + "self_attn.", m), p, pre + "norm1")
        src = _ln(src + _ffn(src, p, pre), p, pre + "norm2")
    query_pos = p["query_embed.weight"][:, None].repeat(1, images.shape[0], 1)  # [Q, B, D]
    tgt, inter = torch.zeros_like(query_pos), []
    for i in range(DEC):  # TransformerDecoderLayer.forward_post
        pre = f"transformer.decoder.layers.{i}."
        q = tgt + query_pos
        tgt = _ln(tgt + _attention(q, q, tgt, p, pre + "self_attn."), p, pre + "norm1")
        attn = _attention(tgt + query_pos, src + pos, src, p, pre + "multihead_attn.", m)
        tgt = _ln(tgt + attn, p, pre + "norm2")
        tgt = _ln(tgt + _ffn(tgt, p, pre), p, pre + "norm3")
        inter.append(_ln(tgt, p, "transformer.decoder.norm"))
    hs = torch.stack(inter).transpose(1, 2)  # [L, B, Q, D]
    logits = F.linear(hs, p["class_embed.weight"], p["class_embed.bias"])
    h = hs
    for i in range(3):
        h = F.linear(h, p[f"bbox_embed.layers.{i}.weight"], p[f"bbox_embed.layers.{i}.bias"])
        h = F.relu(h) if i < 2 else h
    return logits, h.sigmoid()
