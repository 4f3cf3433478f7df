"""CLIP-Adapter: the module by hand, and in HOICLIP (shapes, gradients, frozen CLIP intact)."""

import pytest
import torch
from torch import nn

from openhoi.config import ClipAdapterConfig
from openhoi.errors import ConfigError
from openhoi.models.build import build_criterion, build_model
from openhoi.models.clip.adapter import ClipAdapter, build_adapters


def test_adapter_is_the_reference_bottleneck_mixed_by_alpha():
    adapter = ClipAdapter(16, alpha=0.2, reduction=4)
    linears = [m for m in adapter.fc if isinstance(m, nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(4, 16), (16, 4)]
    assert all(m.bias is None for m in linears)
    x = torch.randn(3, 5, 16)
    a = torch.relu(torch.relu(x @ linears[0].weight.T) @ linears[1].weight.T)
    torch.testing.assert_close(adapter(x), 0.2 * a + 0.8 * x)
    assert adapter(x).shape == x.shape
    torch.testing.assert_close(ClipAdapter(16, alpha=0.0)(x), x)


def test_build_adapters_rejects_a_place_the_model_lacks():
    cfg = ClipAdapterConfig(where=("image", "text"), alpha=0.5)
    adapters = build_adapters(cfg, {"image": 8, "text": 12})
    assert set(adapters) == {"image", "text"} and adapters["text"].fc[0].in_features == 12
    with pytest.raises(ConfigError, match="where"):
        build_adapters(cfg, {"image": 8})
    with pytest.raises(ConfigError, match="alpha"):
        ClipAdapterConfig(alpha=1.5)


def test_detector_config_rejects_recognition_places(tiny_cfg):
    with pytest.raises(ConfigError, match="recognition places"):
        tiny_cfg(adapter={"where": ["text"]})


@pytest.mark.parametrize("where", [("interaction",), ("global",), ("interaction", "global")])
def test_hoiclip_adapter_trains_alone_and_clip_stays_bit_identical(
        synthetic_space, tiny_cfg, make_batch, make_targets, where):
    torch.manual_seed(0)
    cfg = tiny_cfg(adapter={"where": list(where), "alpha": 0.3},
                   detector={"train_backbone": False}, interaction={"mimic_loss_coef": 1.0,
                                                                     "zero_shot_topk": 3})
    model = build_model(cfg, synthetic_space)
    names = {n for n, _ in model.named_parameters() if ".fc." in n}
    expected = {"interaction": "head.adapter.fc.", "global": "global_adapter.fc."}
    assert {n.rsplit("fc.", 1)[0] + "fc." for n in names} == {expected[w] for w in where}
    # Train only the adapters: everything else frozen, as CLIP-Adapter does with CLIP.
    for n, p in model.named_parameters():
        p.requires_grad_(n in names)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    criterion = build_criterion(cfg, synthetic_space)
    batch = make_batch([(64, 80)])
    targets = [make_targets(synthetic_space, [[2, 2, 30, 60], [35, 20, 70, 40]], [0, 1],
                            [[0, 1]], [[0]], (64, 80))]
    out = model(batch)
    assert out.extras["interaction_features"].shape[-1] == model.clip.embed_dim
    loss = sum(criterion(out, targets, 1.0).values())
    loss.backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum()}
    assert grads and grads <= names
    nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5).step()
    for n, p in model.named_parameters():
        if n in names:
            continue
        assert torch.equal(p, before[n]), n  # CLIP and the rest: bit-identical
    assert any(not torch.equal(model.get_parameter(n), before[n]) for n in names)
