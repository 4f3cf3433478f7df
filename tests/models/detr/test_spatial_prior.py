import math

import pytest
import torch

from openhoi.config import load_config
from openhoi.errors import ConfigError
from openhoi.label_space import load_label_space
from openhoi.models.detr.detector import build_detector
from openhoi.models.detr.spatial_prior import SpatialPrior
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
    cfg = load_config("synthetic_tiny", ["model.detector.query_selection=false"]).model.detector
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
    off = ["model.detector.spatial_prior=false", "model.detector.box_refine=false",
           "model.detector.query_selection=false"]
    cfg = load_config("synthetic_tiny", off).model.detector
    det = build_detector(cfg, 5, torch.randn(6, 32))
    assert det.instance_decoder.prior is None and det.instance_decoder.selection is None
    names = [name for name, _ in det.named_parameters()]
    assert not any("prior" in n or "selection" in n for n in names)


def test_refinement_and_selection_need_the_prior():
    with pytest.raises(ConfigError, match="box_refine needs spatial_prior"):
        load_config("synthetic_tiny", ["model.detector.spatial_prior=false",
                                       "model.detector.query_selection=false"])
    with pytest.raises(ConfigError, match="query_selection needs spatial_prior"):
        load_config("synthetic_tiny", ["model.detector.spatial_prior=false",
                                       "model.detector.box_refine=false"])


def test_box_bias_is_a_gaussian_as_wide_as_half_the_box_at_least_one_cell():
    pad = torch.zeros(1, 8, dtype=torch.bool)  # 2 x 4 grid, cells 1/4 wide and 1/2 high
    boxes = torch.tensor([[[0.5, 0.25, 1.0, 0.1]]])  # sigma_x = 0.5, sigma_y = max(0.05, 1/2)
    bias = SpatialPrior.box_attention_bias(boxes, pad, (2, 4), num_heads=1)[0, 0]
    xs = torch.tensor([0.125, 0.375, 0.625, 0.875])
    expected_row0 = -((xs - 0.5) ** 2 / (2 * 0.5 ** 2) + 0.0)
    expected_row1 = -((xs - 0.5) ** 2 / (2 * 0.5 ** 2) + 0.5 ** 2 / (2 * 0.5 ** 2))
    assert torch.allclose(bias, torch.cat([expected_row0, expected_row1]))


def test_refined_layers_predict_boxes_relative_to_the_previous_layer():
    cfg = load_config("synthetic_tiny", ["model.detector.num_decoder_layers=2",
                                         "model.detector.query_selection=false"]).model.detector
    assert cfg.box_refine
    torch.manual_seed(0)
    det = build_detector(cfg, 5, torch.randn(6, 32))
    captured = []
    det.o_box_head.register_forward_hook(lambda m, i, o: captured.append(o.detach()))
    images = torch.randn(1, 3, 64, 64)
    out = det(ImageBatch(images, torch.zeros(1, 64, 64, dtype=torch.bool),
                         torch.tensor([[64, 64]])))
    first, second = out.o_boxes_cxcywh[0], out.o_boxes_cxcywh[1]
    delta = captured[1]  # the object head's output on layer 2
    assert torch.allclose(second, (delta + torch.logit(first)).sigmoid(), atol=1e-5)
