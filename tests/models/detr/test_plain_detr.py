"""``PlainDETR`` against DETR's forward written out in ``tests/models/detr_layout.py``
(facebookresearch/detr, sequence-first as DETR runs it) on a random checkpoint saved in DETR's
layout (``{'model': state_dict}``) from torch / torchvision modules with DETR's names."""

from dataclasses import replace

import pytest
import torch
from detr_layout import DEC, ENC, FFN, HEADS, HIDDEN, QUERIES, detr_state, reference_detr

from openhoi.data.loader import pad_images
from openhoi.errors import CheckpointError
from openhoi.label_space import load_label_space
from openhoi.models.detr.plain_detr import (
    COCO_UNUSED_IDS,
    build_plain_detr,
    class_rows_to_objects,
    detr_from_checkpoint,
    infer_detr_config,
    load_plain_detr,
)


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


def test_coco80_softmax_drops_unnamed_ids_first(tmp_path, batch):
    """EZ-HOI / UPT ``reserve_indices``: with DETR's 91-class head the softmax runs over the 80
    categories and no-object only."""
    hico = load_label_space("hicodet")
    state = detr_state(91)
    model = detr_from_checkpoint(_save(tmp_path, state), hico.object_ids, num_heads=HEADS)
    logits, _ = reference_detr(state, batch.images, batch.mask)
    reserve = [i for i in range(92) if i != 0 and i not in COCO_UNUSED_IDS]  # 80 + no-object
    assert len(reserve) == 81
    probs = logits[-1][..., reserve].softmax(-1)[..., :-1]  # [B, Q, 80] in COCO-80 order
    for b, (d, plain) in enumerate(zip(model.detect(batch, coco80_softmax=True),
                                       model.detect(batch))):
        scores, labels = probs[b].max(-1)
        torch.testing.assert_close(d.scores, scores, atol=1e-5, rtol=1e-5)
        assert torch.equal(d.labels, labels)  # COCO-80 order = HICO-DET's objects
        assert torch.equal(d.labels, plain.labels)
        assert (d.scores > plain.scores).all()  # fewer columns share the probability
    # an 80-class head is unaffected
    model80 = detr_from_checkpoint(_save(tmp_path, detr_state(80)), hico.object_ids,
                                   num_heads=HEADS)
    a, b = model80.detect(batch, coco80_softmax=True)[0], model80.detect(batch)[0]
    assert torch.equal(a.scores, b.scores)
