"""The training loop as two plain functions, DETR ``engine.py`` style: ``train_one_epoch``
runs the optimizer steps of one epoch, ``fit`` runs epochs, evaluates, checkpoints, selects
the best checkpoint on the validation set and evaluates the test split once at the end.

AMP, gradient accumulation, clipping, evaluation cadence and checkpointing are visible ``if``s.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from openhoi import checkpoint as ckpt_io
from openhoi.config import Config
from openhoi.engine.distributed import (
    all_gather_object,
    all_reduce_sum,
    barrier,
    get_rank,
    get_world_size,
    is_main_process,
    reduce_dict_mean,
    unwrap,
    wrap_ddp,
)
from openhoi.engine.evaluate import Evaluator, PostProcessor, evaluate, scalar_results
from openhoi.engine.metrics import MetricsLog, RunningMean
from openhoi.errors import CheckpointError, ConfigError
from openhoi.host_memory import apply_host_memory_env
from openhoi.label_space import LabelSpace
from openhoi.ops.dropout import set_fast_dropout
from openhoi.precision import autocast, outputs_to_float
from openhoi.structures import HOIRawOutput, HOITargets, ImageBatch

log = logging.getLogger(__name__)

Batch = tuple[ImageBatch, list[HOITargets]]
Criterion = Callable[[HOIRawOutput, list[HOITargets], float], dict[str, Tensor]]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names step, images and last checkpoint."""


@dataclass
class TrainState:
    """Progress of a run, stored in every checkpoint.

    Attributes:
        epoch: completed epochs (the next epoch to run, 0-based).
        step: completed optimizer steps.
        best_value: best validation ``train.best_metric`` so far (None: not evaluated yet).
        best_epoch: completed-epoch count at which ``best_value`` was reached.
        last_checkpoint: the latest checkpoint written (named when the loss diverges).
    """

    epoch: int = 0
    step: int = 0
    best_value: float | None = None
    best_epoch: int | None = None
    last_checkpoint: str | None = None

    def to_extra(self) -> dict[str, Any]:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch}


