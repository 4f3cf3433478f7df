"""A training run from a ``Config``: datasets (low-data / zero-shot / validation subsets),
model, criterion, post-processor, evaluators, optimiser; fresh or resumed; then ``fit``.

Run folder layout (``RUN_DIR``)::

    config.yaml              the resolved config (``openhoi train --resume`` reads it back)
    run.json                 package/torch versions, label space, world size, device, data
                             subsets (counts, validation image names), start/resume times
    metrics.jsonl            rank-0 metrics log (``openhoi.engine.metrics``)
    train.log                rank-0 text log
    checkpoints/last.pt      after every epoch (``openhoi.checkpoint`` format)
    checkpoints/best.pt      best validation ``train.best_metric`` (needs ``data.val_size``)
    model.safetensors        selected weights + config/label-space metadata, for prediction
    test_metrics.json        test-split results of the selected weights, once, at the end
    plots/                   ``openhoi plot RUN_DIR``
"""

from __future__ import annotations

import json
import logging
import platform
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from openhoi import __version__
from openhoi import checkpoint as ckpt_io
from openhoi.config import Config, save_config, to_dict
from openhoi.data.dataset import HOIDetectionDataset, build_dataset, resolve_label_space
from openhoi.data.loader import collate, seed_worker
from openhoi.data.records import HOIAnnotations
from openhoi.data.subsets import training_subsets
from openhoi.data.transforms import build_transforms
from openhoi.engine.distributed import get_rank, get_world_size, is_main_process
from openhoi.engine.loaders import eval_loader, train_loader
from openhoi.engine.optim import build_optimizer, build_scheduler
from openhoi.engine.train import TrainState, amp_dtype_for, fit, restore
from openhoi.errors import ConfigError, DataError
from openhoi.evaluation.build import build_evaluator
from openhoi.label_space import LabelSpace
from openhoi.models.build import build_model_parts
from openhoi.structures import HOITargets

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class RunData:
    """Datasets of a run. Ground truth (for evaluators) is read on rank 0 only."""

    train: HOIDetectionDataset
    val: HOIDetectionDataset | None
    test: HOIDetectionDataset | None
    summary: dict[str, Any]


def _dataset(like: HOIDetectionDataset, annotations: HOIAnnotations, idx: np.ndarray,
             transforms: Any) -> HOIDetectionDataset:
    return HOIDetectionDataset(annotations, like.image_paths[idx], transforms,
                               box_tolerance=like.box_tolerance, skip_invalid=like.skip_invalid)


def build_run_data(config: Config, label_space: LabelSpace) -> RunData:
    """Training images after the low-data / zero-shot / validation rules
    (``openhoi.data.subsets``), the held-out validation images with test-time transforms,
    and the test split when ``train.eval_test``."""
    full = build_dataset(config.data, "train", label_space)
    sub = training_subsets(full.annotations, label_space, config.data)
    train = _dataset(full, sub.train, sub.train_idx, full.transforms)
    val = None
    if sub.val is not None:
        val = _dataset(full, sub.val, sub.val_idx, build_transforms(config.data, train=False))
    test = build_dataset(config.data, "test", label_space) if config.train.eval_test else None
    return RunData(train, val, test, sub.summary)


def ground_truth(dataset: HOIDetectionDataset) -> list[HOITargets]:
    return [dataset.ground_truth(i) for i in range(len(dataset))]


def _write_run_json(run_dir: Path, config: Config, label_space: LabelSpace,
                    device: torch.device, summary: dict[str, Any], resumed: bool) -> None:
    path = run_dir / "run.json"
    info = json.loads(path.read_text()) if path.is_file() else {}
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    info.update({
        "openhoi_version": __version__, "torch_version": torch.__version__,
        "python": platform.python_version(), "label_space": label_space.fingerprint,
        "world_size": get_world_size(), "device": str(device),
        "per_process_batch_size": per_process_batch(config), "data": summary,
    })
    info.setdefault("started", now)
    if resumed:
        info.setdefault("resumed", []).append(now)
    text = json.dumps(info, indent=1)
    ckpt_io.atomic_write(path, lambda tmp: tmp.write_text(text))


def per_process_batch(config: Config) -> int:
    """Images per forward pass on each process: ``batch_size / (world * accumulation)``."""
    cfg = config.train
    div = get_world_size() * cfg.grad_accum_steps
    if cfg.batch_size % div:
        raise ConfigError(f"train.batch_size={cfg.batch_size} is not divisible by world size "
                          f"{get_world_size()} x train.grad_accum_steps={cfg.grad_accum_steps}")
    return cfg.batch_size // div


