"""HOICLIP checkpoints (HICO-DET, V-COCO, zero-shot) shaped like the releases -> openhoi."""

import pytest
import torch
from reference_layouts import (
    DEC,
    FFN,
    INTER_FFN,
    QUERIES,
    D,
    hoiclip_layout,
    hoiclip_verb2hoi,
    random_state,
    release,
)

from openhoi.label_space import load_label_space
from openhoi.models.convert import convert_checkpoint

HICO_ARGS = dict(dataset_file="hico", nheads=2, dropout=0.0, verb_weight=0.5, fix_clip=True,
                 clip_model="ViT-B/32", zero_shot_type="default", use_nms_filter=True,
                 thres_nms=0.7, nms_alpha=1.0, nms_beta=0.5, with_mimic=False)


@pytest.fixture(scope="module")
def hico():
    return load_label_space("hicodet")


@pytest.fixture(scope="module")
def vcoco():
    return load_label_space("vcoco")


def _hoiclip_file(tmp, space, seed=0, seen=None, args=None, edit=None):
    hico_layout = not space.objectless_interactions
    extra_rows = 1 if hico_layout else 2  # V-COCO: + "missing object"
    shapes = hoiclip_layout(space.num_interactions, space.num_objects + extra_rows,
                            space.num_verbs, seen=None if seen is None else len(seen),
                            hico=hico_layout)
    state = random_state(shapes, seed)
    v2i = hoiclip_verb2hoi(space)
    state["verb2hoi_proj"] = v2i if seen is None else v2i[:, list(seen)]
    if hico_layout:
        state["verb2hoi_proj_eval"] = v2i
    if edit is not None:
        edit(state)
    path = tmp / f"hoiclip_{space.name}_{seed}.pth"
    torch.save(release(state, **(args or {})), path)
    return path, state


@pytest.fixture(scope="module")
def hico_converted(tmp_path_factory, hico):
    path, state = _hoiclip_file(tmp_path_factory.mktemp("hoiclip"), hico, args=HICO_ARGS)
    return convert_checkpoint(path, "hoiclip"), state


def test_settings_come_from_shapes_and_args(hico_converted):
    conv, _ = hico_converted
    m, inferred = conv.config.model, conv.report.inferred
    assert conv.label_space.name == "hicodet" and conv.config.data.dataset == "hicodet"
    assert (m.architecture, m.detector.backbone) == ("hoiclip", "resnet18")
    assert m.detector.hidden_dim == D
    assert (m.detector.dim_feedforward, m.detector.num_encoder_layers) == (FFN, 1)
    assert (m.detector.num_decoder_layers, m.detector.num_queries) == (DEC, QUERIES)
    assert (m.interaction.num_layers, m.interaction.dim_feedforward) == (DEC, INTER_FFN)
    assert m.clip.arch == "openhoi-tiny" and m.clip.weights is None
    assert m.interaction.shared_cross_attention and not m.interaction.mask_detector_padding
    assert m.interaction.classifier_bias and m.detector.obj_head_bias
    assert m.detector.num_heads == 2 and m.interaction.num_heads == 2  # args.nheads
    assert inferred["model.detector.num_heads"][1] == "args.nheads"
    assert inferred["model.detector.hidden_dim"][1] == "shape of input_proj.weight"
    assert conv.config.data.zero_shot is None
    # args.clip_model names ViT-B/32, which these (tiny) CLIP shapes do not fit
    assert any("does not fit the CLIP shapes" in n for n in conv.report.notes)


