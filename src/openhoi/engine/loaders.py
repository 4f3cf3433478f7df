"""Data loaders of the engine: a seeded, rank-sharded training loader and an unpadded,
rank-sharded evaluation loader (see ``TrainSampler`` / ``InferenceSampler``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from openhoi.engine.distributed import InferenceSampler, TrainSampler, get_rank, get_world_size


def train_loader(
    dataset: Dataset,
    batch_size: int,
    collate_fn: Callable[[list[Any]], Any],
    seed: int,
    num_workers: int = 0,
    pin_memory: bool = False,
    worker_init_fn: Callable[[int], None] | None = None,
    aspect_grouping: int = 0,
) -> DataLoader:
    """Loader of this rank's share of a seeded per-epoch shuffle, ``batch_size`` images per
    batch (per process). ``fit`` calls ``sampler.set_epoch`` and reseeds ``generator`` (which
    seeds the workers) at each epoch, so epochs are reproducible and resumable.
    ``aspect_grouping`` > 0 groups batches by aspect ratio (``DataConfig.aspect_grouping``;
    the dataset must have ``aspect_ratios()``)."""
    ratios = dataset.aspect_ratios() if aspect_grouping else None  # type: ignore[attr-defined]
    sampler = TrainSampler(len(dataset),  # type: ignore[arg-type]
                           batch_size, seed, get_rank(), get_world_size(),
                           aspect_ratios=ratios, group_window=aspect_grouping)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True,
                      collate_fn=collate_fn, num_workers=num_workers, pin_memory=pin_memory,
                      worker_init_fn=worker_init_fn, generator=torch.Generator())


def eval_loader(
    dataset: Dataset,
    batch_size: int,
    collate_fn: Callable[[list[Any]], Any],
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """Loader of this rank's contiguous shard of ``dataset``, in order, nothing repeated."""
    sampler = InferenceSampler(len(dataset), get_rank(), get_world_size())
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=False,
                      collate_fn=collate_fn, num_workers=num_workers, pin_memory=pin_memory)
