import copy

import pytest
import torch
from torch.nn import functional as F

from openhoi.config import ConfigError
from openhoi.engine.optim import GROUPS, param_groups
from openhoi.models.build import build_model
from openhoi.models.detr.hoi_detector import HOIDetector
from openhoi.models.hoiclip.query_builder import MixQueryBuilder
from openhoi.structures import HOIRawOutput


def _build(space, cfg, seed=0, **kwargs) -> HOIDetector:
    torch.manual_seed(seed)
    return build_model(cfg, space, **kwargs).eval()


@pytest.fixture(scope="module")
def models(synthetic_space, tiny_cfg):
    """One tiny HOICLIP and one tiny GEN-VLKT (text classifiers trainable), built once."""
    hoiclip = _build(synthetic_space, tiny_cfg())
    gen = _build(synthetic_space, tiny_cfg(architecture="gen_vlkt",
                                           freeze_text_classifiers=False))
    return {"hoiclip": hoiclip, "gen_vlkt": gen}


def _assert_detector_outputs_equal(a: HOIRawOutput, b: HOIRawOutput) -> None:
    torch.testing.assert_close(a.obj_logits, b.obj_logits)
    torch.testing.assert_close(a.h_boxes_cxcywh, b.h_boxes_cxcywh)
    torch.testing.assert_close(a.o_boxes_cxcywh, b.o_boxes_cxcywh)


@pytest.mark.parametrize("arch", ["hoiclip", "gen_vlkt"])
def test_forward_shapes(synthetic_space, models, make_batch, arch):
    model = models[arch]
    batch = make_batch([(48, 64), (40, 48)])
    b, q = 2, 4
    o, i, v = (synthetic_space.num_objects, synthetic_space.num_interactions,
               synthetic_space.num_verbs)
    e = model.clip.embed_dim
    for train in (True, False):
        model.train(train)
        with torch.no_grad():
            out = model(batch)
        assert isinstance(out, HOIRawOutput)
        assert out.obj_logits.shape == (b, q, o + 1)
        assert out.h_boxes_cxcywh.shape == out.o_boxes_cxcywh.shape == (b, q, 4)
        assert out.interaction_logits.shape == (b, q, i)
        assert out.extras["clip_image_embed"].shape == (b, e)
        assert out.extras["zs_logits"].shape == (b, i)
        assert len(out.aux) == 1  # 2 decoder layers: one auxiliary output
        for layer in (out, *out.aux):
            assert layer.interaction_logits.shape == (b, q, i)
            assert layer.extras["interaction_features"].shape == (b, q, e)
        if arch == "hoiclip":
            assert out.verb_logits.shape == (b, q, v)
        else:
            assert out.verb_logits is None
    model.eval()


def test_variant_b_changes_only_the_query_builder(synthetic_space, models, tiny_cfg,
                                                  make_batch):
    mean = models["hoiclip"]
    mix = _build(synthetic_space, tiny_cfg(interaction={"query_builder": "mix"}),
                 clip=mean.clip)
    assert isinstance(mix.head.query_builder, MixQueryBuilder)
    result = mix.load_state_dict(mean.state_dict(), strict=False)
    assert set(result.missing_keys) == {"head.query_builder.mix"}
    assert not result.unexpected_keys
    batch = make_batch([(48, 48)])
    with torch.no_grad():
        ref = mean(batch)
        same = mix(batch)  # identity mix: variant (b) starts as eq. 4
        torch.testing.assert_close(same.interaction_logits, ref.interaction_logits,
                                   atol=1e-3, rtol=1e-3)
        mix.head.query_builder.mix.copy_(torch.tensor([[0.9, -0.3], [0.2, 1.4]]))
        moved = mix(batch)
    _assert_detector_outputs_equal(moved, ref)
    assert not torch.allclose(moved.interaction_logits, ref.interaction_logits, atol=1e-3)


def test_verb_representations_change_only_s_v(synthetic_space, models, make_batch):
    # variant (a) is another E_v file: only the verb branch may move
    a_model = models["hoiclip"]
    b_model = copy.deepcopy(a_model)
    with torch.no_grad():
        b_model.head.verb_adapter.verb_classifier.weight.copy_(
            F.normalize(torch.randn(synthetic_space.num_verbs, 32), dim=-1))
    batch = make_batch([(48, 48)])
    with torch.no_grad():
        a, b = a_model(batch), b_model(batch)
    _assert_detector_outputs_equal(a, b)
    assert not torch.allclose(a.verb_logits, b.verb_logits)
    assert not torch.allclose(a.interaction_logits, b.interaction_logits)
    v2i = synthetic_space.verb_to_interaction
    alpha = a_model.head.verb_weight
    s_inter_a = a.interaction_logits - alpha * a.verb_logits @ v2i  # S_t - alpha S_v (eq. 10)
    s_inter_b = b.interaction_logits - alpha * b.verb_logits @ v2i
    torch.testing.assert_close(s_inter_a, s_inter_b, atol=1e-4, rtol=1e-4)