def test_tensors_land_in_their_modules(hico_converted):
    conv, ref = hico_converted
    model = conv.model
    layer = model.head.decoder.layers[1]
    fusion = "transformer.clip_interaction_decoder.layers.1"
    pairs = [
        (f"{fusion}.multihead_attn.in_proj_weight", layer.clip_attn.in_proj_weight),
        (f"{fusion}.self_attn.out_proj.bias", layer.self_attn.out_proj.bias),
        (f"{fusion}.norm1.weight", layer.norm_self.weight),
        (f"{fusion}.norm2.bias", layer.norm_clip.bias),
        (f"{fusion}.norm3.weight", layer.norm_ffn.weight),
        (f"{fusion}.linear2.weight", layer.linear2.weight),
        ("transformer.clip_interaction_decoder.norm.bias", model.head.decoder.norm.bias),
        ("transformer.queries2spacial_proj.weight", model.head.query_builder.proj.weight),
        ("transformer.queries2spacial_proj_norm.bias", model.head.query_builder.norm.bias),
        # two different "obj_class_fc": V_d' projection in GEN, object head at the top
        ("transformer.obj_class_fc.weight", model.head.memory_proj.proj.weight),
        ("transformer.obj_class_ln.weight", model.head.memory_proj.norm.weight),
        ("obj_class_fc.0.weight", model.detector.obj_classifier.proj.weight),
        ("obj_class_fc.1.bias", model.detector.obj_classifier.norm.bias),
        ("obj_visual_projection.weight", model.detector.obj_classifier.classifier.weight),
        ("obj_logit_scale", model.detector.obj_classifier.logit_scale),
        ("logit_scale", model.head.logit_scale),
        ("visual_projection.weight", model.head.classifier.weight),
        ("visual_projection.bias", model.head.classifier.bias),
        ("inter2verb.layers.2.weight", model.head.verb_adapter.mlp.layers[2].weight),
        ("verb_projection.weight", model.head.verb_adapter.verb_classifier.weight),
        ("verb2hoi_proj_eval", model.head.verb_adapter.verb_to_interaction),
        ("transformer.instance_decoder.layers.0.multihead_attn.out_proj.weight",
         model.detector.instance_decoder.decoder.layers[0].cross_attn.out_proj.weight),
        ("transformer.instance_decoder.norm.weight",
         model.detector.instance_decoder.decoder.norm.weight),
        ("transformer.encoder.layers.0.linear1.bias",
         model.detector.encoder.layers[0].linear1.bias),
        ("query_embed_h.weight", model.detector.instance_decoder.query_h.weight),
        ("query_embed_o.weight", model.detector.instance_decoder.query_o.weight),
        ("pos_guided_embedd.weight", model.detector.instance_decoder.pos_guided.weight),
        ("hum_bbox_embed.layers.2.bias", model.detector.h_box_head.layers[2].bias),
        ("obj_bbox_embed.layers.0.weight", model.detector.o_box_head.layers[0].weight),
        ("input_proj.weight", model.detector.input_proj.weight),
        ("backbone.0.body.layer4.1.bn2.running_var",
         model.detector.backbone.body.layer4[1].bn2.running_var),
        ("clip_model.visual.proj", model.clip.model.visual.proj),
        ("clip_model.transformer.resblocks.0.attn.in_proj_weight",
         model.clip.model.transformer.resblocks[0].attn.in_proj_weight),
    ]
    for key, ours in pairs:
        assert torch.equal(ref[key], ours.detach()), key


def test_every_tensor_is_accounted_for(hico_converted):
    conv, ref = hico_converted
    report = conv.report
    assert set(report.loaded.values()) | set(report.ignored) == set(ref)
    assert set(report.loaded) | set(report.derived) == set(conv.model.state_dict())
    assert set(report.derived) == {"zero_shot.text_embed"}
    ignored = set(report.ignored)
    assert {"hoi_class_fc.0.weight", "transformer.inter_guided_embedd.weight",
            "transformer.clip_interaction_decoder.layers.0.norm4.weight",
            "transformer.interaction_decoder.layers.1.multihead_attn.in_proj_weight",
            "verb2hoi_proj"} <= ignored
    # HICO-DET's matrix is the label space's: no note about it
    assert not any("verb2hoi" in n for n in report.notes)


def test_zero_shot_text_is_clips_text_tower(hico_converted, hico):
    from openhoi.models.clip.text_classifier import interaction_prompts, text_embeddings

    conv, _ = hico_converted
    expected = text_embeddings(conv.model.clip, interaction_prompts(hico, "a photo of {}"))
    torch.testing.assert_close(conv.model.zero_shot.text_embed, expected)
    assert conv.model.zero_shot.text_embed.norm(dim=-1).sub(1).abs().max() < 1e-5


