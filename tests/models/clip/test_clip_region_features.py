import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from openhoi.config import ClipConfig
from openhoi.models.clip.clip_knowledge import build_clip_knowledge
from openhoi.models.clip.clip_loading import TINY_ARCH
from openhoi.models.clip.region_features import (
    extract_pair_features,
    load_pair_features,
    save_pair_features,
    union_boxes_xyxy,
)
from openhoi.structures import HOITargets

NUM_VERBS = 3


def _image(h: int, w: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _targets(boxes, labels, pairs, verbs) -> HOITargets:
    multi_hot = torch.zeros(len(pairs), NUM_VERBS)
    for i, v in enumerate(verbs):
        multi_hot[i, v] = 1
    return HOITargets(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                      torch.tensor(labels, dtype=torch.long),
                      torch.tensor(pairs, dtype=torch.long).reshape(-1, 2), multi_hot, "x",
                      (0, 0), (0, 0))


IMAGES = [_image(64, 80, 0), _image(70, 50, 1), _image(40, 40, 2)]
TARGETS = [
    # human 0 with ball 1 (hold+kick) and cup 2 (hold)
    _targets([[10, 12, 40, 60], [30, 5, 70, 50], [0, 0, 20, 20]], [0, 1, 2],
             [[0, 1], [0, 2]], [[0, 1], [0]]),
    # a pair without object (V-COCO style) and a pair whose object lies outside the image
    _targets([[5, 5, 30, 60], [60, 0, 90, 20]], [0, 1], [[0, -1], [0, 1]], [[2], [2]]),
    _targets(torch.zeros(0, 4).tolist(), [], [], []),  # an image without pairs
]


def _load(i):
    return IMAGES[i], TARGETS[i]


@pytest.fixture(scope="module")
def clip():
    torch.manual_seed(0)
    return build_clip_knowledge(ClipConfig(arch=TINY_ARCH))


def test_union_boxes():
    u = union_boxes_xyxy(torch.tensor([[10.0, 12, 40, 60]]), torch.tensor([[30.0, 5, 70, 50]]))
    assert u.tolist() == [[10, 5, 70, 60]]


def test_pairs_and_labels(clip):
    feats = extract_pair_features(clip, _load, len(IMAGES), progress=False)
    assert len(feats) == 2  # only image 0's pairs are usable
    assert feats.obj_labels.tolist() == [1, 2] and feats.image_idx.tolist() == [0, 0]
    assert feats.verbs.tolist() == [[1, 1, 0], [1, 0, 0]]
    assert feats.hoi.shape == feats.human.shape == feats.obj.shape == (2, 32)


@torch.no_grad()
def test_features_are_clip_of_hoiclip_crops(clip):
    feats = extract_pair_features(clip, _load, len(IMAGES), progress=False)
    # OpenAI's _transform, written out: bicubic short-side resize, centre crop, normalise
    openai = T.Compose([T.Resize(32, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(32),
                        T.ToTensor(), T.Normalize((0.48145466, 0.4578275, 0.40821073),
                                                  (0.26862954, 0.26130258, 0.27577711))])
    crops = [IMAGES[0].crop(b) for b in [(10, 5, 70, 60), (10, 12, 40, 60), (30, 5, 70, 50)]]
    want = clip.encode_image(torch.stack([openai(c) for c in crops])).global_feature
    assert torch.allclose(feats.hoi[0], want[0], atol=1e-5)
    assert torch.allclose(feats.human[0], want[1], atol=1e-5)
    assert torch.allclose(feats.obj[0], want[2], atol=1e-5)


def test_batch_size_does_not_change_features(clip):
    a = extract_pair_features(clip, _load, len(IMAGES), batch_size=1, progress=False)
    b = extract_pair_features(clip, _load, len(IMAGES), batch_size=100, progress=False)
    assert torch.allclose(a.hoi, b.hoi, atol=1e-5) and torch.equal(a.verbs, b.verbs)


def test_cache_round_trip(tmp_path, clip):
    feats = extract_pair_features(clip, _load, len(IMAGES), progress=False)
    path = tmp_path / "regions.safetensors"
    save_pair_features(path, feats, {"arch": TINY_ARCH, "split": "train"})
    back = load_pair_features(path, arch=TINY_ARCH, split="train")
    assert torch.equal(back.hoi, feats.hoi) and torch.equal(back.image_idx, feats.image_idx)
    with pytest.raises(Exception, match=r"regions\.safetensors: field 'split'"):
        load_pair_features(path, split="test")
