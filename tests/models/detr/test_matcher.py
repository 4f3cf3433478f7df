import pytest
import torch

from openhoi.errors import OpenHOIError
from openhoi.label_space import label_space_from_dict
from openhoi.models.detr.matcher import HungarianMatcher, build_pair_targets, interaction_cost
from openhoi.structures import HOIRawOutput

HOLD, KICK = 0, 1
PERSON, BALL, KITE = 0, 1, 2


def _raw(obj_logits, h, o, inter):
    return HOIRawOutput(obj_logits=obj_logits, h_boxes_cxcywh=h, o_boxes_cxcywh=o,
                        interaction_logits=inter)


def _random_raw(batch, queries, space, seed):
    g = torch.Generator().manual_seed(seed)
    return _raw(torch.randn(batch, queries, space.num_objects + 1, generator=g),
                torch.rand(batch, queries, 4, generator=g) * 0.5 + 0.2,
                torch.rand(batch, queries, 4, generator=g) * 0.5 + 0.2,
                torch.randn(batch, queries, space.num_interactions, generator=g))


def _random_targets(space, make_targets, num_pairs, seed):
    g = torch.Generator().manual_seed(seed)
    boxes, labels, pairs, verbs = [], [], [], []
    for p in range(num_pairs):
        xy = torch.rand(2, 2, generator=g) * 100
        boxes += [xy[0].tolist() + (xy[0] + 20).tolist(), xy[1].tolist() + (xy[1] + 30).tolist()]
        labels += [PERSON, BALL]
        pairs.append([2 * p, 2 * p + 1 if p % 3 else -1])  # every third pair has no object
        verbs.append([HOLD] if p % 2 else [HOLD, KICK])
    return make_targets(space, boxes, labels, pairs, verbs, size=(150, 160))


def test_pair_targets_normalise_and_handle_missing_objects(synthetic_space, make_targets):
    t = make_targets(synthetic_space, [[20, 10, 60, 50], [100, 40, 140, 60]], [PERSON, BALL],
                     [[0, 1], [0, -1]], [[HOLD, KICK], [HOLD]], size=(100, 200))
    (pt,) = build_pair_targets([t], synthetic_space)
    assert torch.allclose(pt.h_boxes_cxcywh[0], torch.tensor([0.2, 0.3, 0.2, 0.4]))
    assert torch.allclose(pt.o_boxes_cxcywh[0], torch.tensor([0.6, 0.5, 0.2, 0.2]))
    assert torch.equal(pt.o_boxes_cxcywh[1], torch.zeros(4))
    assert pt.obj_labels.tolist() == [BALL, synthetic_space.num_objects]
    assert pt.has_object.tolist() == [True, False]
    assert pt.interactions[0].nonzero().flatten().tolist() == [0, 1]  # hold/kick ball
    assert pt.interactions[1].sum() == 0
    (sub,) = build_pair_targets([t], synthetic_space, torch.tensor([1, 0]))
    assert sub.interactions[0].tolist() == [1.0, 1.0]


def test_interaction_cost_hand_value():
    probs = torch.tensor([[0.9, 0.2, 0.4]])
    tgt = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    eps = 1e-4
    c0 = -(0.9 / (1 + eps) + (0.8 + 0.6) / (2 + eps)) / 2
    c1 = -((0.9 + 0.2) / (2 + eps) + 0.6 / (1 + eps)) / 2
    assert torch.allclose(interaction_cost(probs, tgt), torch.tensor([[c0, c1]]))


def test_cost_matrix_hand_value(synthetic_space, make_targets):
    # image 100 x 100; target human (0.5, 0.5, 0.2, 0.2), object (0.5, 0.5, 0.2, 0.2)
    t = make_targets(synthetic_space, [[40, 40, 60, 60], [40, 40, 60, 60]], [PERSON, BALL],
                     [[0, 1]], [[HOLD]], size=(100, 100))
    out = _raw(torch.zeros(1, 1, 6), torch.tensor([[[0.5, 0.5, 0.2, 0.2]]]),
               torch.tensor([[[0.6, 0.5, 0.2, 0.2]]]), torch.zeros(1, 1, 13))
    matcher = HungarianMatcher(synthetic_space, 1.0, 1.0, 2.5, 1.0)
    cost = matcher.cost_matrix(out, build_pair_targets([t], synthetic_space))
    eps = 1e-4
    c_inter = -(0.5 / (1 + eps) + 0.5 * 12 / (12 + eps)) / 2
    c_obj = -1 / 6
    c_l1 = max(0.0, 0.1)
    c_giou = max(-1.0, -1 / 3)  # object: inter .02, union .06, hull .06
    assert cost.shape == (1, 1, 1)
    assert cost.item() == pytest.approx(c_inter + c_obj + 2.5 * c_l1 + c_giou, abs=1e-5)


def test_no_object_pair_ignores_object_l1_and_uses_reference_giou(synthetic_space, make_targets):
    t = make_targets(synthetic_space, [[40, 40, 60, 60]], [PERSON], [[0, -1]], [[HOLD]],
                     size=(100, 100))
    h = torch.tensor([[[0.5, 0.5, 0.2, 0.2]]])
    o = torch.tensor([[[0.5, 0.5, 0.2, 0.2]]])  # xyxy (0.4, 0.4, 0.6, 0.6)
    out = _raw(torch.zeros(1, 1, 6), h, o, torch.zeros(1, 1, 13))
    matcher = HungarianMatcher(synthetic_space, 0.0, 0.0, 1.0, 0.0)
    assert matcher.cost_matrix(out, build_pair_targets([t], synthetic_space)).item() == 0.0
    matcher = HungarianMatcher(synthetic_space, 0.0, 0.0, 0.0, 1.0)
    # GIoU against the all-zero box: iou 0, hull (0,0)-(0.6,0.6) = 0.36, union 0.04
    giou_zero = -(0.36 - 0.04) / 0.36
    expected = max(-1.0, -giou_zero + -1.0)
    cost = matcher.cost_matrix(out, build_pair_targets([t], synthetic_space)).item()
    assert cost == pytest.approx(expected, abs=1e-6)


