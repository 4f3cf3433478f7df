"""DETR checkpoint mapping, tested on a synthetic file laid out like DETR's release.

The file is built from torchvision / torch.nn modules with DETR's names (``backbone.0.body``,
``transformer.encoder.layers.i`` as ``nn.TransformerEncoderLayer`` ...), not from our modules.
"""

import argparse

import pytest
import torch
import torchvision
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from openhoi.config import replace
from openhoi.errors import CheckpointError
from openhoi.models.detr.detector import build_detector
from openhoi.models.detr.detr_checkpoint import load_detr_checkpoint, read_state_dict
from openhoi.models.detr.transformer import TransformerDecoder

HIDDEN, FFN, ENC, DEC, CLASSES, QUERIES = 32, 64, 2, 4, 91, 10


def _detr_like_state():
    g = torch.Generator().manual_seed(0)
    parts = {"backbone.0.body": torchvision.models.resnet18(weights=None,
                                                           norm_layer=FrozenBatchNorm2d),
             "input_proj": nn.Conv2d(512, HIDDEN, 1),
             "transformer.decoder.norm": nn.LayerNorm(HIDDEN),
             "class_embed": nn.Linear(HIDDEN, CLASSES + 1),
             "query_embed": nn.Embedding(QUERIES, HIDDEN)}
    for i in range(ENC):
        parts[f"transformer.encoder.layers.{i}"] = nn.TransformerEncoderLayer(HIDDEN, 2, FFN)
    for i in range(DEC):
        parts[f"transformer.decoder.layers.{i}"] = nn.TransformerDecoderLayer(HIDDEN, 2, FFN)
    for i, (a, b) in enumerate([(HIDDEN, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, 4)]):
        parts[f"bbox_embed.layers.{i}"] = nn.Linear(a, b)
    state = {}
    for prefix, module in parts.items():
        for k, v in module.state_dict().items():
            if not k.startswith("fc."):  # DETR's IntermediateLayerGetter drops avgpool/fc
                state[f"{prefix}.{k}"] = torch.rand(v.shape, generator=g) + 0.5
    return state


@pytest.fixture
def detr_file(tmp_path):
    path = tmp_path / "detr-r50-e632da11.pth"
    state = _detr_like_state()
    torch.save({"model": state, "args": argparse.Namespace(lr=1e-4)}, path)
    return path, state


@pytest.fixture
def linear_cfg(tiny_detector_cfg):
    return replace(tiny_detector_cfg, {"obj_head": "linear", "num_encoder_layers": 1})


def test_detr_layout_maps_onto_detector(detr_file, linear_cfg, synthetic_space):
    path, src = detr_file
    model = build_detector(linear_cfg, synthetic_space.num_objects)
    report = load_detr_checkpoint(model, path, object_ids=synthetic_space.object_ids)
    state = model.state_dict()
    assert torch.equal(state["backbone.body.conv1.weight"], src["backbone.0.body.conv1.weight"])
    assert torch.equal(state["backbone.body.layer3.1.bn2.running_var"],
                       src["backbone.0.body.layer3.1.bn2.running_var"])
    assert torch.equal(state["input_proj.weight"], src["input_proj.weight"])
    assert torch.equal(state["encoder.layers.0.self_attn.in_proj_weight"],
                       src["transformer.encoder.layers.0.self_attn.in_proj_weight"])
    assert torch.equal(state["instance_decoder.decoder.layers.1.cross_attn.out_proj.weight"],
                       src["transformer.decoder.layers.1.multihead_attn.out_proj.weight"])
    assert torch.equal(state["instance_decoder.decoder.norm.bias"],
                       src["transformer.decoder.norm.bias"])
    for head in ("h_box_head", "o_box_head"):  # DETR's box MLP duplicated into both branches
        for i in range(3):
            assert torch.equal(state[f"{head}.layers.{i}.weight"],
                               src[f"bbox_embed.layers.{i}.weight"])
    # object rows: COCO ids (1, 37, 38, 47, 62) of the label space, then DETR's no-object row
    rows = list(synthetic_space.object_ids) + [CLASSES]
    assert torch.equal(state["obj_classifier.classifier.weight"], src["class_embed.weight"][rows])
    assert torch.equal(state["obj_classifier.classifier.bias"], src["class_embed.bias"][rows])

    assert "query_embed.weight" in report.unused
    assert "transformer.encoder.layers.1.linear1.weight" in report.unused  # we have 1 layer
    assert "transformer.decoder.layers.2.norm3.weight" in report.unused   # we have 2 layers
    assert not any(k.startswith("backbone.") for k in report.unused)
    assert {"instance_decoder.query_h.weight", "instance_decoder.query_o.weight",
            "instance_decoder.pos_guided.weight"} <= set(report.missing)
    assert not any(k.startswith(("backbone.", "encoder.", "h_box_head.")) for k in report.missing)
    assert set(report.loaded).isdisjoint(report.missing)
    assert set(report.loaded) | set(report.missing) == set(state)


