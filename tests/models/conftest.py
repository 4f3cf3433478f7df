"""Shared tiny fixtures for model tests (CPU, seconds)."""

import pytest
import torch

from openhoi.config import DetectorConfig
from openhoi.data.label_space import load_label_space
from openhoi.structures import HOITargets, ImageBatch


@pytest.fixture
def synthetic_space():
    return load_label_space("synthetic")


@pytest.fixture
def tiny_detector_cfg():
    return DetectorConfig(backbone="resnet18", hidden_dim=32, num_heads=2, dim_feedforward=64,
                          num_encoder_layers=1, num_decoder_layers=2, num_queries=5,
                          dropout=0.0)


def _make_batch(sizes, seed=0):
    """Zero-padded ``ImageBatch`` of random images with the given (h, w)."""
    g = torch.Generator().manual_seed(seed)
    height = max(h for h, _ in sizes)
    width = max(w for _, w in sizes)
    images = torch.zeros(len(sizes), 3, height, width)
    mask = torch.ones(len(sizes), height, width, dtype=torch.bool)
    for i, (h, w) in enumerate(sizes):
        images[i, :, :h, :w] = torch.randn(3, h, w, generator=g)
        mask[i, :h, :w] = False
    return ImageBatch(images, mask, torch.tensor(sizes))


def _make_targets(space, boxes, labels, pairs, verbs, size, image_id="img.jpg"):
    """``HOITargets`` from plain lists; ``verbs`` are verb-index lists per pair."""
    verb_hot = torch.zeros(len(pairs), space.num_verbs)
    for row, vs in enumerate(verbs):
        verb_hot[row, vs] = 1.0
    return HOITargets(
        boxes_xyxy=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        labels=torch.tensor(labels, dtype=torch.long),
        pair_idx=torch.tensor(pairs, dtype=torch.long).reshape(-1, 2),
        verbs=verb_hot,
        image_id=image_id,
        size=size,
        orig_size=size,
    )


@pytest.fixture
def make_batch():
    return _make_batch


@pytest.fixture
def make_targets():
    return _make_targets