def test_obvious_assignment(synthetic_space, make_targets):
    t = make_targets(synthetic_space, [[10, 10, 30, 30], [50, 50, 90, 90], [0, 60, 20, 99],
                                       [60, 0, 99, 20]], [PERSON, BALL, PERSON, KITE],
                     [[0, 1], [2, 3]], [[KICK], [HOLD]], size=(100, 100))
    (pt,) = build_pair_targets([t], synthetic_space)
    big = 10.0
    obj = torch.full((1, 3, 6), -big)
    obj[0, 2, BALL] = big   # query 2 <- pair 0
    obj[0, 0, KITE] = big   # query 0 <- pair 1
    obj[0, 1, -1] = big     # query 1 predicts no object
    h = torch.stack([pt.h_boxes_cxcywh[1], torch.tensor([0.5, 0.5, 0.1, 0.1]),
                     pt.h_boxes_cxcywh[0]])[None]
    o = torch.stack([pt.o_boxes_cxcywh[1], torch.tensor([0.5, 0.5, 0.1, 0.1]),
                     pt.o_boxes_cxcywh[0]])[None]
    inter = torch.full((1, 3, 13), -big)
    inter[0, 2, 1] = big  # kick ball
    inter[0, 0, 5] = big  # hold kite
    (rows, cols), = HungarianMatcher(synthetic_space)(_raw(obj, h, o, inter), [t])
    assert rows.tolist() == [0, 2] and cols.tolist() == [1, 0]


def test_empty_targets_and_batch_invariance(synthetic_space, make_targets):
    matcher = HungarianMatcher(synthetic_space)
    targets = [_random_targets(synthetic_space, make_targets, n, seed=n) for n in (3, 0, 5)]
    out = _random_raw(3, 6, synthetic_space, seed=0)
    batched = matcher(out, targets)
    assert batched[1][0].numel() == 0 and batched[1][1].numel() == 0
    assert [len(r) for r, _ in batched] == [3, 0, 5]
    for i in range(3):
        alone = _raw(out.obj_logits[i:i + 1], out.h_boxes_cxcywh[i:i + 1],
                     out.o_boxes_cxcywh[i:i + 1], out.interaction_logits[i:i + 1])
        (rows, cols), = matcher(alone, [targets[i]])
        assert torch.equal(rows, batched[i][0]) and torch.equal(cols, batched[i][1])
    all_empty = matcher(out, [_random_targets(synthetic_space, make_targets, 0, 0)] * 3)
    assert all(r.numel() == 0 for r, _ in all_empty)


def test_more_targets_than_queries_matches_every_query(synthetic_space, make_targets):
    t = _random_targets(synthetic_space, make_targets, 5, seed=1)
    (rows, cols), = HungarianMatcher(synthetic_space)(_random_raw(1, 3, synthetic_space, 2), [t])
    assert sorted(rows.tolist()) == [0, 1, 2] and len(set(cols.tolist())) == 3


def test_interaction_width_mismatch_is_explained(synthetic_space, make_targets):
    t = _random_targets(synthetic_space, make_targets, 2, seed=1)
    out = _random_raw(1, 3, synthetic_space, 2)
    out.interaction_logits = out.interaction_logits[..., :4]
    with pytest.raises(OpenHOIError, match="interaction_columns"):
        HungarianMatcher(synthetic_space)(out, [t])
    assert len(HungarianMatcher(synthetic_space, interaction_columns=torch.arange(4))(
        out, [t])[0][0]) == 2


def test_pairs_without_object_target_objectless_interactions(make_targets):
    space = label_space_from_dict({
        "name": "tiny-vcoco",
        "objects": [{"name": "person", "id": 1}, {"name": "ball", "id": 37}],
        "human_object": "person",
        "verbs": [{"name": "hold", "id": 1}, {"name": "stand", "id": 2}],
        "interactions": [{"verb": "hold", "object": "ball"}, {"verb": "stand", "object": None}],
    })
    t = make_targets(space, [[0, 0, 10, 10], [5, 5, 9, 9]], [0, 1], [[0, -1], [0, 1]],
                     [[1], [0]], size=(20, 20))
    (pt,) = build_pair_targets([t], space)
    assert pt.interactions.tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert pt.obj_labels.tolist() == [2, 1]  # no object -> the no-object column O


def test_non_finite_outputs_are_matched_not_raised(synthetic_space, make_targets):
    """scipy refuses NaN/inf costs ("matrix contains invalid numeric entries"); the matcher
    still assigns, so the loss (NaN too) reaches the engine's NaN stop."""
    t = _random_targets(synthetic_space, make_targets, 3, seed=1)
    raw = _random_raw(2, 5, synthetic_space, seed=2)
    raw.interaction_logits[0, 1] = float("nan")
    raw.h_boxes_cxcywh[1] = float("inf")
    indices = HungarianMatcher(synthetic_space)(raw, [t, t])
    assert [len(r) for r, _ in indices] == [3, 3]
    assert all(sorted(c.tolist()) == [0, 1, 2] for _, c in indices)