def test_baseline_shares_the_detector_and_ignores_clip_tokens(models, make_batch):
    hoiclip, gen = copy.deepcopy(models["hoiclip"]), copy.deepcopy(models["gen_vlkt"])
    shared = {k: v for k, v in hoiclip.state_dict().items() if not k.startswith("head.")}
    result = gen.load_state_dict(shared, strict=False)
    assert all(k.startswith("head.") for k in result.missing_keys)
    assert not result.unexpected_keys
    assert not any(".clip_attn." in k for k in gen.state_dict())
    batch = make_batch([(48, 48)])
    with torch.no_grad():
        a, b = hoiclip(batch), gen(batch)
        _assert_detector_outputs_equal(a, b)
        # perturb CLIP's image tower: HOICLIP's interaction logits move, GEN-VLKT's do not
        for p in hoiclip.clip.model.visual.transformer.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        gen.clip.load_state_dict(hoiclip.clip.state_dict())
        a2, b2 = hoiclip(batch), gen(batch)
    assert not torch.allclose(a.interaction_logits, a2.interaction_logits, atol=1e-4)
    torch.testing.assert_close(b.interaction_logits, b2.interaction_logits)
    assert not torch.allclose(b.extras["clip_image_embed"], b2.extras["clip_image_embed"])


def test_parameter_groups(models):
    model = models["hoiclip"]
    names = {id(p): n for n, p in model.named_parameters()}
    groups = {g["name"]: g["params"] for g in param_groups(model, dict.fromkeys(GROUPS, 1.0))}
    assert groups["backbone"]  # ResNet stages 2-4 train
    assert all(names[id(p)].startswith("detector.backbone.") for p in groups["backbone"])
    assert "clip" not in groups  # frozen CLIP and frozen text classifiers
    assert model.parameter_group("head.classifier.weight") == "clip"
    assert model.parameter_group("clip.model.visual.proj") == "clip"
    assert model.parameter_group("head.decoder.norm.weight") == "rest"
    assert model.parameter_group("head.verb_adapter.verb_classifier.weight") == "rest"
    gen = models["gen_vlkt"]
    clip_side = {n for n, p in gen.named_parameters()
                 if gen.parameter_group(n) == "clip" and p.requires_grad}
    assert clip_side == {"head.classifier.weight", "detector.obj_classifier.classifier.weight",
                         "detector.obj_classifier.classifier.bias"}


def test_frozen_text_classifier_starts_as_normalised_text(synthetic_space, models, tiny_cfg):
    text = torch.randn(synthetic_space.num_interactions, 32) * 3
    model = _build(synthetic_space, tiny_cfg(), clip=models["hoiclip"].clip,
                   interaction_text=text)
    w = model.head.classifier.weight
    torch.testing.assert_close(w, text / text.norm(dim=-1, keepdim=True))
    assert not w.requires_grad and model.head.classifier.bias is None
    torch.testing.assert_close(model.zero_shot.text_embed, w)


def test_file_verb_repr_is_required(synthetic_space, models, tiny_cfg):
    cfg = tiny_cfg(interaction={"verb_repr_init": "file"})
    clip = models["hoiclip"].clip
    with pytest.raises(ConfigError, match="verb_repr"):
        build_model(cfg, synthetic_space, clip=clip)
    with pytest.raises(ConfigError, match=r"expected \[8, 32\]"):
        build_model(cfg, synthetic_space, clip=clip, verb_repr=torch.zeros(3, 32))


def test_layer_count_must_pair_with_instance_decoder(tiny_cfg):
    with pytest.raises(ConfigError, match="interaction.num_layers 3 must be 1 or equal"):
        tiny_cfg(interaction={"num_layers": 3})
    assert tiny_cfg(interaction={"num_layers": 1}).interaction.num_layers == 1


def test_verb_repr_file_rule_is_checked(synthetic_space, models, tiny_cfg, tmp_path):
    from openhoi.errors import CheckpointError
    from openhoi.models.hoiclip.verb_repr import save_verb_representations

    v = synthetic_space.num_verbs
    emb = torch.randn(v, 32) * 4
    path = tmp_path / "verbs.safetensors"
    save_verb_representations(path, emb, torch.ones(v, dtype=torch.long),
                              {"rule": "variant_a", "arch": "openhoi-tiny",
                               "label_space": synthetic_space.fingerprint})
    clip = models["hoiclip"].clip
    with pytest.raises(CheckpointError, match=f"{path.name}.*'rule' is 'variant_a'"):
        build_model(tiny_cfg(interaction={"verb_repr_init": "file"}), synthetic_space,
                           clip=clip, verb_repr=path)
    model = build_model(
        tiny_cfg(interaction={"verb_repr_init": "file", "verb_repr": "variant_a"}),
        synthetic_space, clip=clip, verb_repr=path)
    torch.testing.assert_close(model.head.verb_adapter.verb_classifier.weight,
                               F.normalize(emb, dim=-1))


def test_detr_weights_reach_gen_vlkt_interaction_decoder(synthetic_space, models, tiny_cfg,
                                                         tmp_path):
    # GEN-VLKT's 2-branch DETR file initialises the instance and interaction decoders alike
    g = torch.Generator().manual_seed(0)
    state = {}
    for i in range(2):
        layer = torch.nn.TransformerDecoderLayer(32, 2, 64)
        for k, v in layer.state_dict().items():
            state[f"transformer.decoder.layers.{i}.{k}"] = torch.rand(v.shape, generator=g)
    path = tmp_path / "detr.pth"
    torch.save({"model": state}, path)
    model = build_model(tiny_cfg(architecture="gen_vlkt"), synthetic_space,
                               clip=models["hoiclip"].clip, detr_weights=path)
    want = state["transformer.decoder.layers.1.self_attn.in_proj_weight"]
    torch.testing.assert_close(model.head.decoder.layers[1].self_attn.in_proj_weight, want)
    torch.testing.assert_close(
        model.detector.instance_decoder.decoder.layers[1].self_attn.in_proj_weight, want)
