"""The evaluator of a run, chosen from the model's task and the dataset (the one place that
chooses; the engine and ``openhoi evaluate --checkpoint`` call it).

Every evaluator has the same interface: ``reset()``, ``process(predictions)`` with the
post-processor's per-image predictions, ``evaluate() -> dict`` of metrics (top-level numbers
plus per-class lists).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openhoi.config import Config
from openhoi.errors import ConfigError
from openhoi.label_space import LabelSpace


def build_evaluator(config: Config, targets: Sequence[Any], label_space: LabelSpace,
                    task: str = "detection") -> Any:
    """The evaluator over ``targets`` (the ground truth of the images to score).

    Args:
        config: the run's config (``data.dataset``, ``data.zero_shot``, ``eval``).
        targets: per-image ground truth (``HOITargets``).
        task: the model's ``HOIModel.task``: ``detection`` is scored with the benchmark's
            detection protocol (HICO-DET mAP, Unseen/Seen with a zero-shot split);
            ``recognition`` with image-level mAP (Full, Few@1/5/10).
    """
    if task == "recognition":
        from openhoi.evaluation.recognition_map import HOIRecognitionEvaluator

        return HOIRecognitionEvaluator.from_targets(targets, label_space)
    if task != "detection":
        raise ConfigError(f"no evaluator for model task {task!r}")
    if config.data.dataset == "vcoco":
        raise ConfigError(
            "data.dataset=vcoco: evaluation during training needs V-COCO's own ground-truth "
            "files, not supported yet: train with data.val_size=0 and train.eval_test=false, "
            "then score the predictions with `openhoi evaluate --dataset vcoco`")
    from openhoi.evaluation.hico_map import HICODetEvaluator

    return HICODetEvaluator(targets, label_space, protocol=config.eval.protocol,
                            zero_shot=config.data.zero_shot)
