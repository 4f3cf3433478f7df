import math

import torch

from openhoi.models.clip.zero_shot import ZeroShotScorer, enhance_scores


def _sig(x):
    return 1 / (1 + math.exp(-x))


def test_enhance_keeps_topk_and_adds_sigmoid_to_every_pair():
    zs = torch.tensor([[0.3, 0.9, 0.1, 0.5]])
    scores = torch.tensor([[[0.1, 0.2, 0.3, 0.4], [0.0, 0.0, 0.0, 0.0]]])  # [1, 2, 4]
    out = enhance_scores(scores, zs, topk=2)
    prior = torch.tensor([0.5, _sig(0.9), 0.5, _sig(0.5)])  # classes 0 and 2 zeroed
    torch.testing.assert_close(out[0, 0], scores[0, 0] + prior)
    torch.testing.assert_close(out[0, 1], prior)


def test_enhance_is_per_image():
    zs = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    out = enhance_scores(torch.zeros(2, 1, 3), zs, topk=1)
    torch.testing.assert_close(out[:, 0], torch.tensor([[_sig(1.0), 0.5, 0.5],
                                                        [0.5, 0.5, _sig(2.0)]]))


def test_enhance_topk_larger_than_classes_keeps_all():
    zs = torch.tensor([[0.2, -0.4]])
    out = enhance_scores(torch.zeros(1, 1, 2), zs, topk=10)
    torch.testing.assert_close(out[0, 0], torch.tensor([_sig(0.2), _sig(-0.4)]))


def test_scorer_is_cosine_to_text():
    text = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    scorer = ZeroShotScorer(text)
    out = scorer(torch.tensor([[5.0, 0.0]]))
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0, 1 / math.sqrt(2)]]))
    assert "text_embed" in scorer.state_dict() and not list(scorer.parameters())
