"""Evaluation loop: run the model over a (sharded) loader, post-process, gather every rank's
predictions, score them with an evaluator on rank 0 and hand the result to every rank.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from openhoi.engine.distributed import (
    all_gather_object,
    broadcast_object,
    is_main_process,
    unwrap,
)
from openhoi.precision import autocast, outputs_to_float
from openhoi.structures import HOIPredictions, HOIRawOutput, HOITargets, ImageBatch

log = logging.getLogger(__name__)

PostProcessor = Callable[[HOIRawOutput, Tensor, Sequence[str]], list[HOIPredictions]]


class Evaluator(Protocol):
    """What the engine needs of an evaluator (``openhoi.evaluation``)."""

    def reset(self) -> None: ...

    def process(self, predictions: Sequence[HOIPredictions]) -> None: ...

    def evaluate(self) -> dict[str, Any]: ...


@torch.no_grad()
def predict_loader(
    model: nn.Module,
    postprocessors: Mapping[str, PostProcessor],
    loader: Iterable[tuple[ImageBatch, list[HOITargets]]],
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    progress: bool = False,
    desc: str = "predict",
) -> dict[str, list[HOIPredictions]]:
    """This rank's predictions (on the CPU) for every image of ``loader``, in loader order,
    by each post-processor from the same forward pass. A model with an ``inference_view``
    (``HOIModel``) runs as that view (the same outputs to float rounding, less work), without
    the extras that no post-processor reads."""
    model = unwrap(model)
    was_training = model.training
    model.eval()
    runner = model
    view = getattr(model, "inference_view", None)
    if view is not None:
        reads_extras = any(getattr(p, "reads_extras", True) for p in postprocessors.values())
        runner = view(extras=reads_extras)
    out: dict[str, list[HOIPredictions]] = {name: [] for name in postprocessors}
    for images, targets in tqdm(loader, desc=desc, disable=not progress, leave=False,
                                dynamic_ncols=True):
        with autocast(device, amp_dtype):
            raw = outputs_to_float(runner(images.to(device, non_blocking=True)))
        orig_sizes = torch.tensor([t.orig_size for t in targets], device=device)  # [B, 2] (h, w)
        ids = [t.image_id for t in targets]
        for name, postprocess in postprocessors.items():
            out[name].extend(p.to("cpu") for p in postprocess(raw, orig_sizes, ids))
    model.train(was_training)
    return out


def scalar_results(results: dict[str, Any]) -> dict[str, float]:
    """The top-level numbers of an evaluator's result (for logs and model selection)."""
    out = {}
    for k, v in results.items():
        if isinstance(v, bool):
            continue
        if isinstance(v, int | float | np.floating | np.integer):
            out[k] = float(v)
        elif isinstance(v, Tensor) and v.numel() == 1:
            out[k] = float(v)
    return out


def evaluate_variants(
    model: nn.Module,
    postprocessors: Mapping[str, PostProcessor],
    loader: Iterable[tuple[ImageBatch, list[HOITargets]]],
    evaluator: Evaluator | None,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    progress: bool = False,
    desc: str = "eval",
) -> dict[str, dict[str, Any]]:
    """Score several post-processors (e.g. a sweep of score-fusion settings) from one forward
    pass per batch: predict on this rank's shard, gather the shards on rank 0, evaluate each
    variant there, and return ``{variant: evaluator result}`` on every rank.

    Sweep on the validation set (``data.val_size``), never on the test split. ``loader`` must
    give each image to exactly one rank (``InferenceSampler``): shards are concatenated in rank
    order and an image id seen twice is an error. ``evaluator`` is used (and required) on rank
    0 only.
    """
    local = predict_loader(model, postprocessors, loader, device, amp_dtype, progress, desc)
    shards = all_gather_object(local)
    results: dict[str, dict[str, Any]] | None = None
    if is_main_process():
        if evaluator is None:
            raise ValueError(f"{desc}: rank 0 needs an evaluator")
        results = {}
        for name in postprocessors:
            preds = [p for shard in shards for p in shard[name]]
            ids = [p.image_id for p in preds]
            if len(set(ids)) != len(ids):
                raise RuntimeError(f"{desc}: some images were predicted twice; the loader's "
                                   "sampler must shard without padding (InferenceSampler)")
            evaluator.reset()
            evaluator.process(preds)
            results[name] = evaluator.evaluate()
            scores = {k: round(v, 4) for k, v in scalar_results(results[name]).items()}
            log.info("%s%s: %s", desc, f" [{name}]" if len(postprocessors) > 1 else "", scores)
    return broadcast_object(results)


def evaluate(
    model: nn.Module,
    postprocessor: PostProcessor,
    loader: Iterable[tuple[ImageBatch, list[HOITargets]]],
    evaluator: Evaluator | None,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    progress: bool = False,
    desc: str = "eval",
) -> dict[str, Any]:
    """``evaluate_variants`` with one post-processor: the evaluator's result on every rank."""
    return evaluate_variants(model, {"": postprocessor}, loader, evaluator, device, amp_dtype,
                             progress, desc)[""]
