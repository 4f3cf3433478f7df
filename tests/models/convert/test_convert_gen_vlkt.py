"""GEN-VLKT checkpoints shaped like the YueLiao/gen-vlkt releases -> openhoi."""

import pytest
import torch
from reference_layouts import (
    DEC,
    QUERIES,
    gen_vlkt_layout,
    random_state,
    release,
    tiny_clip_state,
)

from openhoi.errors import CheckpointError
from openhoi.label_space import load_label_space
from openhoi.models.convert import convert_checkpoint

ARGS = dict(dataset_file="hico", nheads=4, clip_model="ViT-B/32", zero_shot_type="default",
            ft_clip_with_small_lr=True, with_mimic=True, mimic_loss_coef=20.0)


@pytest.fixture(scope="module")
def hico():
    return load_label_space("hicodet")


@pytest.fixture(scope="module")
def files(tmp_path_factory, hico):
    tmp = tmp_path_factory.mktemp("gen_vlkt")
    state = random_state(gen_vlkt_layout(hico.num_interactions, hico.num_objects + 1), seed=3)
    path = tmp / "gen_vlkt_hico.pth"
    torch.save(release(state, **ARGS), path)
    clip_file = tmp / "clip.pt"
    clip = tiny_clip_state()
    torch.save(clip, clip_file)
    return path, state, clip_file, clip


@pytest.fixture(scope="module")
def converted(files):
    path, _, clip_file, _ = files
    return convert_checkpoint(path, "gen-vlkt", clip_weights=clip_file)


def test_settings(converted):
    m = converted.config.model
    assert m.architecture == "gen_vlkt" and m.clip.arch == "openhoi-tiny"
    assert (m.detector.num_decoder_layers, m.detector.num_queries) == (DEC, QUERIES)
    assert m.detector.num_heads == 4  # args.nheads
    assert m.interaction.classifier_bias  # nn.Linear visual_projection
    assert m.interaction.mimic_loss_coef == 20.0  # args.with_mimic
    assert not m.freeze_text_classifiers  # hicodet_gen_vlkt recipe (fine-tuned classifiers)
    assert m.interaction.zero_shot_topk == 0


def test_tensors_land_in_their_modules(converted, files):
    _, ref, _, clip = files
    model = converted.model
    layer = model.head.decoder.layers[1]
    pairs = [
        ("transformer.interaction_decoder.layers.1.multihead_attn.in_proj_bias",
         layer.cross_attn.in_proj_bias),
        ("transformer.interaction_decoder.layers.1.self_attn.in_proj_weight",
         layer.self_attn.in_proj_weight),
        ("transformer.interaction_decoder.layers.1.norm3.weight", layer.norm3.weight),
        ("transformer.interaction_decoder.norm.bias", model.head.decoder.norm.bias),
        ("hoi_class_fc.0.weight", model.head.embed[0].weight),
        ("hoi_class_fc.1.bias", model.head.embed[1].bias),
        ("visual_projection.weight", model.head.classifier.weight),
        ("visual_projection.bias", model.head.classifier.bias),
        ("logit_scale", model.head.logit_scale),
        ("obj_visual_projection.bias", model.detector.obj_classifier.classifier.bias),
    ]
    for key, ours in pairs:
        assert torch.equal(ref[key], ours.detach()), key
    # CLIP comes from the CLIP file, not from the checkpoint
    assert torch.equal(model.clip.model.visual.proj.detach(), clip["visual.proj"])
    report = converted.report
    assert set(report.loaded.values()) | set(report.ignored) == set(ref)
    assert "zero_shot.text_embed" in report.derived
    assert "clip.model.visual.proj" in report.derived
    assert set(report.loaded) | set(report.derived) == set(model.state_dict())


def test_needs_clip_weights(files):
    path = files[0]
    with pytest.raises(CheckpointError, match="--clip-weights") as err:
        convert_checkpoint(path, "gen-vlkt")
    assert str(path) in str(err.value)


def test_zero_shot_split_from_frozen_rows(tmp_path, hico, files):
    """GEN-VLKT zero-shot models: eval_visual_projection (with bias) over all 600; the split
    is the one whose seen rows equal the frozen training classifier (--fix_clip)."""
    seen = list(hico.seen_interactions("nf_uc"))
    state = random_state(gen_vlkt_layout(hico.num_interactions, hico.num_objects + 1,
                                         seen=len(seen)), seed=4)
    state["visual_projection.weight"] = state["eval_visual_projection.weight"][seen].clone()
    state["backbone.0.body.bn1.num_batches_tracked"] = torch.tensor(0)  # a non-frozen-BN save
    path = tmp_path / "gen_vlkt_nf_uc.pth"
    torch.save(release(state), path)
    conv = convert_checkpoint(path, "gen-vlkt", clip_weights=files[2])
    assert conv.config.data.zero_shot == "nf_uc"
    assert torch.equal(conv.model.head.classifier.bias, state["eval_visual_projection.bias"])
    assert "visual_projection.bias" in conv.report.ignored
    assert "backbone.0.body.bn1.num_batches_tracked" in conv.report.ignored
