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


class _FakeRecognizer:
    """Scores a crop by its width: interaction 0 gets width / 100, the others 0.5."""

    def __init__(self):
        from openhoi.label_space import load_label_space

        self.space = load_label_space("synthetic")
        self.model = torch.nn.Identity()  # no box mask: union crops
        self.crops = []

    def scores(self, crops):
        self.crops += [c.size for c in crops]
        out = torch.full((len(crops), self.space.num_interactions), 0.5)
        out[:, 0] = torch.tensor([c.width / 100 for c in crops])
        return out


def test_pairs_filtering_and_scores_by_hand():
    from PIL import Image

    from openhoi.data.detections import Instances
    from openhoi.pair_recognition import PairRecognizer

    rec = _FakeRecognizer()
    space = rec.space
    human, obj = space.human_label, space.interaction_object[0].item()
    inst = Instances(torch.tensor([[10.0, 10, 30, 50],    # human, kept
                                   [11.0, 10, 30, 50],    # its duplicate: NMS removes it
                                   [40.0, 20, 60, 40],    # object of interaction 0's class
                                   [0.0, 0, 5, 5],        # object below the 0.2 threshold
                                   [70.0, 0, 120, 20]]),  # object, partly outside the image
                     torch.tensor([0.9, 0.8, 0.5, 0.1, 1.0]),
                     torch.tensor([human, human, obj, obj, obj]))
    image = Image.new("RGB", (100, 80))
    pred = PairRecognizer(rec, PairScoring()).detect(image, inst, "x.jpg")
    assert pred.boxes_xyxy.shape == (3, 4) and pred.labels.tolist() == [human, obj, obj]
    # NMS output is best first: human, then objects by score (1.0 before 0.5)
    assert torch.equal(pred.boxes_xyxy[1], inst.boxes_xyxy[4])
    assert rec.crops == [(90, 50), (50, 40)]  # union boxes, clipped to the image
    valid = (space.interaction_object == obj).nonzero().squeeze(1).tolist()
    assert sorted(set(pred.interactions.tolist())) == valid
    prior = {1: 0.9 ** 6 * 1.0 ** 3, 2: 0.9 ** 6 * 0.5 ** 3}
    width = {1: 0.90, 2: 0.50}
    for (h, o), i, s in zip(pred.pair_idx.tolist(), pred.interactions.tolist(),
                            pred.scores.tolist()):
        assert h == 0
        want = (width[o] if i == 0 else 0.5) * prior[o]
        assert s == pytest.approx(want, rel=1e-5)


def test_no_instances_no_triplets():
    from PIL import Image

    from openhoi.data.detections import Instances
    from openhoi.pair_recognition import PairRecognizer

    rec = _FakeRecognizer()
    empty = Instances(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64))
    pred = PairRecognizer(rec, PairScoring()).detect(Image.new("RGB", (9, 9)), empty, "e.jpg")
    assert len(pred) == 0 and pred.pair_idx.shape == (0, 2) and rec.crops == []
    with pytest.raises(ConfigError, match="region mask"):
        PairRecognizer(rec, PairScoring(region="mask"))
