import numpy as np
import pytest
import torch
from PIL import Image

from openhoi.config import DataConfig
from openhoi.data import transforms as T
from openhoi.structures import HOITargets


def make_targets(boxes, pairs, size, num_verbs=4, labels=None) -> HOITargets:
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    pairs = torch.tensor(pairs, dtype=torch.int64).reshape(-1, 2)
    verbs = torch.zeros(len(pairs), num_verbs)
    verbs[torch.arange(len(pairs)), torch.arange(len(pairs)) % num_verbs] = 1
    labels = torch.arange(len(boxes)) if labels is None else torch.tensor(labels)
    return HOITargets(boxes, labels, pairs, verbs, "x.jpg", size, size)


def random_targets(gen: np.random.Generator, height: int, width: int) -> HOITargets:
    """Unique label per box and a one-hot 'pair id' verb per pair, to trace identities."""
    n = int(gen.integers(0, 8))
    xy = gen.uniform(-5, [width, height], size=(n, 2))
    wh = gen.uniform(0, [width / 2, height / 2], size=(n, 2))
    boxes = np.concatenate([xy, xy + wh], 1).clip(0, [width, height, width, height])
    m = int(gen.integers(0, 10)) if n else 0
    pairs = np.stack([gen.integers(0, max(n, 1), m), gen.integers(-1, max(n, 1), m)], 1)
    return make_targets(boxes, pairs, (height, width), num_verbs=10)


def image(height=60, width=100, seed=0):
    gen = np.random.default_rng(seed)
    return Image.fromarray(gen.integers(0, 255, (height, width, 3), dtype=np.uint8))


def test_hflip_by_hand_and_twice_is_identity():
    img = image()
    t = make_targets([[10, 5, 30, 20], [0, 0, 100, 60]], [[0, 1]], (60, 100))
    img1, t1 = T.hflip(img, t)
    assert t1.boxes_xyxy.tolist() == [[70, 5, 90, 20], [0, 0, 100, 60]]
    assert np.array_equal(np.asarray(img1)[:, ::-1], np.asarray(img))
    img2, t2 = T.hflip(img1, t1)
    assert torch.equal(t2.boxes_xyxy, t.boxes_xyxy) and torch.equal(t2.pair_idx, t.pair_idx)
    assert np.array_equal(np.asarray(img2), np.asarray(img))


@pytest.mark.parametrize("hw, size, max_size, expected", [
    ((480, 640), 800, 1333, (800, 1066)),  # DETR: the shorter side becomes 800
    ((50, 100), 40, 60, (30, 60)),  # 40 * 2 = 80 > 60: shorter side round(60 * 50 / 100)
    ((100, 50), 25, None, (50, 25)),
    ((64, 64), 64, None, (64, 64)),
])
def test_resize_shape_matches_detr(hw, size, max_size, expected):
    assert T.resize_shape(hw, size, max_size) == expected


def test_resize_scales_boxes_and_round_trips():
    img = image(60, 100)
    t = make_targets([[10, 6, 50, 30], [0, 0, 100, 60]], [[0, 1], [1, -1]], (60, 100))
    img1, t1 = T.resize(img, t, 30)
    assert img1.size == (50, 30) and t1.size == (30, 50) and t1.orig_size == (60, 100)
    assert torch.allclose(t1.boxes_xyxy, torch.tensor([[5, 3, 25, 15], [0, 0, 50, 30.0]]))
    _, t2 = T.resize(img1, t1, 60)
    assert torch.allclose(t2.boxes_xyxy, t.boxes_xyxy)
    assert torch.equal(t2.pair_idx, t.pair_idx) and torch.equal(t2.verbs, t.verbs)


def test_crop_drops_vanished_boxes_with_their_pairs():
    t = make_targets([[10, 10, 30, 50], [20, 20, 40, 40], [60, 60, 90, 90], [70, 10, 95, 30]],
                     [[0, 1], [2, 3], [2, 1], [0, -1]], (100, 100))
    img, out = T.crop(image(100, 100), t, 0, 0, 55, 55)
    assert img.size == (55, 55) and out.size == (55, 55)
    assert out.boxes_xyxy.tolist() == [[10, 10, 30, 50], [20, 20, 40, 40]]
    assert out.labels.tolist() == [0, 1]
    assert out.pair_idx.tolist() == [[0, 1], [0, -1]]
    assert torch.equal(out.verbs, t.verbs[[0, 3]])
    # a crop that clips box 0 but keeps it: shifted and clamped
    # region x in [15, 65], y in [30, 70]: boxes 0-2 clipped and shifted, box 3 gone
    _, out = T.crop(image(100, 100), t, 30, 15, 40, 50)
    assert out.boxes_xyxy.tolist() == [[0, 0, 15, 20], [5, 0, 25, 10], [45, 30, 50, 40]]
    assert out.labels.tolist() == [0, 1, 2]
    assert out.pair_idx.tolist() == [[0, 1], [2, 1], [0, -1]]