def test_converted_model_runs(hico_converted, make_batch, hico):
    conv, _ = hico_converted
    with torch.no_grad():
        out = conv.model(make_batch([(64, 80), (48, 64)]))
    assert out.interaction_logits.shape == (2, QUERIES, hico.num_interactions)
    assert out.obj_logits.shape == (2, QUERIES, hico.num_objects + 1)
    assert out.verb_logits.shape == (2, QUERIES, hico.num_verbs)
    assert len(out.aux) == DEC - 1 and torch.isfinite(out.interaction_logits).all()


def test_vcoco_rows_and_verb_matrix(tmp_path, vcoco):
    """82 object rows (80 + missing object + no-object) -> 81; the released verb2hoi matrix
    (object-indexed columns) kept by default, the label space's on request; recipe alpha."""
    path, ref = _hoiclip_file(tmp_path, vcoco)  # a bare state dict: no args at all
    conv = convert_checkpoint(path, "hoiclip")
    o = vcoco.num_objects
    weight = conv.model.detector.obj_classifier.classifier.weight
    bias = conv.model.detector.obj_classifier.classifier.bias
    assert weight.shape[0] == o + 1
    assert torch.equal(weight[:o], ref["obj_visual_projection.weight"][:o])
    assert torch.equal(weight[o], ref["obj_visual_projection.weight"][o])  # missing object
    assert torch.equal(bias[o], ref["obj_visual_projection.bias"][o])
    assert not any(torch.equal(row, ref["obj_visual_projection.weight"][o + 1]) for row in weight)
    v2i = conv.model.head.verb_adapter.verb_to_interaction
    assert torch.equal(v2i, ref["verb2hoi_proj"])
    assert not torch.equal(v2i, vcoco.verb_to_interaction)
    differ = int((ref["verb2hoi_proj"] != vcoco.verb_to_interaction).sum())
    assert any(f"in {differ} entries; kept" in n for n in conv.report.notes)
    assert conv.config.model.interaction.verb_weight == 0.1  # vcoco_hoiclip recipe
    assert conv.config.model.detector.num_heads == 8  # recipe default: no args in the file


def test_zero_shot_split_inferred_without_args(tmp_path, hico):
    """rf_uc has 120 unseen like nf_uc and uc0..uc4: the verbs of verb2hoi_proj's seen
    columns tell them apart; the classifier is the evaluation one (all 600, no bias)."""
    seen = hico.seen_interactions("rf_uc")
    path, ref = _hoiclip_file(tmp_path, hico, seen=seen)
    conv = convert_checkpoint(path, "hoiclip")
    assert conv.config.data.zero_shot == "rf_uc"
    assert not conv.config.model.interaction.classifier_bias
    assert torch.equal(conv.model.head.classifier.weight, ref["eval_visual_projection.weight"])
    assert conv.model.head.classifier.bias is None
    assert {"visual_projection.weight", "visual_projection.bias", "verb2hoi_proj"} <= set(
        conv.report.ignored)


def test_verb_to_interaction_option(tmp_path, vcoco):
    """``label_space`` puts the label space's matrix in place of the released one."""
    from openhoi.models.convert import hoiclip
    from openhoi.models.convert.mapping import TensorMap
    from openhoi.models.convert.reader import ReferenceCheckpoint
    from openhoi.models.convert.report import ConversionReport

    released = hoiclip_verb2hoi(vcoco)
    ckpt = ReferenceCheckpoint(tmp_path / "x.pth", {"verb2hoi_proj": released})
    for use, expected, word in (("checkpoint", released, "kept"),
                                ("label_space", vcoco.verb_to_interaction, "replaced")):
        out, report = TensorMap(), ConversionReport("hoiclip", ckpt.path)
        hoiclip._verb_to_interaction(ckpt, vcoco, out, report, use)
        theirs, value = out.tensors["head.verb_adapter.verb_to_interaction"]
        assert theirs == "verb2hoi_proj" and torch.equal(value, expected)
        assert any(word in n for n in report.notes)
