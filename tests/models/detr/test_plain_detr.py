"""``PlainDETR`` against DETR's forward written out here (``models/detr.py``, ``transformer.py``,
``position_encoding.py`` of facebookresearch/detr, sequence-first as DETR runs it) on a random
checkpoint saved in DETR's layout (``{'model': state_dict}``) from torch / torchvision modules
with DETR's names, not from openhoi's modules."""

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from openhoi.data.loader import pad_images
from openhoi.errors import CheckpointError
from openhoi.label_space import load_label_space
from openhoi.models.detr.plain_detr import (
    build_plain_detr,
    class_rows_to_objects,
    detr_from_checkpoint,
    infer_detr_config,
    load_plain_detr,
)

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


@pytest.fixture(scope="module")
def batch():
    torch.manual_seed(1)
    return pad_images([torch.randn(3, 96, 128), torch.randn(3, 70, 90)])


def _save(tmp_path, state, key="model"):
    path = tmp_path / "detr.pth"
    torch.save({key: state, "epoch": 3}, path)
    return path


@pytest.mark.parametrize("key", ["model", "model_state_dict"])
def test_forward_matches_detr(tmp_path, batch, key):
    hico = load_label_space("hicodet")
    state = detr_state(80)
    model = detr_from_checkpoint(_save(tmp_path, state, key), hico.object_ids, num_heads=HEADS)
    with torch.no_grad():
        out = model(batch)
        logits, boxes = reference_detr(state, batch.images, batch.mask)
    assert out.logits.shape == (DEC, 2, QUERIES, 81)
    torch.testing.assert_close(out.logits, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.boxes_cxcywh, boxes, atol=1e-5, rtol=1e-5)

    # DETR PostProcess with the image sizes; an 80-class head is HICO-DET's object order
    dets = model.detect(batch)
    scores, labels = logits[-1].softmax(-1)[..., :-1].max(-1)
    cx, cy, w, h = boxes[-1].unbind(-1)
    xyxy = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)
    for b, d in enumerate(dets):
        hh, ww = batch.sizes[b].tolist()
        torch.testing.assert_close(d.boxes_xyxy, xyxy[b] * torch.tensor([ww, hh, ww, hh]),
                                   atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(d.scores, scores[b], atol=1e-5, rtol=1e-5)
        assert torch.equal(d.labels, labels[b])


def test_coco_head_rows_are_category_ids(tmp_path, batch):
    synth = load_label_space("synthetic")  # 5 objects with COCO ids (person = 1 ...)
    state = detr_state(91)
    model = detr_from_checkpoint(_save(tmp_path, state), synth.object_ids, num_heads=HEADS)
    rows = torch.tensor(synth.object_ids)
    assert torch.equal(model.class_to_object[rows], torch.arange(len(rows)))
    assert int((model.class_to_object >= 0).sum()) == len(rows)
    logits, _ = reference_detr(state, batch.images, batch.mask)
    probs = logits[-1].softmax(-1)[..., rows]  # [B, Q, 5] DETR's probabilities of our objects
    for b, d in enumerate(model.detect(batch)):
        scores, labels = probs[b].max(-1)
        torch.testing.assert_close(d.scores, scores, atol=1e-5, rtol=1e-5)
        assert torch.equal(d.labels, labels)


def test_eighty_class_head_skips_unused_coco_ids():
    synth = load_label_space("synthetic")
    table = class_rows_to_objects(80, synth.object_ids)
    # COCO id 37 (sports ball) is the 33rd used category: 1..36 minus 12, 26, 29, 30
    assert int(table[32]) == synth.object_ids.index(37)
    assert int(table[0]) == synth.human_label


def test_infer_config(tmp_path):
    cfg = infer_detr_config(detr_state(80))
    assert (cfg.backbone, cfg.hidden_dim, cfg.num_queries, cfg.dim_feedforward,
            cfg.num_encoder_layers, cfg.num_decoder_layers, cfg.pre_norm) == (
        "resnet18", HIDDEN, QUERIES, FFN, ENC, DEC, False)


def test_wrong_shapes_and_layouts_name_the_key(tmp_path):
    hico = load_label_space("hicodet")
    state = detr_state(80)
    cfg = infer_detr_config(state)
    from dataclasses import replace
    model = build_plain_detr(replace(cfg, num_heads=HEADS, num_queries=QUERIES + 1), 80,
                             hico.object_ids)
    with pytest.raises(CheckpointError, match=r"query_embed.weight has shape \(10, 32\)"):
        load_plain_detr(model, _save(tmp_path, state))
    model = build_plain_detr(replace(cfg, num_heads=HEADS), 91, hico.object_ids)
    with pytest.raises(CheckpointError, match="class_embed.weight.*detr_classes"):
        load_plain_detr(model, _save(tmp_path, state))
    del state["query_embed.weight"]
    with pytest.raises(CheckpointError, match="query_embed.weight"):
        detr_from_checkpoint(_save(tmp_path, state), hico.object_ids)
    with pytest.raises(CheckpointError, match="class head with 7 classes"):
        class_rows_to_objects(7, hico.object_ids)