def amp_dtype_for(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype of ``train.amp`` on ``device`` (None: float32); see
    ``openhoi.precision.resolve_precision``."""
    from openhoi.precision import resolve_precision

    return resolve_precision(device, "fp32" if amp == "off" else amp)


def loader_epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """Seed of the data loader's generator (worker seeds, random transforms) for one epoch on
    one rank: a function of its arguments only, so a resumed run draws the same numbers."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


def _windows(loader: Iterable[Batch], size: int, count: int) -> Iterator[list[Batch]]:
    """``count`` consecutive groups of ``size`` micro-batches (a short tail is dropped)."""
    it = iter(loader)
    for _ in range(count):
        yield [next(it) for _ in range(size)]


def _check_finite(values: dict[str, float], batch_ids: list[str], epoch: int, step: int,
                  state: TrainState) -> None:
    if math.isfinite(values["loss"]):
        return
    ids = [i for ids in all_gather_object(batch_ids) for i in ids]
    terms = ", ".join(f"{k}={v:.4g}" for k, v in sorted(values.items()) if k != "loss")
    raise NonFiniteLossError(
        f"loss is {values['loss']} at epoch {epoch}, optimizer step {step} ({terms}); "
        f"batch images: {ids}; last good checkpoint: "
        f"{state.last_checkpoint or 'none (no epoch finished yet)'}")


def train_one_epoch(
    model: nn.Module,
    criterion: Criterion,
    loader: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    epoch: int,
    state: TrainState,
    *,
    grad_accum_steps: int = 1,
    clip_max_norm: float = 0.0,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    metrics: MetricsLog | None = None,
    log_every: int = 20,
    progress: bool = False,
) -> dict[str, float]:
    """One epoch of optimizer steps; returns the epoch means of the (rank-averaged) losses.

    Each optimizer step consumes ``grad_accum_steps`` micro-batches. Every loss term is
    normalised by ``num_pairs`` = ground-truth pairs of the whole step over all ranks divided
    by ``world_size * grad_accum_steps`` (at least 1), and each micro-batch's loss is divided
    by ``grad_accum_steps``: the summed (and DDP-averaged) gradient then equals that of one
    batch of every image of the step, whatever the split across ranks and accumulation steps
    (DETR normalises by the all-reduced box count the same way).

    Args:
        model: the model, DDP-wrapped in a distributed run.
        criterion: ``criterion(outputs, targets, num_pairs) -> {term: weighted loss}``.
        loader: yields ``(ImageBatch, list[HOITargets])`` micro-batches.
        state: updated in place (``step``).
    """
    model.train()
    if isinstance(criterion, nn.Module):
        criterion.train()
    scaler = scaler or torch.amp.GradScaler(device.type, enabled=False)
    num_steps = len(loader) // grad_accum_steps  # type: ignore[arg-type]
    world = get_world_size()
    params = [p for g in optimizer.param_groups for p in g["params"]]
    means = RunningMean()
    bar = tqdm(total=num_steps, desc=f"epoch {epoch}", disable=not progress, dynamic_ncols=True,
               unit="step", leave=False)
    for window in _windows(loader, grad_accum_steps, num_steps):
        t0 = time.perf_counter()
        local_pairs = sum(t.num_pairs for _, targets in window for t in targets)
        total_pairs = all_reduce_sum(torch.tensor(float(local_pairs), device=device)).item()
        num_pairs = max(total_pairs / (world * grad_accum_steps), 1.0)
        step_terms = RunningMean()
        for i, (images, targets) in enumerate(window):
            last = i == len(window) - 1
            ddp = isinstance(model, nn.parallel.DistributedDataParallel)
            # DDP all-reduces gradients in backward: only on the step's last micro-batch.
            sync = model.no_sync() if ddp and not last else contextlib.nullcontext()
            with sync:
                with autocast(device, amp_dtype):
                    raw = model(images.to(device, non_blocking=True))
                terms = criterion(outputs_to_float(raw), [t.to(device) for t in targets],
                                  num_pairs)
                loss = sum(terms.values())
                reduced = reduce_dict_mean({"loss": loss, **terms})  # same on every rank
                _check_finite(reduced, [t.image_id for t in targets], epoch, state.step + 1,
                              state)
                scaler.scale(loss / grad_accum_steps).backward()
            step_terms.update(reduced)
        scaler.unscale_(optimizer)
        max_norm = clip_max_norm if clip_max_norm > 0 else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1

        images_seen = sum(len(images) for images, _ in window) * world
        record = {**step_terms.means(), "grad_norm": grad_norm,
                  "images_per_s": images_seen / max(time.perf_counter() - t0, 1e-9)}
        means.update(record)
        bar.update(1)
        bar.set_postfix(loss=f"{means.means()['loss']:.4f}",
                        img_s=f"{record['images_per_s']:.1f}")
        if metrics is not None and state.step % log_every == 0:
            metrics.write("train_step", epoch, step=state.step, lr=_lrs(optimizer), **record)
    bar.close()
    return means.means()


def _lrs(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    return {g.get("name", str(i)): g["lr"] for i, g in enumerate(optimizer.param_groups)}


def _save(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
          scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler | None,
          config: Config, label_space: str | LabelSpace, state: TrainState) -> Path:
    """Gather every rank's RNG state, then write the checkpoint from rank 0."""
    rng = all_gather_object(ckpt_io.rng_state())
    if is_main_process():
        ckpt = ckpt_io.make_checkpoint(
            model=unwrap(model), config=config, label_space=label_space, optimizer=optimizer,
            scheduler=scheduler, scaler=scaler, epoch=state.epoch, step=state.step, rng=rng,
            extra=state.to_extra())
        ckpt_io.save_checkpoint(path, ckpt)
    barrier()
    return path


def restore(checkpoint: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler | None,
            label_space: str | LabelSpace, where: str = "checkpoint") -> TrainState:
    """Load weights, optimizer, scheduler, scaler and this rank's RNG state from a training
    checkpoint; returns the progress to continue from. Call before ``fit`` and after building
    everything else (model initialisation draws random numbers)."""
    ckpt_io.load_model_weights(unwrap(model), checkpoint, label_space, where)
    if checkpoint.get("optimizer") is None:
        raise CheckpointError(f"{where}: holds weights only; cannot resume training")
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    if scaler is not None and checkpoint.get("scaler"):
        scaler.load_state_dict(checkpoint["scaler"])
    rng = checkpoint.get("rng") or []
    if len(rng) == get_world_size():
        ckpt_io.set_rng_state(rng[get_rank()])
    else:
        log.warning("%s: written by %d processes, resumed on %d: random streams are not "
                    "restored (the run continues, but not bit-for-bit)", where, len(rng),
                    get_world_size())
    extra = checkpoint.get("extra", {})
    return TrainState(epoch=int(checkpoint["epoch"]), step=int(checkpoint["step"]),
                      best_value=extra.get("best_value"), best_epoch=extra.get("best_epoch"),
                      last_checkpoint=where)


def _set_epoch(loader: Any, epoch: int, seed: int) -> None:
    """Point the loader's sampler at ``epoch`` and reseed its generator for that epoch."""
    for sampler in (getattr(loader, "sampler", None),
                    getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
    generator = getattr(loader, "generator", None)
    if isinstance(generator, torch.Generator):
        generator.manual_seed(loader_epoch_seed(seed, epoch, get_rank()))


def _selection_value(results: dict[str, Any], key: str) -> float:
    numbers = scalar_results(results)
    if key in results and results[key] is None:
        raise ConfigError(f"train.best_metric={key!r} is undefined on the validation set (no "
                         "ground truth for it): choose another metric or a larger data.val_size")
    if key not in numbers:
        raise ConfigError(f"train.best_metric={key!r} is not among the evaluator's results "
                         f"{sorted(numbers)}")
    return numbers[key]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Tensor | np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def fit(
    model: nn.Module,
    criterion: Criterion,
    postprocessor: PostProcessor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    train_loader: Iterable[Batch],
    *,
    config: Config,
    label_space: str | LabelSpace,
    run_dir: str | Path,
    device: torch.device,
    val_loader: Iterable[Batch] | None = None,
    val_evaluator: Evaluator | None = None,
    test_loader: Iterable[Batch] | None = None,
    test_evaluator: Evaluator | None = None,
    scaler: torch.amp.GradScaler | None = None,
    state: TrainState | None = None,
    progress: bool = False,
) -> TrainState:
    """Train from ``state`` (fresh when None) to ``config.train.epochs``.

    After every epoch: validation every ``eval_every`` epochs and after the last one (when a
    validation loader is given), ``checkpoints/last.pt``, and ``checkpoints/best.pt`` when
    ``train.best_metric`` improved. At the end the selected weights (best, else last) go to
    ``model.safetensors`` and, with a test loader and ``train.eval_test``, the test split is
    evaluated once with them (``test_metrics.json``). Everything is logged to
    ``metrics.jsonl``.

    Args:
        model: the bare model (wrapped in DDP here when the run is distributed).
        label_space: the model's classes, embedded in checkpoints (so ``predict`` needs
            nothing else), or only their ``LabelSpace.fingerprint``.
        val_loader, test_loader: this rank's shard (``InferenceSampler``); evaluation runs
            when a loader is given.
        val_evaluator, test_evaluator: needed on rank 0 only, which scores the gathered
            predictions.
        run_dir: the run folder (``checkpoints/``, ``metrics.jsonl``...).
    Returns:
        The final ``TrainState``; ``model`` holds the selected weights.
    """
    cfg = config.train
    run_dir = Path(run_dir)
    if is_main_process():
        run_dir.mkdir(parents=True, exist_ok=True)
    metrics = MetricsLog(run_dir / "metrics.jsonl")
    state = state or TrainState()
    if state.epoch > 0:
        metrics.truncate_from_epoch(state.epoch)
    amp_dtype = amp_dtype_for(cfg.amp, device)
    if scaler is None:
        scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    set_fast_dropout(model, cfg.fast_dropout)
    apply_host_memory_env()  # no page faults for big tensors after the first step
    ddp_model = wrap_ddp(model, device, cfg.find_unused_parameters)
    for epoch in range(state.epoch, cfg.epochs):
        _set_epoch(train_loader, epoch, cfg.seed)
        t0 = time.perf_counter()
        stats = train_one_epoch(
            ddp_model, criterion, train_loader, optimizer, device, epoch, state,
            grad_accum_steps=cfg.grad_accum_steps, clip_max_norm=cfg.clip_max_norm,
            amp_dtype=amp_dtype, scaler=scaler, metrics=metrics, log_every=cfg.log_every,
            progress=progress)
        lrs = _lrs(optimizer)
        scheduler.step()
        state.epoch = epoch + 1
        seconds = time.perf_counter() - t0
        metrics.write("train_epoch", epoch, step=state.step, lr=lrs, seconds=seconds, **stats)
        log.info("epoch %d/%d: loss %.4f (%.0f s)", state.epoch, cfg.epochs, stats["loss"],
                 seconds)
        improved = False
        if val_loader is not None and (state.epoch % cfg.eval_every == 0
                                       or state.epoch == cfg.epochs):
            results = evaluate(model, postprocessor, val_loader, val_evaluator, device,
                               None, progress, desc=f"val epoch {epoch}")  # exact: float32
            value = _selection_value(results, cfg.best_metric)
            improved = state.best_value is None or value > state.best_value
            if improved:
                state.best_value, state.best_epoch = value, state.epoch
            metrics.write("val", epoch, step=state.step, best=improved,
                          **scalar_results(results))
        last = _save(run_dir / "checkpoints" / "last.pt", ddp_model, optimizer, scheduler,
                     scaler, config, label_space, state)
        state.last_checkpoint = str(last)
        if improved and is_main_process():
            ckpt_io.atomic_copy(last, last.parent / "best.pt")
        barrier()
    _finish(model, postprocessor, test_loader if cfg.eval_test else None, test_evaluator,
            config, label_space, run_dir, device, state, metrics, progress)
    return state


def _finish(model: nn.Module, postprocessor: PostProcessor, test_loader: Iterable[Batch] | None,
            test_evaluator: Evaluator | None, config: Config, label_space: str | LabelSpace,
            run_dir: Path, device: torch.device, state: TrainState, metrics: MetricsLog,
            progress: bool) -> None:
    """Load the selected weights (best, else last), export them to ``model.safetensors`` and
    evaluate the test split once with them."""
    cfg = config.train
    selected, selected_epoch = "last", state.epoch
    best_path = run_dir / "checkpoints" / "best.pt"
    if state.best_epoch is not None and best_path.is_file():
        selected_epoch = state.best_epoch
        ckpt_io.load_model_weights(unwrap(model), ckpt_io.load_checkpoint(best_path),
                                   label_space, str(best_path))
        selected = f"best (epoch {state.best_epoch}, {cfg.best_metric}={state.best_value:.4f})"
    if is_main_process():
        ckpt_io.save_safetensors(run_dir / "model.safetensors", unwrap(model), config,
                                 label_space)
    if test_loader is not None:
        results = evaluate(model, postprocessor, test_loader, test_evaluator, device,
                           None, progress, desc="test")  # exact: float32 whatever train.amp
        metrics.write("test", max(state.epoch - 1, 0), step=state.step, checkpoint=selected,
                      selected_epoch=selected_epoch, **scalar_results(results))
        if is_main_process():
            text = json.dumps({"checkpoint": selected, **_jsonable(results)}, indent=1)
            ckpt_io.atomic_write(run_dir / "test_metrics.json", lambda tmp: tmp.write_text(text))
    barrier()
