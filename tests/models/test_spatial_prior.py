import math

import torch

from openhoi.config import load_config
from openhoi.data.label_space import load_label_space
from openhoi.models.detector import build_detector
from openhoi.models.spatial_prior import SpatialPrior
from openhoi.structures import ImageBatch


def test_bias_is_a_gaussian_around_each_centre_with_padding_masked():
    prior = SpatialPrior(2, sigma=0.25)  # one pair: both queries at the grid's only cell
    assert torch.allclose(prior.centres(), torch.full((2, 2), 0.5))
    # 2 x 4 grid whose last column is padding: valid width 3, cell centres x = 1/6, 1/2, 5/6
    pad = torch.tensor([[False, False, False, True] * 2])
    bias = prior.attention_bias(pad, (2, 4), num_heads=3).detach()
    assert bias.shape == (3, 2, 8)
    assert torch.equal(bias[0], bias[2])  # same for every head
    two_var = 2 * 0.25 ** 2
    dy = 0.25  # row centres 1/4 and 3/4, centre 1/2
    expected = [-((x - 0.5) ** 2 + dy ** 2) / two_var for x in (1 / 6, 0.5, 5 / 6)]
    assert torch.allclose(bias[0, 0, :3], torch.tensor(expected))
    assert math.isinf(float(bias[0, 0, 3])) and float(bias[0, 0, 3]) < 0


def test_grid_initialisation_pairs_human_and_object_queries():
    prior = SpatialPrior(8)  # 4 pairs on a 2 x 2 grid
    c = prior.centres()
    assert torch.allclose(c[:4], c[4:])
    assert {tuple(round(v, 2) for v in row) for row in c[:4].tolist()} == {
        (0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)}


def test_detector_with_prior_predicts_boxes_around_the_centres_and_trains_them():
    cfg = load_config("synthetic_tiny").model.detector
    assert cfg.spatial_prior
    space = load_label_space("synthetic")
    torch.manual_seed(0)
    det = build_detector(cfg, space.num_objects, torch.randn(space.num_objects + 1, 32))
    images = torch.randn(2, 3, 64, 80)
    mask = torch.zeros(2, 64, 80, dtype=torch.bool)
    mask[1, :, 60:] = True
    out = det(ImageBatch(images, mask, torch.tensor([[64, 80], [64, 60]])))
    assert out.h_boxes_cxcywh.shape[-2:] == (cfg.num_queries, 4)
    (out.h_boxes_cxcywh.sum() + out.o_boxes_cxcywh.sum()).backward()
    prior = det.instance_decoder.prior
    assert prior.centre_logits.grad is not None and prior.log_sigma.grad is not None


def test_prior_off_adds_no_parameters():
    assert not load_config("hicodet_hoiclip").model.detector.spatial_prior
    cfg = load_config("synthetic_tiny", ["model.detector.spatial_prior=false"]).model.detector
    det = build_detector(cfg, 5, torch.randn(6, 32))
    assert det.instance_decoder.prior is None
    assert not any("prior" in name for name, _ in det.named_parameters())
