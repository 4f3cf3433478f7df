import pytest
import torch
import torch.nn.functional as F

from openhoi.config import load_config
from openhoi.errors import ConfigError
from openhoi.label_space import load_label_space
from openhoi.models.defr.backbone import interpolate_grid_positions
from openhoi.models.defr.build import build_defr
from openhoi.models.defr.config import (
    DefrBackboneConfig,
    DefrClassifierConfig,
    DefrModelConfig,
    DefrTextConfig,
)
from openhoi.models.defr.model import DefrCriterion, DefrPostprocess
from openhoi.structures import ImageBatch, ImageLabels


def _batch(size, n=2):
    g = torch.Generator().manual_seed(0)
    return ImageBatch(torch.randn(n, 3, size, size, generator=g),
                      torch.zeros(n, size, size, dtype=torch.bool),
                      torch.tensor([[size, size]] * n))


def test_clip_language_init_is_text_through_visual_projection(tiny_clip_file):
    path, clip = tiny_clip_file
    space = load_label_space("synthetic")
    cfg = DefrModelConfig(backbone=DefrBackboneConfig(arch="openhoi-tiny", weights=str(path),
                                                      image_size=32),
                          text=DefrTextConfig(templates="photo"))
    parts = build_defr(cfg, space)
    import open_clip

    tok = open_clip.get_tokenizer("openhoi-tiny")
    with torch.no_grad():
        t = F.normalize(clip.encode_text(tok(space.prompts("a photo of {}"))), dim=-1)  # [I, E]
    proj = clip.visual.proj.detach()  # [W, E]
    w = parts.model.classifier.weight.detach()
    assert w.shape == (space.num_interactions, proj.shape[0])  # pre-projection width
    assert torch.allclose(w, (proj @ t.T).T, atol=1e-5)  # DEFR (clip_proj @ clip_w.t()).t()
    # the projection is gone from the image tower: features are [B, W] pre-projection ones,
    # and x . w_c equals the joint-space score (x @ proj) . t_c
    batch = _batch(32)
    with torch.no_grad():
        x = parts.model.features(batch.images)
        clip.eval()
        joint = clip.visual(batch.images)  # with the projection: [B, E]
    assert x.shape == (2, proj.shape[0])
    assert torch.allclose(x @ w.T, joint @ t.T, atol=1e-4)
    # cosine classifier with the fixed scale exp(4.61)
    logits = parts.model(batch).logits
    want = torch.exp(torch.tensor(4.61)) * F.normalize(x, dim=-1) @ F.normalize(w, dim=-1).T
    assert torch.allclose(logits, want, atol=1e-4)
    assert not parts.model.classifier.logit_scale.requires_grad


def test_vit_runs_at_larger_input_with_interpolated_positions(tiny_clip_file):
    path, clip = tiny_clip_file
    cfg = DefrModelConfig(backbone=DefrBackboneConfig(arch="openhoi-tiny", weights=str(path),
                                                      image_size=64),
                          classifier=DefrClassifierConfig(init="random"))
    parts = build_defr(cfg, load_label_space("synthetic"))
    pos = parts.model.backbone.visual.positional_embedding
    assert pos.shape[0] == 1 + (64 // 8) ** 2
    assert torch.equal(pos[0], clip.visual.positional_embedding[0])  # class position kept
    assert parts.model(_batch(64)).logits.shape == (2, 13)
    with pytest.raises(ConfigError, match="multiple of the patch size"):
        build_defr(DefrModelConfig(backbone=DefrBackboneConfig(arch="openhoi-tiny",
                                                               image_size=60)),
                   load_label_space("synthetic"))


def test_interpolation_keeps_a_smooth_grid():
    # a linear ramp stays a ramp under bicubic resizing (interior points)
    g = 4
    ramp = torch.arange(g, dtype=torch.float32).repeat(g, 1).reshape(g * g, 1)
    pos = torch.cat([torch.tensor([[7.0]]), ramp])
    out = interpolate_grid_positions(pos, (8, 8))
    grid = out[1:].reshape(8, 8)
    assert out[0, 0] == 7.0 and torch.allclose(grid[0], grid[5])
    assert (grid[0, 1:] - grid[0, :-1] >= -1e-5).all()


def test_sentence_init_rows_are_minilm_embeddings_with_a_neck():
    space = load_label_space("synthetic")
    cfg = DefrModelConfig(backbone=DefrBackboneConfig(kind="torchvision", arch="resnet18",
                                                      image_size=32),
                          text=DefrTextConfig(encoder="sentence", templates="phrase"))
    parts = build_defr(cfg, space)
    from openhoi.models.clip.text_encoders import SentenceTextEncoder, packaged_minilm_folder

    enc = SentenceTextEncoder.from_folder(packaged_minilm_folder())
    want = F.normalize(enc.encode(list(space.interaction_phrases)), dim=-1)
    assert torch.allclose(parts.model.classifier.weight, want, atol=1e-5)
    assert parts.model.neck.in_features == 512 and parts.model.neck.out_features == 384


def test_frozen_backbone_linear_probe_trains_only_the_classifier():
    cfg = DefrModelConfig(backbone=DefrBackboneConfig(kind="torchvision", arch="resnet18",
                                                      image_size=32, trainable=False),
                          classifier=DefrClassifierConfig(kind="linear", init="random"))
    model = build_defr(cfg, load_label_space("synthetic")).model
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names == ["classifier.linear.weight", "classifier.linear.bias"]
    model.train()
    assert not model.backbone.training
    assert model.parameter_group("backbone.body.conv1.weight") == "backbone"


def test_criterion_and_postprocess():
    raw = type("R", (), {})()
    raw.logits = torch.tensor([[3.0, -2.0, 0.0]])
    t = [ImageLabels("a.jpg", (10, 10), torch.tensor([1.0, -1.0, 0.0]))]
    lse = DefrCriterion("lse_sign", load_label_space("synthetic"))(raw, t)["loss_lse_sign"]
    # positive 3 -> e^-3, negative -2 -> e^(-2), ambiguous ignored
    assert torch.allclose(lse, torch.log(1 + torch.exp(torch.tensor(-3.0))
                                         + torch.exp(torch.tensor(-2.0))))
    preds = DefrPostprocess()(raw, torch.tensor([[10, 10]]), ["a.jpg"])
    assert preds[0].image_id == "a.jpg" and torch.allclose(preds[0].scores,
                                                           raw.logits[0].sigmoid())


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="model.text.clip_arch"):
        DefrModelConfig(backbone=DefrBackboneConfig(kind="torchvision", arch="resnet50"))
    with pytest.raises(ConfigError, match="model.classifier.kni"):
        load_config("synthetic_defr", ["model.classifier.kni=cosine"])


def test_postprocess_logit_scores_keep_the_ranking_sigmoid_loses():
    raw = type("R", (), {})()
    raw.logits = torch.tensor([[40.0, 30.0, -5.0]])  # DEFR-scale logits
    sig = DefrPostprocess()(raw, torch.tensor([[10, 10]]), ["a.jpg"])[0].scores
    assert sig[0] == sig[1] == 1.0  # float32 sigmoid ties them
    logit = DefrPostprocess("logit")(raw, torch.tensor([[10, 10]]), ["a.jpg"])[0].scores
    assert torch.equal(logit, raw.logits[0])
    with pytest.raises(ValueError, match="score"):
        DefrPostprocess("softmax")
    assert load_config("synthetic_defr", ["model.score=logit"]).model.score == "logit"