def test_dropping_pairs_renumbers_annotation_entries():
    t = make_targets([[10, 10, 30, 50], [20, 20, 40, 40], [60, 60, 90, 90], [70, 10, 95, 30]],
                     [[0, 1], [2, 3], [2, 1], [0, -1]], (100, 100))
    # entries (pair row, verb) in file order, pair 2 listed twice
    t.hoi_entries = torch.tensor([[2, 2], [0, 0], [1, 1], [2, 2], [3, 3]])
    out = T.select_instances(t, torch.tensor([True, True, False, True]))  # box 2 gone
    assert out.pair_idx.tolist() == [[0, 1], [0, -1]]  # pairs 1 and 2 use box 2
    assert out.hoi_entries.tolist() == [[0, 0], [1, 3]]
    assert T.select_instances(make_targets([[0, 0, 5, 5]], [[0, -1]], (9, 9)),
                              torch.tensor([True])).hoi_entries is None


@pytest.mark.parametrize("seed", range(20))
def test_random_crop_keeps_each_surviving_pair_on_its_instances(seed):
    gen = np.random.default_rng(seed)
    t = random_targets(gen, 80, 120)
    top, left = int(gen.integers(0, 40)), int(gen.integers(0, 60))
    h, w = int(gen.integers(1, 80 - top + 1)), int(gen.integers(1, 120 - left + 1))
    _, out = T.crop(image(80, 120), t, top, left, h, w)
    # expected survivors, computed independently with numpy
    b = t.boxes_xyxy.numpy() - [left, top, left, top]
    b = np.stack([b[:, 0].clip(0, w), b[:, 1].clip(0, h), b[:, 2].clip(0, w),
                  b[:, 3].clip(0, h)], 1)
    alive = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    pairs = t.pair_idx.numpy()
    pair_alive = alive[pairs[:, 0]] & ((pairs[:, 1] < 0) | alive[pairs[:, 1].clip(0)])
    assert out.num_pairs == int(pair_alive.sum())
    assert out.labels.tolist() == t.labels[torch.from_numpy(alive)].tolist()
    for row, old in zip(out.pair_idx.tolist(), np.flatnonzero(pair_alive)):
        h_old, o_old = pairs[old]
        assert out.labels[row[0]] == t.labels[h_old]  # labels are unique: same instance
        np.testing.assert_allclose(out.boxes_xyxy[row[0]].numpy(), b[h_old])
        if o_old < 0:
            assert row[1] == -1
        else:
            assert out.labels[row[1]] == t.labels[o_old]
            np.testing.assert_allclose(out.boxes_xyxy[row[1]].numpy(), b[o_old])
    assert torch.equal(out.verbs, t.verbs[torch.from_numpy(pair_alive)])


def small_cfg() -> DataConfig:
    return DataConfig(train_scales=(48, 64, 80), max_size=120, crop_scales=(40, 60),
                      crop_size=(24, 50), test_scale=64)


@pytest.mark.parametrize("seed", range(25))
def test_train_pipeline_invariants_on_random_targets(seed):
    gen = np.random.default_rng(seed)
    height, width = int(gen.integers(30, 90)), int(gen.integers(30, 90))
    t = random_targets(gen, height, width)
    torch.manual_seed(seed)
    img, out = T.build_transforms(small_cfg(), train=True)(image(height, width, seed), t)
    assert img.shape == (3, *out.size) and out.orig_size == (height, width)
    assert min(out.size) <= 80 and max(out.size) <= 120
    boxes = out.boxes_xyxy
    assert (boxes[:, 0::2] >= 0).all() and (boxes[:, 0::2] <= out.size[1] + 1e-4).all()
    assert (boxes[:, 1::2] >= 0).all() and (boxes[:, 1::2] <= out.size[0] + 1e-4).all()
    assert ((boxes[:, 2:] - boxes[:, :2]) > 0).all()  # no zero-area survivors
    # each surviving pair still joins the same two instances (unique labels, pair-id verbs)
    orig = {int(p.argmax()): row for p, row in zip(t.verbs, t.pair_idx.tolist())}
    for verb, (h, o) in zip(out.verbs, out.pair_idx.tolist()):
        h_old, o_old = orig[int(verb.argmax())]
        assert out.labels[h] == t.labels[h_old]
        assert (o == -1) if o_old < 0 else (out.labels[o] == t.labels[o_old])


def test_pipeline_is_deterministic_under_a_seed():
    cfg = small_cfg()
    t = make_targets([[5, 5, 40, 50], [30, 20, 60, 40]], [[0, 1]], (60, 80))
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        outs.append(T.build_transforms(cfg, train=True)(image(60, 80), t))
    assert torch.equal(outs[0][0], outs[1][0])
    assert torch.equal(outs[0][1].boxes_xyxy, outs[1][1].boxes_xyxy)


def test_test_pipeline_resizes_and_normalizes():
    cfg = DataConfig(test_scale=30, max_size=100)
    mean = [round(255 * m) for m in cfg.pixel_mean]
    img = Image.new("RGB", (120, 60), tuple(mean))
    t = make_targets([[12, 6, 60, 30]], [], (60, 120))
    tensor, out = T.build_transforms(cfg, train=False)(img, t)
    assert tensor.shape == (3, 30, 60) and out.size == (30, 60)
    assert tensor.abs().max() < 0.02  # the mean colour normalises to ~0
    assert out.boxes_xyxy.tolist() == [[6, 3, 30, 15]]


def test_size_crop_on_image_smaller_than_min_size():
    torch.manual_seed(0)
    t = make_targets([[0, 0, 10, 10]], [[0, -1]], (20, 16))
    img, out = T.RandomSizeCrop(384, 600)(image(20, 16), t)
    assert img.size == (16, 20) and out.num_pairs == 1
