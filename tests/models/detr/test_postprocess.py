import math

import pytest
import torch

from openhoi.config import PostprocessConfig
from openhoi.label_space import label_space_from_dict
from openhoi.models.detr.postprocess import PostProcessor, build_postprocessor
from openhoi.structures import HOIRawOutput


def sig(x):
    return 1 / (1 + math.exp(-x))


@pytest.fixture
def space():
    return label_space_from_dict({
        "name": "tiny",
        "objects": [{"name": "person", "id": 1}, {"name": "ball", "id": 37}],
        "human_object": "person",
        "verbs": [{"name": "hold", "id": 1}, {"name": "kick", "id": 2}],
        "interactions": [{"verb": "hold", "object": "ball"}, {"verb": "kick", "object": "ball"},
                         {"verb": "hold", "object": "person"}],
    })


INTER = [[0.0, 1.0, -1.0], [2.0, -2.0, 0.0]]  # [Q, I]
OBJ = [[0.0, 1.0, -1.0], [-1.0, 0.0, 2.0]]    # [Q, O + 1]; query 1 prefers no-object


def _outputs(h=None, o=None):
    boxes = torch.tensor([[[0.5, 0.5, 0.5, 0.5], [0.2, 0.2, 0.2, 0.2]]])
    return HOIRawOutput(obj_logits=torch.tensor([OBJ]),
                        h_boxes_cxcywh=boxes if h is None else h,
                        o_boxes_cxcywh=boxes.flip(1) if o is None else o,
                        interaction_logits=torch.tensor([INTER]))


def _expected_scores():
    obj_of = [1, 1, 0]
    return {(q, i): sig(INTER[q][i]) + sig(OBJ[q][obj_of[i]]) ** 2
            for q in range(2) for i in range(3)}


def test_reference_scores_top_k_and_pixel_boxes(space):
    post = PostProcessor(space.interaction_object, space.human_label, top_k=4, use_nms=False)
    (pred,) = post(_outputs(), torch.tensor([[100, 200]]), ["a.jpg"])
    expected = sorted(_expected_scores().items(), key=lambda kv: -kv[1])[:4]
    assert torch.allclose(pred.scores, torch.tensor([s for _, s in expected]))
    assert pred.interactions.tolist() == [i for (_, i), _ in expected]
    assert pred.image_id == "a.jpg" and len(pred) == 4
    # both queries are used: boxes = [h0, h1, o0, o1] in pixels of a 100 x 200 (h x w) image
    assert torch.allclose(pred.boxes_xyxy[0], torch.tensor([50.0, 25.0, 150.0, 75.0]))
    assert torch.allclose(pred.boxes_xyxy[3], torch.tensor([50.0, 25.0, 150.0, 75.0]))
    assert torch.allclose(pred.boxes_xyxy[1], torch.tensor([20.0, 10.0, 60.0, 30.0]))
    # labels: humans, then the argmax object class without no-object (query 1: ball, not -1)
    assert pred.labels.tolist() == [0, 0, 1, 1]
    queries = [q for (q, _), _ in expected]
    assert pred.pair_idx.tolist() == [[q, q + 2] for q in queries]


def test_nms_removes_duplicate_pairs_of_the_same_class_only(space):
    same = torch.tensor([[[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]]])  # identical queries
    out = _outputs(h=same, o=same)
    out.interaction_logits = torch.tensor([[[3.0, -5.0, -5.0], [2.0, 1.0, -5.0]]])
    out.obj_logits = torch.tensor([[[0.0, 1.0, -1.0], [0.0, 1.0, -1.0]]])
    post = PostProcessor(space.interaction_object, space.human_label, top_k=3, use_nms=True)
    (pred,) = post(out, torch.tensor([[100, 100]]), ["b"])
    # candidates: (q0, hold-ball), (q1, hold-ball), (q1, kick-ball); the second is a duplicate
    assert [(p[0], int(i)) for p, i in zip(pred.pair_idx.tolist(), pred.interactions)] == [
        (0, 0), (1, 1)]
    (no_nms,) = PostProcessor(space.interaction_object, space.human_label, top_k=3,
                              use_nms=False)(out, torch.tensor([[100, 100]]), ["b"])
    assert no_nms.interactions.tolist() == [0, 0, 1]


def test_scoring_rules_and_score_terms(space):
    out = _outputs()
    prod = PostProcessor(space.interaction_object, 0, top_k=6, obj_score="softmax",
                         obj_score_power=1.0, score_fusion="product", use_nms=False)
    scores = prod.triplet_scores(out)
    soft = torch.tensor(OBJ).softmax(-1)
    assert scores[0, 1, 2].item() == pytest.approx(sig(0.0) * soft[1, 0].item(), rel=1e-6)
    bonus = torch.tensor([0.0, 0.0, 10.0])
    boosted = PostProcessor(space.interaction_object, 0, top_k=2, use_nms=False,
                            score_terms=[lambda o: bonus.expand(1, 1, 3)])
    (pred,) = boosted(out, torch.tensor([[10, 10]]), ["c"])
    assert pred.interactions.tolist() == [2, 2]  # hold-person of both queries first
    assert pred.scores[0].item() == pytest.approx(
        max(_expected_scores()[(q, 2)] for q in range(2)) + 10, rel=1e-6)


def test_top_k_larger_than_candidates_and_batch(space):
    out = _outputs()
    out = HOIRawOutput(*(t.expand(3, *t.shape[1:]) for t in (
        out.obj_logits, out.h_boxes_cxcywh, out.o_boxes_cxcywh, out.interaction_logits)))
    post = build_postprocessor(PostprocessConfig(use_nms=False), space)
    preds = post(out, torch.tensor([[10, 10], [20, 20], [30, 30]]), ["x", "y", "z"])
    assert [len(p) for p in preds] == [6, 6, 6] and [p.image_id for p in preds] == ["x", "y", "z"]
    assert torch.allclose(preds[2].boxes_xyxy, preds[0].boxes_xyxy * 3)
    assert post.top_k == 100 and post.nms_threshold == 0.7 and post.nms_beta == 0.5


def test_interaction_width_is_checked(space):
    out = _outputs()
    out.interaction_logits = out.interaction_logits[..., :2]
    with pytest.raises(ValueError, match="interaction logits have 2"):
        build_postprocessor(PostprocessConfig(), space)(out, torch.tensor([[1, 1]]), ["x"])


def test_objectless_interactions_score_with_the_no_object_column():
    space = label_space_from_dict({
        "name": "tiny-vcoco",
        "objects": [{"name": "person", "id": 1}, {"name": "ball", "id": 37}],
        "human_object": "person",
        "verbs": [{"name": "hold", "id": 1}, {"name": "stand", "id": 2}],
        "interactions": [{"verb": "hold", "object": "ball"}, {"verb": "stand", "object": None}],
    })
    assert space.interaction_object.tolist() == [1, -1]
    out = HOIRawOutput(obj_logits=torch.tensor([[[0.0, -1.0, 2.0]]]),
                       h_boxes_cxcywh=torch.full((1, 1, 4), 0.5),
                       o_boxes_cxcywh=torch.full((1, 1, 4), 0.5),
                       interaction_logits=torch.tensor([[[0.5, -0.5]]]))
    scores = build_postprocessor(PostprocessConfig(), space).triplet_scores(out)
    expected = [sig(0.5) + sig(-1.0) ** 2, sig(-0.5) + sig(2.0) ** 2]
    assert torch.allclose(scores[0, 0], torch.tensor(expected))
