import math

import pytest
import torch
from torchvision.ops import generalized_box_iou

from openhoi.ops.boxes import (
    box_cxcywh_to_xyxy,
    box_xyxy_to_cxcywh,
    denormalize_boxes,
    elementwise_generalized_box_iou,
    normalize_boxes,
    pair_nms,
    pixel_iou_plus_one,
    union_boxes,
)


def test_box_conversion_hand_values_and_round_trip():
    xyxy = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    assert torch.equal(box_xyxy_to_cxcywh(xyxy), torch.tensor([[20.0, 40.0, 20.0, 40.0]]))
    assert torch.equal(box_cxcywh_to_xyxy(torch.tensor([[20.0, 40.0, 20.0, 40.0]])), xyxy)
    g = torch.Generator().manual_seed(0)
    boxes = torch.rand(3, 5, 4, generator=g)  # leading batch dims are kept
    assert torch.allclose(box_xyxy_to_cxcywh(box_cxcywh_to_xyxy(boxes)), boxes, atol=1e-6)


def test_normalize_denormalize():
    boxes = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    norm = normalize_boxes(boxes, (200, 100))  # (h, w)
    assert torch.allclose(norm, torch.tensor([[0.1, 0.1, 0.3, 0.3]]))
    assert torch.allclose(denormalize_boxes(norm, (200, 100)), boxes)
    sizes = torch.tensor([[200, 100], [100, 50]])  # per image, broadcast over queries
    batched = normalize_boxes(boxes.expand(2, 3, 4), sizes[:, None])
    assert torch.allclose(batched[1, 2], torch.tensor([0.2, 0.2, 0.6, 0.6]))


def test_elementwise_giou_hand_cases_and_matrix_diagonal():
    a = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 3.0, 1.0], [1.0, 1.0, 3.0, 3.0]])
    # identical -> 1; disjoint: iou 0, hull 3, union 2 -> -1/3;
    # overlap 1, union 7, hull 9 -> 1/7 - 2/9
    expected = torch.tensor([1.0, -1.0 / 3.0, 1.0 / 7.0 - 2.0 / 9.0])
    assert torch.allclose(elementwise_generalized_box_iou(a, b), expected)
    g = torch.Generator().manual_seed(1)
    c = box_cxcywh_to_xyxy(torch.rand(6, 4, generator=g) * 0.5 + 0.1)
    d = box_cxcywh_to_xyxy(torch.rand(6, 4, generator=g) * 0.5 + 0.1)
    assert torch.allclose(elementwise_generalized_box_iou(c, d), generalized_box_iou(c, d).diag())


def test_union_boxes():
    a = torch.tensor([[0.0, 5.0, 10.0, 8.0]])
    b = torch.tensor([[2.0, 1.0, 4.0, 20.0]])
    assert torch.equal(union_boxes(a, b), torch.tensor([[0.0, 1.0, 10.0, 20.0]]))


def test_pixel_iou_uses_inclusive_extents():
    a = torch.tensor([[0.0, 0.0, 9.0, 9.0]])  # 10 x 10 pixels
    b = torch.tensor([[0.0, 0.0, 4.0, 9.0], [20.0, 20.0, 29.0, 29.0]])  # 5 x 10, disjoint
    assert torch.allclose(pixel_iou_plus_one(a, b), torch.tensor([[0.5, 0.0]]))


def _nms_oracle(h, o, classes, thr, alpha, beta):
    """Per class, highest score first, drop anything overlapping a kept pair too much."""
    keep = []
    for i in range(len(classes)):
        ok = True
        for j in keep:
            if classes[j] != classes[i]:
                continue
            ov = (pixel_iou_plus_one(h[i:i + 1], h[j:j + 1]).item() ** alpha
                  * pixel_iou_plus_one(o[i:i + 1], o[j:j + 1]).item() ** beta)
            if ov > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def test_pair_nms_hand_case():
    h = torch.tensor([[0.0, 0.0, 9.0, 9.0]]).repeat(4, 1)
    o = torch.tensor([[20.0, 0.0, 29.0, 9.0],    # kept (best)
                      [20.0, 0.0, 29.0, 9.0],    # same boxes, same class: suppressed
                      [20.0, 0.0, 29.0, 9.0],    # same boxes, other class: kept
                      [40.0, 0.0, 49.0, 9.0]])   # same class, object elsewhere: kept
    classes = torch.tensor([3, 3, 1, 3])
    keep = pair_nms(h[None], o[None], classes[None], threshold=0.7)
    assert keep.tolist() == [[True, False, True, True]]


def test_pair_nms_exponents_and_chain():
    # object IoU 0.64 with identical humans: 0.64^0.5 = 0.8 > 0.7 suppresses, 0.64^1 does not
    h = torch.tensor([[0.0, 0.0, 9.0, 9.0]]).repeat(2, 1)
    o = torch.tensor([[0.0, 0.0, 9.0, 9.0], [0.0, 0.0, 9.0, 6.0]])  # 10x10 vs 10x7 -> 0.7
    classes = torch.zeros(2, dtype=torch.long)
    iou_o = pixel_iou_plus_one(o[:1], o[1:]).item()
    assert iou_o == pytest.approx(0.7)
    assert pair_nms(h[None], o[None], classes[None], 0.8, beta=0.5).tolist() == [[True, False]]
    assert pair_nms(h[None], o[None], classes[None], 0.8, beta=1.0).tolist() == [[True, True]]
    assert math.sqrt(0.7) > 0.8 > 0.7
    # chain: A suppresses B; B would suppress C, but B is gone and C is far from A -> kept
    h = torch.tensor([[0.0, 0.0, 9.0, 9.0], [3.0, 0.0, 12.0, 9.0], [6.0, 0.0, 15.0, 9.0]])
    o = torch.tensor([[50.0, 50.0, 59.0, 59.0]]).repeat(3, 1)  # object IoU 1 everywhere
    # human IoU: A-B = B-C = 70 / 130 > 0.5, A-C = 40 / 160 < 0.5
    keep = pair_nms(h[None], o[None], torch.zeros(1, 3, dtype=torch.long), 0.5, 1.0, 1.0)
    assert keep.tolist() == [[True, False, True]]


def test_pair_nms_matches_oracle_on_random_batches():
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        xy = torch.rand(2, 30, 2, generator=g) * 50
        wh = torch.rand(2, 30, 2, generator=g) * 40 + 5
        h = torch.cat([xy, xy + wh], -1)
        o = h + torch.rand(2, 30, 4, generator=g) * 10
        classes = torch.randint(0, 3, (2, 30), generator=g)
        keep = pair_nms(h, o, classes, 0.5, 1.0, 0.5)
        for b in range(2):
            expected = _nms_oracle(h[b], o[b], classes[b].tolist(), 0.5, 1.0, 0.5)
            assert keep[b].nonzero().flatten().tolist() == expected


def test_pair_nms_invalid_candidates_never_kept_nor_suppress():
    h = torch.tensor([[0.0, 0.0, 9.0, 9.0]]).repeat(2, 1)
    valid = torch.tensor([[False, True]])
    keep = pair_nms(h[None], h[None], torch.zeros(1, 2, dtype=torch.long), 0.5, valid=valid)
    assert keep.tolist() == [[False, True]]
