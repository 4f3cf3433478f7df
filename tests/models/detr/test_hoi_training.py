"""The composed model with its criterion and post-processor: losses, no-pair images, training."""

import pytest
import torch

from openhoi.models.build import (
    build_criterion,
    build_model,
    build_postprocess,
)
from openhoi.models.clip.feature_mimic import feature_mimic_loss
from openhoi.models.clip.zero_shot import ZeroShotEnhancement
from openhoi.structures import HOIRawOutput, HOITargets


def _targets(size, pairs: bool) -> HOITargets:
    h, w = size
    if not pairs:
        return HOITargets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long),
                          torch.zeros(0, 2, dtype=torch.long), torch.zeros(0, 8), "empty.jpg",
                          size, size)
    verbs = torch.zeros(1, 8)
    verbs[0, 0] = 1.0  # hold (sports ball): interaction 0 of the synthetic label space
    return HOITargets(torch.tensor([[2.0, 2.0, w / 2, h - 2], [w / 2, h / 3, w - 2, h / 2]]),
                      torch.tensor([0, 1]), torch.tensor([[0, 1]]), verbs, "pair.jpg", size,
                      size)


def test_feature_mimic_loss_by_hand():
    features = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # [1, 2, 2]: mean over queries [2, 3]
    out = HOIRawOutput(torch.zeros(1, 2, 2), torch.zeros(1, 2, 4), torch.zeros(1, 2, 4),
                       torch.zeros(1, 2, 3), extras={"interaction_features": features,
                                                     "clip_image_embed": torch.ones(1, 2)})
    loss = feature_mimic_loss(out, [], [], 1.0)
    assert loss.item() == pytest.approx((1 + 2) / 2)


def test_zero_shot_term_in_postprocessor(synthetic_space, tiny_cfg):
    cfg = tiny_cfg(interaction={"zero_shot_topk": 1})
    plain = build_postprocess(tiny_cfg(interaction={"zero_shot_topk": 0}), synthetic_space)
    enhanced = build_postprocess(cfg, synthetic_space)
    assert any(isinstance(t, ZeroShotEnhancement) for t in enhanced.score_terms)
    assert plain.score_terms == []
    i = synthetic_space.num_interactions
    zs = torch.zeros(1, i)
    zs[0, 5] = 2.0
    out = HOIRawOutput(torch.randn(1, 3, synthetic_space.num_objects + 1),
                       torch.rand(1, 3, 4), torch.rand(1, 3, 4), torch.randn(1, 3, i),
                       extras={"zs_logits": zs})
    diff = enhanced.triplet_scores(out) - plain.triplet_scores(out)  # [1, 3, I]
    expected = torch.full((i,), 0.5)
    expected[5] = torch.sigmoid(torch.tensor(2.0))
    torch.testing.assert_close(diff, expected.expand(1, 3, i))


@pytest.mark.parametrize("arch", ["hoiclip", "gen_vlkt"])
def test_images_without_pairs_through_model_and_criterion(synthetic_space, tiny_cfg,
                                                          make_batch, arch):
    cfg = tiny_cfg(architecture=arch, detector={"train_backbone": False},
                   interaction={"mimic_loss_coef": 1.0})
    torch.manual_seed(0)
    model = build_model(cfg, synthetic_space)
    criterion = build_criterion(cfg, synthetic_space)
    sizes = [(32, 32), (32, 24)]
    batch = make_batch(sizes)
    for targets in ([_targets(sizes[0], False), _targets(sizes[1], False)],
                    [_targets(sizes[0], True), _targets(sizes[1], False)]):
        losses = criterion(model(batch), targets, num_pairs=max(1, sum(t.num_pairs
                                                                       for t in targets)))
        assert "loss_feat_mimic" in losses and "loss_feat_mimic_0" in losses
        total = sum(losses.values())
        assert torch.isfinite(total)
        model.zero_grad()
        total.backward()
        grads = [p.grad for p in model.head.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
    predictions = build_postprocess(cfg, synthetic_space)(
        model(batch), torch.tensor(sizes), ["a.jpg", "b.jpg"])
    assert len(predictions) == 2


def test_loss_decreases_on_a_fixed_batch(synthetic_space, tiny_cfg, make_batch):
    cfg = tiny_cfg(detector={"train_backbone": False})
    torch.manual_seed(0)
    model = build_model(cfg, synthetic_space).train()
    criterion = build_criterion(cfg, synthetic_space)
    sizes = [(32, 32), (32, 24)]
    batch = make_batch(sizes)
    targets = [_targets(sizes[0], True), _targets(sizes[1], True)]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=5e-4)
    history = []
    for _ in range(8):
        total = sum(criterion(model(batch), targets, num_pairs=2).values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(total.item())
    assert sum(history[-2:]) / 2 < 0.9 * history[0], history
