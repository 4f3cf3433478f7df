"""CLIP-Adapter on EZ-HOI (``model.adapter.where: [pair, text]``): shapes, alpha = 0 is the
plain model, gradients reach the adapters and nothing frozen, the frozen towers stay
bit-identical, bad places are rejected, and the adapter recipe trains through the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from ez_helpers import batch, targets, tiny_config

from openhoi.cli import main
from openhoi.config import ClipAdapterConfig, load_config
from openhoi.data.synthetic import generate_synthetic
from openhoi.engine.optim import param_groups
from openhoi.errors import ConfigError
from openhoi.label_space import load_label_space
from openhoi.models.build import build_model as build_any
from openhoi.models.build import load_model
from openhoi.models.clip.adapter import ClipAdapter
from openhoi.models.ez_hoi.build import build_criterion, build_model


@pytest.fixture(scope="module")
def space():
    return load_label_space("synthetic")


def _model(ez_files, space, where=("pair", "text"), alpha=0.2, **kw):
    torch.manual_seed(0)
    adapter = ClipAdapterConfig(where=where, alpha=alpha)
    return build_model(tiny_config(*ez_files, adapter=adapter, **kw), space)


def test_adapters_sit_on_pair_and_text_features(ez_files, space):
    m = _model(ez_files, space).eval()
    assert set(m.adapters) == {"pair", "text"}
    e = m.clip.embed_dim
    for a in m.adapters.values():
        assert isinstance(a, ClipAdapter) and a.alpha == 0.2
        assert a.fc[0].weight.shape == (e // 4, e) and a.fc[2].weight.shape == (e, e // 4)
        assert all(mod.bias is None for mod in (a.fc[0], a.fc[2]))
    calls: dict[str, list] = {"pair": [], "text": []}
    for name, a in m.adapters.items():
        a.register_forward_hook(lambda mod, i, o, name=name: calls[name].append(o.shape))
    with torch.no_grad():
        raw = m(batch())
    assert raw.verb_logits.shape == (2, 6, space.num_verbs)
    assert calls["text"] == [(len(m.class_index), e)]  # [C, E]: the prompted classes
    assert calls["pair"] == [(6, e)]  # image a's 6 pairs (image b has none: no call)
    # the semantic loss sees the adapted text features, the ones the pairs are scored against
    assert torch.equal(raw.extras["text_features"], m.adapters["text"](m.text_features()))


def _same_weights(plain, adapted):
    missing, unexpected = adapted.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("adapters.") for k in missing)


def test_alpha_zero_is_the_plain_model(ez_files, space):
    plain = _model(ez_files, space, where=()).eval()
    assert plain.adapters is None
    zero = _model(ez_files, space, alpha=0.0).eval()
    _same_weights(plain, zero)
    with torch.no_grad():
        a, b = plain(batch()), zero(batch())
    assert torch.equal(a.verb_logits, b.verb_logits)
    assert torch.equal(a.interaction_logits, b.interaction_logits)
    # ... and the test can fail: any alpha > 0 changes the scores
    some = _model(ez_files, space, alpha=0.5).eval()
    _same_weights(plain, some)
    with torch.no_grad():
        assert not torch.allclose(some(batch()).verb_logits, a.verb_logits)


@pytest.mark.parametrize("where", [("pair",), ("text",)])
def test_each_place_alone_changes_the_scores(ez_files, space, where):
    plain = _model(ez_files, space, where=()).eval()
    m = _model(ez_files, space, where=where, alpha=0.5).eval()
    _same_weights(plain, m)
    assert set(m.adapters) == set(where)
    with torch.no_grad():
        assert not torch.allclose(m(batch()).verb_logits, plain(batch()).verb_logits)


def test_adapters_train_and_frozen_parts_stay_bit_identical(ez_files, space):
    m = _model(ez_files, space, zero_shot="rf_uc").train()
    frozen = {k: v.clone() for k, v in m.clip.state_dict().items()}
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert {n for n in trainable if n.startswith("adapters.")} == {
        f"adapters.{w}.fc.{i}.weight" for w in ("pair", "text") for i in (0, 2)}
    assert not any(n.startswith("clip.") for n in trainable)
    # the engine puts the adapters in the `rest` group (train.lr), with the prompts
    groups = param_groups(m, {"rest": 1e-2, "backbone": 0.0, "clip": 0.0})
    rest = next(g for g in groups if g["name"] == "rest")
    ids = {id(p) for p in rest["params"]}
    assert all(id(p) in ids for p in m.adapters.parameters())
    assert not any(id(p) in ids for p in m.clip.parameters())

    start = {n: p.detach().clone() for n, p in m.adapters.named_parameters()}
    crit = build_criterion(tiny_config(*ez_files), space,
                           torch.tensor(space.seen_interactions("rf_uc")))
    opt = torch.optim.AdamW(groups, lr=1e-2)
    for _ in range(2):
        terms = crit(m(batch()), targets(space.num_verbs, obj=3), 1.0)
        opt.zero_grad()
        sum(terms.values()).backward()
        assert all(p.grad is None for n, p in m.named_parameters() if not p.requires_grad)
        got = {n for n, p in m.adapters.named_parameters()
               if p.grad is not None and p.grad.abs().sum() > 0}
        assert got == set(start)  # both places, both layers
        opt.step()
    assert all(torch.equal(v, m.clip.state_dict()[k]) for k, v in frozen.items())
    assert all(not torch.equal(p, start[n]) for n, p in m.adapters.named_parameters())


def test_other_families_places_are_rejected(ez_files):
    with pytest.raises(ConfigError, match="EZ-HOI adapts 'pair'"):
        tiny_config(*ez_files, adapter=ClipAdapterConfig(where=("interaction",)))
    with pytest.raises(ConfigError, match="EZ-HOI adapts 'pair'"):
        tiny_config(*ez_files, adapter=ClipAdapterConfig(where=("image",)))


def test_adapter_recipe_builds(space):
    cfg = load_config("synthetic_ez_hoi_adapter")
    assert cfg.model.adapter.where == ("pair", "text") and cfg.model.adapter.alpha == 0.2
    torch.manual_seed(0)
    m = build_any(cfg.model, space)
    assert set(m.adapters) == {"pair", "text"}


def test_adapter_recipe_trains_through_the_cli(tmp_path):
    data = tmp_path / "data"
    generate_synthetic(data, 8, seed=0)
    run = tmp_path / "run"
    assert main(["train", "--config", "synthetic_ez_hoi_adapter", "--set", f"data.root={data}",
                 "--device", "cpu", "--no-progress", "--set", "train.epochs=1",
                 "--output", str(run)]) == 0
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert {"mAP", "mAP_unseen", "mAP_seen"} <= set(metrics)
    # the checkpoint carries the adapters and rebuilds them from its own config
    loaded = load_model(run / "checkpoints" / "last.pt")
    assert set(loaded.model.adapters) == {"pair", "text"}
    assert loaded.model.adapters["pair"].alpha == 0.2
