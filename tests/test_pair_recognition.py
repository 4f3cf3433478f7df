import pytest
import torch

from openhoi.errors import ConfigError
from openhoi.pair_recognition import PairScoring, triplet_scores


def test_triplet_scores_by_hand():
    """DEFR: s_hoi^1 * s_h^6 * s_o^3 on the detected object's interactions, 0 elsewhere."""
    hoi = torch.tensor([[0.5, 0.8, 0.9], [0.4, 0.2, 0.1]])  # [P=2, I=3]
    inter_obj = torch.tensor([1, 1, 2])  # interactions 0, 1 on object 1; 2 on object 2
    got = triplet_scores(hoi, torch.tensor([0.5, 1.0]), torch.tensor([0.5, 0.8]),
                         torch.tensor([1, 2]), inter_obj, PairScoring())
    p0 = 0.5 ** 6 * 0.5 ** 3
    p1 = 1.0 * 0.8 ** 3
    want = torch.tensor([[0.5 * p0, 0.8 * p0, 0.0], [0.0, 0.0, 0.1 * p1]])
    assert torch.allclose(got, want)
    sq = triplet_scores(hoi, torch.ones(2), torch.ones(2), torch.tensor([1, 2]), inter_obj,
                        PairScoring(power_interaction=2.0))
    assert torch.allclose(sq[0, :2], hoi[0, :2] ** 2)


@pytest.mark.parametrize("kw", [{"score_thresh": 1.5}, {"nms_iou": 0.0}, {"max_instances": 0},
                                {"power_human": -1.0}])
def test_scoring_rejects_contradictions(kw):
    with pytest.raises(ConfigError):
        PairScoring(**kw)