def test_loaded_backbone_computes_like_the_reference_resnet(detr_file, linear_cfg,
                                                           synthetic_space):
    path, src = detr_file
    model = build_detector(linear_cfg, 5)
    load_detr_checkpoint(model, path, synthetic_space.object_ids)
    ref = torchvision.models.resnet18(weights=None, norm_layer=FrozenBatchNorm2d)
    ref.load_state_dict({k[len("backbone.0.body."):]: v for k, v in src.items()
                         if k.startswith("backbone.0.body.")}, strict=False)
    ref.fc = nn.Identity()
    ref.avgpool = nn.Identity()
    x = torch.randn(1, 3, 64, 64)
    feats, _ = model.backbone(x, torch.zeros(1, 64, 64, dtype=torch.bool))
    assert torch.allclose(feats.flatten(), ref(x).flatten(), atol=1e-5)


def test_clip_head_is_left_alone_and_extra_decoders_get_detr_decoder(detr_file,
                                                                     tiny_detector_cfg):
    path, src = detr_file
    model = build_detector(tiny_detector_cfg, 5, torch.randn(6, 12))
    before = model.obj_classifier.classifier.weight.clone()
    interaction_decoder = TransformerDecoder(3, HIDDEN, 2, FFN)
    report = load_detr_checkpoint(model, path, extra_decoders=[interaction_decoder])
    assert torch.equal(model.obj_classifier.classifier.weight, before)
    assert "class_embed.weight" in report.unused
    assert torch.equal(interaction_decoder.layers[2].cross_attn.in_proj_bias,
                       src["transformer.decoder.layers.2.multihead_attn.in_proj_bias"])
    assert torch.equal(interaction_decoder.norm.weight, src["transformer.decoder.norm.weight"])
    assert "extra0.layers.0.linear1.weight" in report.loaded
    assert "transformer.decoder.layers.2.linear1.weight" not in report.unused  # used by extra


def test_converted_two_branch_layout(tmp_path, linear_cfg, synthetic_space):
    src = _detr_like_state()
    conv = {}
    for k, v in src.items():
        if k.startswith("transformer.decoder."):
            conv[k.replace("decoder", "instance_decoder")] = v
            conv[k.replace("decoder", "interaction_decoder")] = v * 2
        elif k.startswith("bbox_embed."):
            conv["hum_bbox_embed" + k[len("bbox_embed"):]] = v
            conv["obj_bbox_embed" + k[len("bbox_embed"):]] = v * 3
        else:
            conv[k] = v
    rows = list(synthetic_space.object_ids) + [CLASSES]
    conv["obj_class_embed.weight"] = src["class_embed.weight"][rows] * 5
    conv["obj_class_embed.bias"] = src["class_embed.bias"][rows] * 5
    path = tmp_path / "detr-r50-pre-2branch-hico.pth"
    torch.save({"model": conv}, path)
    model = build_detector(linear_cfg, synthetic_space.num_objects)
    inter = TransformerDecoder(2, HIDDEN, 2, FFN)
    report = load_detr_checkpoint(model, path, synthetic_space.object_ids, [inter])
    assert torch.equal(model.o_box_head.layers[0].weight, src["bbox_embed.layers.0.weight"] * 3)
    assert torch.equal(inter.layers[0].linear1.weight,
                       src["transformer.decoder.layers.0.linear1.weight"] * 2)
    assert torch.equal(model.obj_classifier.classifier.weight,
                       src["class_embed.weight"][rows] * 5)
    assert "class_embed.weight" in report.unused


def test_shape_mismatch_names_key_and_both_shapes(detr_file, linear_cfg):
    path, _ = detr_file
    model = build_detector(replace(linear_cfg, {"hidden_dim": 16}), 5)
    with pytest.raises(CheckpointError, match=r"input_proj.weight has shape \(32, 512, 1, 1\)"
                                              r".*needs \(16, 512, 1, 1\)"):
        load_detr_checkpoint(model, path)
    model = build_detector(linear_cfg, 5)
    with pytest.raises(CheckpointError, match="class_embed.weight.*object_ids"):
        load_detr_checkpoint(model, path)  # a linear head needs object_ids for DETR's rows


def test_bad_files_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="nope.pth: checkpoint file not found"):
        read_state_dict(tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pth: cannot read"):
        read_state_dict(bad)
    odd = tmp_path / "odd.pth"
    torch.save({"model": [1, 2]}, odd)
    with pytest.raises(CheckpointError, match="odd.pth: expected a state dict"):
        read_state_dict(odd)


def test_object_without_detr_row_is_left_at_init_and_noted(detr_file, linear_cfg):
    path, src = detr_file
    model = build_detector(linear_cfg, 3)
    before = model.obj_classifier.classifier.weight[1].clone()
    report = load_detr_checkpoint(model, path, object_ids=(1, 200, 5))
    weight = model.obj_classifier.classifier.weight
    assert torch.equal(weight[1], before) and torch.equal(weight[2], src["class_embed.weight"][5])
    assert torch.equal(weight[3], src["class_embed.weight"][CLASSES])
    assert any("id 200" in note for note in report.notes)
