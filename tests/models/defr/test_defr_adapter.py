"""CLIP-Adapter on the DEFR family: placement, formula, what trains and what stays frozen."""

import pytest
import torch
import torch.nn.functional as F

from openhoi.config import load_config, replace
from openhoi.engine.optim import build_optimizer
from openhoi.errors import ConfigError
from openhoi.label_space import load_label_space
from openhoi.models.defr.build import build_defr
from openhoi.structures import ImageBatch, ImageLabels

SPACE = load_label_space("synthetic")


def _config(*overrides):
    return load_config("synthetic_defr_clip_adapter", list(overrides))


def _parts(*overrides, seed=0):
    cfg = _config(*overrides)
    torch.manual_seed(seed)
    return cfg, build_defr(cfg.model, SPACE)


def _batch(n=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ImageBatch(torch.randn(n, 3, size, size, generator=g),
                      torch.zeros(n, size, size, dtype=torch.bool),
                      torch.tensor([[size, size]] * n))


def _targets(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = torch.randint(0, 2, (n, SPACE.num_interactions), generator=g).float() * 2 - 1
    rows[:, 0] = 1.0  # every image has a positive
    return [ImageLabels(f"{i}.jpg", (32, 32), r) for i, r in enumerate(rows)]


def test_shapes_and_places():
    _, parts = _parts("model.adapter.where=[image,text]")
    model = parts.model
    assert set(model.adapters) == {"image", "text"}
    width = model.classifier.weight.shape[1]  # 32: openhoi-tiny's joint space
    for name in ("image", "text"):
        fc = model.adapters[name].fc
        assert fc[0].weight.shape == (width // 4, width) and fc[0].bias is None
        assert fc[2].weight.shape == (width, width // 4) and fc[2].bias is None
    assert model(_batch()).logits.shape == (4, SPACE.num_interactions)


def test_logits_follow_clip_adapter_normalising_after_the_mix():
    _, parts = _parts("model.adapter.where=[image,text]", "model.adapter.alpha=0.3")
    model = parts.model.eval()
    with torch.no_grad():
        # make the bottlenecks non-trivial (ReLU of random init can be mostly 0)
        for p in model.adapters.parameters():
            p.copy_(torch.rand_like(p) * 0.5)
        batch = _batch()
        f = model.backbone(batch.images)  # [B, E] CLIP image embedding
        w = model.classifier.weight  # [I, E] CLIP text embeddings
        a = 0.3

        def mlp(x, fc):
            return F.relu(F.relu(x @ fc[0].weight.T) @ fc[2].weight.T)

        f2 = a * mlp(f, model.adapters["image"].fc) + (1 - a) * f
        w2 = a * mlp(w, model.adapters["text"].fc) + (1 - a) * w
        want = model.classifier.logit_scale.exp() * F.normalize(f2, dim=-1) @ F.normalize(
            w2, dim=-1).T
        got = model(batch).logits
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, model.classifier(f), atol=1e-3)  # the adapter does act


def test_alpha_zero_is_the_plain_model_exactly():
    _, plain = _parts("model.adapter.where=[]")
    _, zero = _parts("model.adapter.where=[image,text]", "model.adapter.alpha=0.0")
    _, some = _parts("model.adapter.where=[image,text]", "model.adapter.alpha=0.2")
    zero.model.load_state_dict(plain.model.state_dict(), strict=False)
    some.model.load_state_dict(plain.model.state_dict(), strict=False)
    with torch.no_grad():
        for p in [*zero.model.adapters.parameters(), *some.model.adapters.parameters()]:
            p.copy_(torch.rand_like(p))
    batch = _batch()
    with torch.no_grad():
        ref = plain.model.eval()(batch).logits
        assert torch.equal(zero.model.eval()(batch).logits, ref)
        assert not torch.allclose(some.model.eval()(batch).logits, ref)


def test_only_the_adapter_trains_and_clip_stays_bit_identical():
    cfg, parts = _parts("model.adapter.where=[image,text]")
    model = parts.model
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("adapters.") for n in trainable)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("adapters.")}
    adapter0 = {k: v.clone() for k, v in model.adapters.state_dict().items()}
    optimizer = build_optimizer(model, cfg.train)
    assert {g["name"] for g in optimizer.param_groups} == {"rest"}
    model.train()
    assert not model.backbone.training  # frozen tower stays in eval mode
    for step in range(3):
        loss = parts.criterion(model(_batch(seed=step)), _targets(seed=step))["loss_softmax"]
        optimizer.zero_grad()
        loss.backward()
        for name, p in model.named_parameters():
            assert (p.grad is not None) == name.startswith("adapters."), name
        assert any(p.grad.abs().sum() > 0 for p in model.adapters.parameters())
        optimizer.step()
    after = model.state_dict()
    for k, v in frozen.items():
        assert torch.equal(after[k], v), k
    assert any(not torch.equal(v, model.adapters.state_dict()[k]) for k, v in adapter0.items())


def test_text_adapter_on_a_linear_classifier_maps_its_rows():
    _, parts = _parts("model.adapter.where=[text]", "model.classifier.kind=linear")
    model = parts.model.eval()
    head = model.classifier
    with torch.no_grad():
        for p in model.adapters.parameters():
            p.copy_(torch.rand_like(p))
        f = model.backbone(_batch().images)
        rows = model.adapters["text"](head.linear.weight)  # [I, E]
        want = F.linear(head.logit_scale.exp() * F.normalize(f, dim=-1), rows, head.linear.bias)
        assert torch.allclose(model(_batch()).logits, want, atol=1e-4)
        assert not torch.allclose(want, head(f), atol=1e-3)


def test_adapter_on_a_trained_defr_goes_before_the_neck():
    """Full DEFR (trainable tower, sentence-space classifier behind a neck): the image adapter
    sits on the tower's feature, its parameters train at train.lr."""
    cfg = load_config("synthetic_defr", ["model.backbone.image_size=32",
                                         "model.adapter.where=[image]"])
    model = build_defr(cfg.model, SPACE).model
    assert model.adapters["image"].fc[0].in_features == model.backbone.out_dim
    assert model.neck.in_features == model.backbone.out_dim
    assert model.parameter_group("adapters.image.fc.0.weight") == "rest"
    assert model(_batch(2)).logits.shape == (2, SPACE.num_interactions)


@pytest.mark.parametrize(("overrides", "message"), [
    (["model.adapter.where=[interaction]"], "detector places"),
    (["model.adapter.where=[text]", "model.classifier.init=random"], "init=language"),
    (["model.adapter.alpha=1.5"], "alpha"),
])
def test_adapter_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        _config(*overrides)


def test_recipe_defaults_are_the_papers_setting():
    cfg = load_config("hico_defr_clip_adapter")
    m = cfg.model
    assert (m.adapter.where, m.adapter.alpha, m.adapter.reduction) == (("image",), 0.2, 4)
    assert not m.backbone.trainable and not m.classifier.trainable
    assert m.backbone.keep_projection and m.classifier.init == "language"
    assert m.text.encoder == "clip" and m.loss.kind == "softmax" and m.score == "logit"
    assert cfg.data.shots == 16 and cfg.data.val_size > 0
    with torch.device("meta"):
        model = build_defr(m, load_label_space("hicodet"), pretrained=False).model
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["adapters.image.fc.0.weight", "adapters.image.fc.2.weight"]
    assert model.adapters["image"].fc[0].weight.shape == (128, 512)  # ViT-B/32: 512 / 4
    replace(cfg, {"model.adapter.alpha": 0.5})  # tunable through --set
