import torch

from openhoi.config import load_config
from openhoi.label_space import load_label_space
from openhoi.models.detr.detector import build_detector
from openhoi.models.detr.matcher import PairTargets
from openhoi.models.detr.query_selection import (
    CentreSelection,
    centre_heatmap_loss,
    centre_targets,
)
from openhoi.structures import HOIRawOutput, ImageBatch


def _first_channel_selection() -> CentreSelection:
    """A selection whose heat-map logit is the memory's first (non-negative) channel."""
    sel = CentreSelection(4)
    first, last = sel.head.layers
    with torch.no_grad():
        first.weight.copy_(torch.eye(4))
        first.bias.zero_()
        last.weight.zero_()
        last.bias.zero_()
        last.weight[0, 0] = 1.0
    return sel


def test_selects_local_maxima_first_then_the_best_other_cells():
    sel = _first_channel_selection()
    h, w = 3, 5
    scores = torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.0],
                           [0.0, 5.0, 4.0, 0.0, 0.0],   # 4.0 is next to 5.0: not a local max
                           [0.0, 0.0, 0.0, 0.0, 3.0]])
    memory = torch.zeros(1, h * w, 4)
    memory[0, :, 0] = scores.flatten()
    pad = torch.zeros(1, h * w, dtype=torch.bool)
    out = sel(memory, pad, (h, w), k=2)
    # peaks 5.0 at (1, 1) and 3.0 at (2, 4) before 4.0 at (1, 2), a higher non-peak
    assert out.index.tolist() == [[6, 14]]
    expected = [[1.5 / 5, 1.5 / 3], [4.5 / 5, 2.5 / 3]]
    assert torch.allclose(out.centres[0], torch.tensor(expected))


def test_padding_is_never_selected_and_centres_use_the_unpadded_size():
    sel = _first_channel_selection()
    memory = torch.zeros(1, 8, 4)
    memory[0, :, 0] = torch.tensor([0.0, 1.0, 0.0, 9.0, 0.0, 0.0, 0.0, 9.0])
    pad = torch.tensor([[False, False, False, True] * 2])  # last column padded
    out = sel(memory, pad, (2, 4), k=2)
    assert 3 not in out.index[0].tolist() and 7 not in out.index[0].tolist()
    assert out.index[0, 0].item() == 1
    assert torch.allclose(out.centres[0, 0], torch.tensor([1.5 / 3, 0.25]))


def test_targets_peak_at_each_human_centre_cell():
    valid = torch.ones(1, 4, 6, dtype=torch.bool)
    valid[:, :, 5] = False  # unpadded width 5
    boxes = [torch.tensor([[0.5, 0.6, 0.2, 0.5]])]  # centre cell x = int(2.5) = 2, y = 2
    goal = centre_targets(boxes, valid)
    assert goal[0, 2, 2] == 1.0
    assert int(goal.eq(1).sum()) == 1
    assert torch.all(goal[0, :, 5] == 0)
    assert 0 < goal[0, 2, 3] < 1 and goal[0, 2, 3] > goal[0, 2, 4]


def test_heatmap_loss_falls_when_the_peak_is_predicted_and_skips_outputs_without_one():
    valid = torch.ones(1, 4, 5, dtype=torch.bool)
    boxes = torch.tensor([[0.5, 0.6, 0.2, 0.5]])
    target = PairTargets(boxes, boxes, torch.tensor([1]), torch.tensor([True]),
                         torch.ones(1, 2), torch.ones(1, 2))

    def loss(logits):
        out = HOIRawOutput(torch.zeros(1, 1, 3), boxes[None], boxes[None], torch.zeros(1, 1, 2),
                           extras={"centre_logits": logits, "centre_valid": valid})
        return float(centre_heatmap_loss(out, [target], [], 1.0))

    flat = torch.full((1, 4, 5), -4.0)
    good = flat.clone()
    good[0, 2, 2] = 4.0
    assert loss(good) < loss(flat) / 4

    def with_objects(human, objects):
        extras = {"centre_logits": human, "centre_valid": valid,
                  "object_centre_logits": objects}
        out = HOIRawOutput(torch.zeros(1, 1, 3), boxes[None], boxes[None], torch.zeros(1, 1, 2),
                           extras=extras)
        return float(centre_heatmap_loss(out, [target], [], 1.0))

    # the object map is scored on the object boxes (here the same box as the human's)
    assert abs(with_objects(good, good) - 2 * loss(good)) < 1e-5
    assert with_objects(good, flat) > with_objects(good, good)
    bare = HOIRawOutput(torch.zeros(1, 1, 3), boxes[None], boxes[None], torch.zeros(1, 1, 2))
    assert centre_heatmap_loss(bare, [target], [], 1.0) is None


def test_detector_with_selection_trains_the_heatmap_and_puts_it_in_the_output():
    cfg = load_config("synthetic_tiny").model.detector
    assert cfg.query_selection and cfg.box_refine and cfg.value_pos
    space = load_label_space("synthetic")
    torch.manual_seed(0)
    det = build_detector(cfg, space.num_objects, torch.randn(space.num_objects + 1, 32))
    assert det.instance_decoder.prior.centre_logits is None  # centres come from the heat map
    images = torch.randn(2, 3, 64, 80)
    mask = torch.zeros(2, 64, 80, dtype=torch.bool)
    mask[1, :, 48:] = True
    out = det(ImageBatch(images, mask, torch.tensor([[64, 80], [64, 48]])))
    logits = out.selection.logits
    assert logits.shape == (2, 8, 10) and out.selection.object_logits.shape == (2, 8, 10)
    sigma = det.instance_decoder.prior.log_sigma.exp()
    assert torch.allclose(sigma[cfg.num_queries:], 2 * sigma[: cfg.num_queries])
    assert torch.isinf(logits[1, :, 6:]).all()
    raw = out.raw_output(torch.zeros(1, 2, cfg.num_queries, 3))
    assert raw.extras["centre_logits"] is logits
    assert raw.extras["object_centre_logits"] is out.selection.object_logits
    valid = raw.extras["centre_valid"]
    assert valid[1, :, :6].all() and not valid[1, :, 6:].any()
    assert (out.selection.index[1] % 10 < 6).all()  # selected inside the unpadded part
    finite = logits[torch.isfinite(logits)]
    (finite.sum() + out.o_boxes_cxcywh.sum()).backward()
    assert det.instance_decoder.selection.head.layers[0].weight.grad is not None

