"""A recognition training run (``model.architecture: defr``): image-level data, the family's
model/criterion/post-processor, the recognition evaluator, then the same ``fit`` as detection.

Until the model-family contract lands this module is where the engine meets a recognition
family; it reuses ``fit``, the loaders, optimiser, scheduler, checkpoints and run folder of
``engine/run.py`` (same layout: config.yaml, run.json, metrics.jsonl, checkpoints/,
model.safetensors, test_metrics.json).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openhoi import checkpoint as ckpt_io
from openhoi.config import Config, save_config
from openhoi.data.dataset import resolve_label_space
from openhoi.data.loader import seed_worker
from openhoi.data.recognition import (
    ImageLevelSplit,
    RecognitionDataset,
    build_recognition_data,
    recognition_collate,
    recognition_transforms,
)
from openhoi.engine.distributed import get_rank, is_main_process
from openhoi.engine.loaders import eval_loader, train_loader
from openhoi.engine.optim import build_optimizer, build_scheduler
from openhoi.engine.run import (
    _check_resume_config,
    _write_run_json,
    per_process_batch,
    seed_everything,
)
from openhoi.engine.train import TrainState, amp_dtype_for, fit, restore
from openhoi.evaluation.recognition_map import HOIRecognitionEvaluator
from openhoi.label_space import LabelSpace
from openhoi.models.build import build_model_parts
from openhoi.models.contract import HOIModel, ModelParts

log = logging.getLogger(__name__)


def is_recognition(config: Config) -> bool:
    """Whether the config's model family is an image-level recognizer (its config class says
    ``task = "recognition"``): such runs read image-level labels."""
    return getattr(config.model, "task", "detection") == "recognition"


def model_transform(model: HOIModel, config: Config, train: bool):
    """The input pipeline of ``model`` (size, normalisation) with the config's augmentation."""
    a = config.model.input
    return recognition_transforms(model.image_size, model.pixel_mean, model.pixel_std,
                                  train=train, flip_prob=a.flip_prob, brightness=a.brightness,
                                  contrast=a.contrast, crop_scale=a.crop_scale,
                                  crop_ratio=a.crop_ratio)


def recognition_evaluator(split: ImageLevelSplit, space: LabelSpace,
                          train_counts: np.ndarray | None) -> HOIRecognitionEvaluator:
    return HOIRecognitionEvaluator(split.image_ids, split.labels, space, train_counts)


def train_recognition_run(config: Config, run_dir: str | Path, device: torch.device, *,
                          resume: bool = False, progress: bool = False) -> TrainState:
    """``train_run`` for a recognition family (same run folder, same ``fit``)."""
    run_dir = Path(run_dir)
    space = resolve_label_space(config.data)
    batch = per_process_batch(config)
    last = run_dir / "checkpoints" / "last.pt"
    checkpoint = ckpt_io.load_checkpoint(last) if resume else None
    seed_everything(config.train.seed)
    parts = build_model_parts(config, space, device, pretrained=not resume)
    model = parts.model
    seed_everything(config.train.seed + get_rank())
    optimizer = build_optimizer(model, config.train, parts.group_lrs)
    scheduler = build_scheduler(optimizer, config.train)
    amp_dtype = amp_dtype_for(config.train.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    data = build_recognition_data(config.data, space, with_test=config.train.eval_test)
    workers, pin = config.data.num_workers, device.type == "cuda"
    train_ds = RecognitionDataset(data.train, model_transform(model, config, train=True))
    loaders: dict[str, Any] = {"train": train_loader(train_ds, batch, recognition_collate,
                                                     config.train.seed, workers, pin,
                                                     worker_init_fn=seed_worker)}
    test_tf = model_transform(model, config, train=False)
    evaluators: dict[str, HOIRecognitionEvaluator | None] = {"val": None, "test": None}
    for name, split in (("val", data.val), ("test", data.test)):
        if split is None:
            continue
        loaders[name] = eval_loader(RecognitionDataset(split, test_tf), batch,
                                    recognition_collate, workers, pin)
        if is_main_process():
            evaluators[name] = recognition_evaluator(split, space, data.train_counts)
    if is_main_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")
        _write_run_json(run_dir, config, space, device, data.summary, resume)
    state = None
    if checkpoint is not None:
        _check_resume_config(config, checkpoint, str(last))
        state = restore(checkpoint, model, optimizer, scheduler, scaler, space, str(last))
    return fit(model, parts.criterion, parts.postprocess, optimizer, scheduler,
               loaders["train"], config=config, label_space=space, run_dir=run_dir,
               device=device, val_loader=loaders.get("val"), val_evaluator=evaluators["val"],
               test_loader=loaders.get("test"), test_evaluator=evaluators["test"],
               scaler=scaler, state=state, progress=progress)


def evaluate_recognition(config: Config, parts: ModelParts, space: LabelSpace,
                         device: torch.device, batch_size: int = 8,
                         progress: bool = False) -> dict[str, Any]:
    """Score ``parts`` on the test split of ``config.data`` (Few@k from the training split's
    counts after ``data.rare_cap``): a trained checkpoint, or an untrained zero-shot model."""
    from openhoi.engine.evaluate import evaluate

    data = build_recognition_data(config.data, space, with_test=True)
    model = parts.model.to(device)
    loader = eval_loader(RecognitionDataset(data.test, model_transform(model, config, False)),
                         batch_size, recognition_collate, config.data.num_workers)
    ev = recognition_evaluator(data.test, space, data.train_counts)
    return evaluate(model, parts.postprocess, loader, ev, device, progress=progress,
                    desc="test")