def _check_resume_config(config: Config, checkpoint: dict[str, Any], where: str) -> None:
    """Warn about every config value that differs from the checkpoint's."""
    stored = to_dict(ckpt_io.checkpoint_config(checkpoint, where))
    now = to_dict(config)

    def diff(a: Any, b: Any, prefix: str) -> list[str]:
        if isinstance(a, dict) and isinstance(b, dict):
            return [d for k in sorted(set(a) | set(b))
                    for d in diff(a.get(k), b.get(k), f"{prefix}{k}.")]
        return [] if a == b else [f"{prefix[:-1]}: {a!r} -> {b!r}"]

    for line in diff(stored, now, ""):
        log.warning("%s: config differs from the checkpoint's: %s", where, line)


def train_run(config: Config, run_dir: str | Path, device: torch.device, *,
              resume: bool = False, verb_repr: str | Path | None = None,
              progress: bool = False) -> TrainState:
    """Train ``config`` into ``run_dir`` (fresh, or continuing its ``checkpoints/last.pt``).

    Call inside an initialised process group for multi-process runs
    (``openhoi.engine.distributed.init_distributed``).
    """
    run_dir = Path(run_dir)
    label_space = resolve_label_space(config.data)
    per_process_batch(config)
    last = run_dir / "checkpoints" / "last.pt"
    checkpoint = ckpt_io.load_checkpoint(last) if resume else None
    seed_everything(config.train.seed)  # same initial weights on every rank
    parts = build_model_parts(config, label_space, device, pretrained=not resume,
                              verb_repr=verb_repr)
    model, criterion, postprocessor = parts.model, parts.criterion, parts.postprocess
    seed_everything(config.train.seed + get_rank())  # different augmentations per rank
    optimizer = build_optimizer(model, config.train, parts.group_lrs)
    scheduler = build_scheduler(optimizer, config.train)
    amp_dtype = amp_dtype_for(config.train.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    data = build_run_data(config, label_space)
    loaders = _loaders(config, data, device)
    _check_steps(config, data, len(loaders["train"]))  # before the run folder is written
    val_eval = test_eval = None
    if is_main_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")
        _write_run_json(run_dir, config, label_space, device, data.summary, resume)
        if data.val is not None:
            val_eval = build_evaluator(config, ground_truth(data.val), label_space,
                                       model.task, "val")
        if data.test is not None:
            test_eval = build_evaluator(config, ground_truth(data.test), label_space,
                                        model.task, "test")
    state = None
    if checkpoint is not None:
        _check_resume_config(config, checkpoint, str(last))
        state = restore(checkpoint, model, optimizer, scheduler, scaler, label_space,
                        str(last))
        log.info("resuming %s after epoch %d (step %d)", run_dir, state.epoch, state.step)
    return fit(model, criterion, postprocessor, optimizer, scheduler, loaders["train"],
               config=config, label_space=label_space, run_dir=run_dir,
               device=device, val_loader=loaders.get("val"), val_evaluator=val_eval,
               test_loader=loaders.get("test"), test_evaluator=test_eval, scaler=scaler,
               state=state, progress=progress)


def _check_steps(config: Config, data: RunData, num_batches: int) -> None:
    """A run whose training set fills no optimizer step is a ``DataError`` naming the file."""
    cfg = config.train
    if num_batches >= cfg.grad_accum_steps:
        return
    source = data.train.annotations.source
    skipped = " (images without pairs are dropped: data.train_skip_empty)" if (
        config.data.train_skip_empty) else ""
    held = f", {len(data.val)} held out for validation (data.val_size)" if data.val else ""
    raise DataError(
        f"{source}: {len(data.train)} training images with usable pairs{skipped}{held}; "
        f"train.batch_size={cfg.batch_size} needs at least {cfg.batch_size} for one optimizer "
        "step. Add annotated images, or lower --batch-size / data.val_size")


def _loaders(config: Config, data: RunData, device: torch.device) -> dict[str, DataLoader]:
    batch = per_process_batch(config)
    workers = config.data.num_workers
    pin = device.type == "cuda"
    out = {"train": train_loader(data.train, batch, collate, config.train.seed, workers, pin,
                                 worker_init_fn=seed_worker,
                                 aspect_grouping=config.data.aspect_grouping)}
    if data.val is not None:
        out["val"] = eval_loader(data.val, batch, collate, workers, pin)
    if data.test is not None:
        out["test"] = eval_loader(data.test, batch, collate, workers, pin)
    return out
