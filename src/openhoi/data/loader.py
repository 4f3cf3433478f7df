"""Batching: pad images into an ``ImageBatch`` and build seeded, deterministic data loaders.

Determinism: the loader owns a ``torch.Generator`` seeded with ``seed``; it drives shuffling
and the base seed of every worker, and ``seed_worker`` derives each worker's ``random`` and
numpy seeds from torch's per-worker seed, so the same seed gives the same batches and the
same augmentations for a given ``num_workers``. With ``num_workers=0`` the augmentations draw
from torch's global generator instead: seed it (``torch.manual_seed``) for repeatable runs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from openhoi.structures import HOITargets, ImageBatch


def pad_images(images: Sequence[Tensor]) -> ImageBatch:
    """Stack ``[3, H_i, W_i]`` images, zero-padded bottom/right to the largest; mask True on
    padding (DETR's ``nested_tensor_from_tensor_list``)."""
    if not images:
        raise ValueError("pad_images: empty batch")
    sizes = torch.tensor([[img.shape[-2], img.shape[-1]] for img in images], dtype=torch.int64)
    max_h, max_w = (int(v) for v in sizes.max(0).values)
    first = images[0]
    batch = first.new_zeros((len(images), first.shape[0], max_h, max_w))  # [B, 3, H, W]
    mask = torch.ones((len(images), max_h, max_w), dtype=torch.bool, device=first.device)
    for img, pad_img, m in zip(images, batch, mask):
        h, w = img.shape[-2:]
        pad_img[:, :h, :w].copy_(img)
        m[:h, :w] = False
    return ImageBatch(images=batch, mask=mask, sizes=sizes.to(first.device))


def collate(batch: Sequence[tuple[Tensor, HOITargets]]) -> tuple[ImageBatch, list[HOITargets]]:
    """``[(image, targets), ...]`` -> ``(ImageBatch, [targets, ...])``."""
    images, targets = zip(*batch)
    padded = pad_images(images)
    padded.image_ids = tuple(t.image_id for t in targets)
    return padded, list(targets)


def seed_worker(worker_id: int) -> None:
    """Seed ``random`` and numpy from torch's per-worker seed (base seed + worker id)."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def build_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int,
    sampler: Sampler | None = None,
    seed: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A ``DataLoader`` yielding ``(ImageBatch, list[HOITargets])``.

    Args:
        dataset: e.g. ``build_dataset(cfg.data, "train", label_space)``.
        batch_size: images per batch (per rank).
        shuffle: reshuffle every epoch (ignored when ``sampler`` is given; the sampler, e.g.
            a ``DistributedSampler`` with ``set_epoch``, then decides the order).
        num_workers: worker processes (0 loads in the main process).
        sampler: optional sampler; mutually exclusive with ``shuffle``.
        seed: seeds shuffling and the workers' random generators.
        drop_last: drop the last incomplete batch.
    """
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        worker_init_fn=seed_worker,
        generator=generator,
        drop_last=drop_last,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
    )
