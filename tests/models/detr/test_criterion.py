import math

import pytest
import torch
from torch import nn

from openhoi.config import LossConfig, MatcherConfig, replace
from openhoi.models.detr.criterion import build_criterion
from openhoi.models.detr.detector import build_detector
from openhoi.structures import HOIRawOutput

HOLD, KICK = 0, 1
PERSON, BALL = 0, 1
BASE = ["obj_ce", "interaction", "h_bbox", "o_bbox", "h_giou", "o_giou"]


def _one_pair_target(space, make_targets, with_object=True):
    # 100 x 100 image; human (0.3, 0.3, 0.2, 0.2), ball (0.7, 0.7, 0.2, 0.2) normalized
    return make_targets(space, [[20, 20, 40, 40], [60, 60, 80, 80]], [PERSON, BALL],
                        [[0, 1 if with_object else -1]], [[HOLD, KICK]], size=(100, 100))


def _outputs(space, h, o, obj=None, inter=None):
    q = h.shape[1]
    return HOIRawOutput(
        obj_logits=torch.zeros(1, q, space.num_objects + 1) if obj is None else obj,
        h_boxes_cxcywh=h, o_boxes_cxcywh=o,
        interaction_logits=torch.zeros(1, q, space.num_interactions) if inter is None else inter)


def _criterion(space, **loss):
    return build_criterion(MatcherConfig(), LossConfig(**loss), space)


def test_hand_computed_losses(synthetic_space, make_targets):
    t = _one_pair_target(synthetic_space, make_targets)
    h = torch.tensor([[[0.4, 0.3, 0.2, 0.2], [0.9, 0.1, 0.05, 0.05]]])  # query 0 matches
    o = torch.tensor([[[0.7, 0.5, 0.2, 0.2], [0.1, 0.9, 0.05, 0.05]]])
    obj = torch.zeros(1, 2, 6)
    obj[0, 0, BALL] = 2.0
    inter = torch.zeros(1, 2, 13)
    inter[0, 0, 0] = 3.0  # hold ball: a true positive
    losses = _criterion(synthetic_space)(_outputs(synthetic_space, h, o, obj, inter), [t], 1.0)
    assert sorted(losses) == sorted(f"loss_{k}" for k in BASE)

    ce0 = -math.log(math.exp(2) / (math.exp(2) + 5))
    ce1 = math.log(6)  # unmatched query -> no-object with weight 0.1
    assert losses["loss_obj_ce"].item() == pytest.approx((ce0 + 0.1 * ce1) / 1.1, rel=1e-5)

    s3 = 1 / (1 + math.exp(-3))
    pos = 0.5 * (math.log(s3) * (1 - s3) ** 2 + math.log(0.5) * 0.25)  # hold, kick ball
    neg = 0.5 * math.log(0.5) * 0.25 * (2 * 13 - 2)
    assert losses["loss_interaction"].item() == pytest.approx(2.0 * -(pos + neg) / 2, rel=1e-5)

    assert losses["loss_h_bbox"].item() == pytest.approx(2.5 * 0.1, rel=1e-5)
    assert losses["loss_o_bbox"].item() == pytest.approx(2.5 * 0.2 / (1 + 1e-4), rel=1e-5)
    # human: shifted by half a width: inter .02, union .06, hull .06 -> giou 1/3
    assert losses["loss_h_giou"].item() == pytest.approx(1 - 1 / 3, rel=1e-5)
    # object: shifted by a full height: inter 0, union .08, hull .08 -> giou 0
    assert losses["loss_o_giou"].item() == pytest.approx(1 / (1 + 1e-4), rel=1e-5)


def test_num_pairs_and_object_box_normaliser(synthetic_space, make_targets):
    t = _one_pair_target(synthetic_space, make_targets)
    h = torch.tensor([[[0.4, 0.3, 0.2, 0.2]]])
    o = torch.tensor([[[0.7, 0.5, 0.2, 0.2]]])
    out = _outputs(synthetic_space, h, o)
    one = _criterion(synthetic_space)(out, [t], 1.0)
    two = _criterion(synthetic_space)(out, [t], 2.0)
    assert two["loss_h_bbox"].item() == pytest.approx(one["loss_h_bbox"].item() / 2)
    assert two["loss_o_bbox"].item() == pytest.approx(one["loss_o_bbox"].item())
    by_pairs = _criterion(synthetic_space, obj_box_normalizer="num_pairs")(out, [t], 2.0)
    assert by_pairs["loss_o_bbox"].item() == pytest.approx(2.5 * 0.2 / 2, rel=1e-5)


def test_pairs_without_object_have_no_object_box_loss(synthetic_space, make_targets):
    t = _one_pair_target(synthetic_space, make_targets, with_object=False)
    h = torch.tensor([[[0.3, 0.3, 0.2, 0.2]]])
    o = torch.tensor([[[0.7, 0.5, 0.2, 0.2]]], requires_grad=True)
    losses = _criterion(synthetic_space)(_outputs(synthetic_space, h, o), [t], 1.0)
    assert losses["loss_o_bbox"].item() == 0.0 and losses["loss_o_giou"].item() == 0.0
    assert losses["loss_h_bbox"].item() == pytest.approx(0.0, abs=1e-6)
    sum(losses.values()).backward()
    assert torch.equal(o.grad, torch.zeros_like(o))


