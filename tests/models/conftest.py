"""Tiny model configs shared by the model tests (hidden 32, few layers and queries)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from openhoi.config import DetectorConfig, ModelConfig, from_dict, merge
from openhoi.label_space import load_label_space
from openhoi.structures import HOITargets, ImageBatch

TINY_MODEL: dict[str, Any] = {
    "clip": {"arch": "openhoi-tiny"},
    "detector": {"backbone": "resnet18", "hidden_dim": 32, "num_heads": 2,
                 "dim_feedforward": 64, "dropout": 0.0, "num_encoder_layers": 1,
                 "num_decoder_layers": 2, "num_queries": 4},
    "interaction": {"num_layers": 2, "num_heads": 2, "dim_feedforward": 64, "dropout": 0.0,
                    "verb_repr_init": "random"},
}


def tiny_model_config(**overrides: Any) -> ModelConfig:
    """``tiny_model_config(architecture="gen_vlkt", interaction={"query_builder": "mix"})``."""
    return from_dict(ModelConfig, merge(TINY_MODEL, overrides))


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one intra-op thread is faster than two, and far faster on a busy
    machine (oversubscribed OpenMP threads spin). Restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def synthetic_space():
    return load_label_space("synthetic")


def image_batch(sizes: list[tuple[int, int]], seed: int = 0) -> ImageBatch:
    """Random images of the given (h, w), zero-padded to the largest, DETR style."""
    g = torch.Generator().manual_seed(seed)
    hmax, wmax = max(h for h, _ in sizes), max(w for _, w in sizes)
    images = torch.zeros(len(sizes), 3, hmax, wmax)
    mask = torch.ones(len(sizes), hmax, wmax, dtype=torch.bool)
    for i, (h, w) in enumerate(sizes):
        images[i, :, :h, :w] = torch.randn(3, h, w, generator=g)
        mask[i, :h, :w] = False
    return ImageBatch(images, mask, torch.tensor(sizes))


@pytest.fixture(scope="session")
def tiny_cfg():
    """Factory of tiny ``ModelConfig``s: ``tiny_cfg(architecture="gen_vlkt")``."""
    return tiny_model_config


@pytest.fixture(scope="session")
def make_batch():
    """Factory of padded random ``ImageBatch``es: ``make_batch([(64, 80), (48, 64)])``."""
    return image_batch


@pytest.fixture
def tiny_detector_cfg():
    """Tiny ``DetectorConfig`` for detector-only tests."""
    return DetectorConfig(backbone="resnet18", hidden_dim=32, num_heads=2, dim_feedforward=64,
                          num_encoder_layers=1, num_decoder_layers=2, num_queries=5,
                          dropout=0.0)


def hoi_targets(space, boxes, labels, pairs, verbs, size, image_id="img.jpg") -> HOITargets:
    """``HOITargets`` from plain lists; ``verbs`` holds a list of verb indices per pair."""
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


@pytest.fixture(scope="session")
def make_targets():
    """Factory of ``HOITargets``: ``make_targets(space, boxes, labels, pairs, verbs, size)``."""
    return hoi_targets
