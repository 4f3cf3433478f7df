import pytest
import torch

from openhoi.config import DetectorConfig, replace
from openhoi.errors import ConfigError
from openhoi.models.detr.detector import build_detector
from openhoi.models.detr.heads import LinearObjectClassifier, TextObjectClassifier


def test_forward_shapes_and_raw_output_with_aux(tiny_detector_cfg, make_batch):
    torch.manual_seed(0)
    num_objects = 5
    model = build_detector(tiny_detector_cfg, num_objects, torch.randn(num_objects + 1, 12))
    batch = make_batch([(64, 96), (48, 64)])
    out = model(batch)
    L, B, Q, D = 2, 2, 5, 32
    assert out.h_hs.shape == out.o_hs.shape == (L, B, Q, D)
    assert out.obj_logits.shape == (L, B, Q, num_objects + 1)
    assert out.h_boxes_cxcywh.shape == out.o_boxes_cxcywh.shape == (L, B, Q, 4)
    assert ((out.h_boxes_cxcywh > 0) & (out.h_boxes_cxcywh < 1)).all()
    assert out.feature_size == (2, 3)
    assert out.memory.shape == out.memory_pos.shape == (B, 6, D)
    assert out.memory_mask.shape == (B, 6) and out.memory_mask[1].sum() == 2
    feats = torch.randn(L, B, 3)
    raw = out.raw_output(torch.randn(1, B, Q, 7), layer_extras={"f": feats})
    assert raw.interaction_logits.shape == (B, Q, 7) and len(raw.aux) == L - 1
    assert torch.equal(raw.obj_logits, out.obj_logits[-1])
    assert torch.equal(raw.aux[0].h_boxes_cxcywh, out.h_boxes_cxcywh[0])
    assert torch.equal(raw.aux[0].extras["f"], feats[0]) and raw.aux[0].aux == []
    assert torch.equal(raw.extras["f"], feats[1])
    assert not out.raw_output(torch.randn(L, B, Q, 7), aux=False).aux
    with pytest.raises(ValueError, match="layers"):
        out.raw_output(torch.randn(3, B, Q, 7))


def test_pairs_share_the_position_guided_embedding(tiny_detector_cfg):
    model = build_detector(replace(tiny_detector_cfg, {"obj_head": "linear"}), 5)
    dec = model.instance_decoder
    qpos = dec.query_pos(batch_size=2)  # [B, 2Q, D]
    Q = dec.num_queries
    assert torch.equal(qpos[0, :Q], dec.query_h.weight + dec.pos_guided.weight)
    assert torch.equal(qpos[1, Q:], dec.query_o.weight + dec.pos_guided.weight)
    assert torch.allclose(qpos[:, :Q] - dec.query_h.weight, qpos[:, Q:] - dec.query_o.weight,
                          atol=1e-6)
    assert (dec.pos_guided.weight >= 0).all() and (dec.pos_guided.weight < 1).all()


def test_eval_forward_is_deterministic_and_batch_independent(tiny_detector_cfg, make_batch):
    torch.manual_seed(0)
    model = build_detector(replace(tiny_detector_cfg, {"obj_head": "linear"}), 5).eval()
    batch = make_batch([(64, 64), (64, 64)], seed=1)
    both = model(batch)
    single = model(type(batch)(batch.images[1:], batch.mask[1:], batch.sizes[1:]))
    assert torch.allclose(both.obj_logits[:, 1], single.obj_logits[:, 0], atol=1e-5)
    assert torch.allclose(both.o_boxes_cxcywh[:, 1], single.o_boxes_cxcywh[:, 0], atol=1e-6)


def test_builder_checks_object_text_embeddings(tiny_detector_cfg):
    with pytest.raises(ConfigError, match="text embeddings"):
        build_detector(tiny_detector_cfg, 5)
    with pytest.raises(ConfigError, match="expected 5 objects"):
        build_detector(tiny_detector_cfg, 5, torch.randn(5, 12))
    assert isinstance(build_detector(tiny_detector_cfg, 5, torch.randn(6, 12)).obj_classifier,
                      TextObjectClassifier)
    linear = build_detector(replace(tiny_detector_cfg, {"obj_head": "linear"}), 5)
    assert isinstance(linear.obj_classifier, LinearObjectClassifier)


def test_config_rejects_contradictions():
    with pytest.raises(ConfigError, match="divisible"):
        DetectorConfig(hidden_dim=30, num_heads=4)
    with pytest.raises(ConfigError, match="dilation"):
        DetectorConfig(backbone="resnet18", dilation=True)
    with pytest.raises(ConfigError, match="num_queries"):
        DetectorConfig(num_queries=0)


def test_gradients_reach_trainable_parts_only(tiny_detector_cfg, make_batch):
    model = build_detector(tiny_detector_cfg, 5, torch.randn(6, 12))
    out = model(make_batch([(64, 64)]))
    (out.obj_logits.sum() + out.h_boxes_cxcywh.sum() + out.o_boxes_cxcywh.sum()).backward()
    assert model.backbone.body.conv1.weight.grad is None
    assert model.backbone.body.layer4[0].conv1.weight.grad is not None
    assert model.instance_decoder.pos_guided.weight.grad is not None
    assert model.obj_classifier.logit_scale.grad is not None