def test_images_without_pairs(synthetic_space, make_targets):
    empty = make_targets(synthetic_space, [], [], [], [], size=(100, 100))
    t = _one_pair_target(synthetic_space, make_targets)
    g = torch.Generator().manual_seed(0)
    h = (torch.rand(2, 4, 4, generator=g) * 0.3 + 0.2).requires_grad_()
    o = (torch.rand(2, 4, 4, generator=g) * 0.3 + 0.2).requires_grad_()
    out = HOIRawOutput(torch.randn(2, 4, 6, generator=g, requires_grad=True), h, o,
                       torch.randn(2, 4, 13, generator=g, requires_grad=True))
    crit = _criterion(synthetic_space)
    losses = crit(out, [t, empty], 1.0)
    assert all(torch.isfinite(v) for v in losses.values())
    nothing = crit(out, [empty, empty], 1.0)
    for k in ("h_bbox", "o_bbox", "h_giou", "o_giou"):
        assert nothing[f"loss_{k}"].item() == 0.0
    sum(nothing.values()).backward()  # the graph stays connected
    assert torch.isfinite(out.obj_logits.grad).all() and h.grad is not None


def test_aux_layers_extra_terms_and_weights(synthetic_space, make_targets):
    t = _one_pair_target(synthetic_space, make_targets)
    h = torch.tensor([[[0.4, 0.3, 0.2, 0.2]]])
    o = torch.tensor([[[0.7, 0.5, 0.2, 0.2]]])
    out = _outputs(synthetic_space, h, o)
    out.extras["feat"] = torch.tensor([1.0])
    aux = _outputs(synthetic_space, h, o)
    aux.extras["feat"] = torch.tensor([5.0])
    out.aux = [aux]
    calls = []

    def term(layer, targets, indices, num_pairs):
        calls.append(len(indices[0][0]))
        return layer.extras["feat"].sum()

    crit = build_criterion(MatcherConfig(), LossConfig(giou=0.0), synthetic_space,
                           extra_terms={"mimic": (3.0, term), "off": (0.0, term)})
    losses = crit(out, [t], 1.0)
    assert losses["loss_mimic"].item() == 3.0 and losses["loss_mimic_0"].item() == 15.0
    assert "loss_off" not in losses and "loss_h_giou" not in losses
    assert losses["loss_h_bbox_0"].item() == pytest.approx(losses["loss_h_bbox"].item())
    assert calls == [1, 1]
    no_aux = build_criterion(MatcherConfig(), LossConfig(aux_loss=False), synthetic_space)
    assert not any(k.endswith("_0") for k in no_aux(out, [t], 1.0))


def test_verb_loss_only_with_weight_and_verb_logits(synthetic_space, make_targets):
    t = _one_pair_target(synthetic_space, make_targets)
    out = _outputs(synthetic_space, torch.rand(1, 2, 4) * 0.2 + 0.3,
                   torch.rand(1, 2, 4) * 0.2 + 0.3)
    assert "loss_verb" not in _criterion(synthetic_space, verb=2.0)(out, [t], 1.0)
    out.verb_logits = torch.zeros(1, 2, synthetic_space.num_verbs)
    losses = _criterion(synthetic_space, verb=2.0)(out, [t], 1.0)
    # two positive verbs at p = 0.5, 2 * 8 - 2 negatives at p = 0.5
    expected = -0.5 * math.log(0.5) * 0.25 * (2 + 14) / 2
    assert losses["loss_verb"].item() == pytest.approx(2.0 * expected, rel=1e-5)


def test_losses_decrease_when_training_the_tiny_detector(synthetic_space, tiny_detector_cfg,
                                                         make_batch, make_targets):
    torch.manual_seed(0)
    space = synthetic_space
    cfg = replace(tiny_detector_cfg, {"train_backbone": False})  # keeps the test fast on CPU
    model = build_detector(cfg, space.num_objects, torch.randn(space.num_objects + 1, 16))
    inter_head = nn.Linear(cfg.hidden_dim, space.num_interactions)  # dummy interaction head
    batch = make_batch([(64, 32), (48, 32)], seed=3)
    targets = [
        make_targets(space, [[2, 5, 20, 60], [10, 20, 30, 50]], [PERSON, BALL], [[0, 1]],
                     [[KICK]], size=(64, 32)),
        make_targets(space, [], [], [], [], size=(48, 32)),  # an image without pairs
    ]
    crit = _criterion(space)
    params = [p for p in [*model.parameters(), *inter_head.parameters()] if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=3e-3)
    totals, boxes = [], []
    for _ in range(6):
        det = model(batch)
        out = det.raw_output(inter_head((det.h_hs + det.o_hs) / 2))
        losses = crit(out, targets, 1.0)
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        totals.append(loss.item())
        boxes.append(sum(v.item() for k, v in losses.items() if "bbox" in k or "giou" in k))
    assert all(math.isfinite(x) for x in totals)
    assert totals[-1] < 0.7 * totals[0]
    assert boxes[-1] < 0.9 * boxes[0]
