"""The evaluator of a run, chosen from the model's task and the dataset (the one place that
chooses; the engine and ``openhoi evaluate --checkpoint`` call it).

Every evaluator has the same interface: ``reset()``, ``process(predictions)`` with the
post-processor's per-image predictions, ``evaluate() -> dict`` of metrics (top-level numbers
plus per-class lists).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openhoi.config import Config
from openhoi.errors import ConfigError
from openhoi.label_space import LabelSpace


def build_evaluator(config: Config, targets: Sequence[Any], label_space: LabelSpace,
                    task: str = "detection", split: str = "val") -> Any:
    """The evaluator over ``targets`` (the ground truth of the images to score).

    Args:
        config: the run's config (``data.dataset``, ``data.zero_shot``, ``eval``).
        targets: per-image ground truth (``HOITargets``).
        task: the model's ``HOIModel.task``: ``detection`` is scored with the benchmark's
            detection protocol (HICO-DET mAP, Unseen/Seen with a zero-shot split; V-COCO agent
            and role AP); ``recognition`` with image-level mAP (Full, Few@1/5/10).
        split: ``val`` or ``test``: V-COCO's test split is scored against the official files
            when ``eval.vcoco_*`` name them, anything else against ``targets``.
    """
    if task == "recognition":
        from openhoi.evaluation.recognition_map import HOIRecognitionEvaluator

        return HOIRecognitionEvaluator.from_targets(targets, label_space)
    if task != "detection":
        raise ConfigError(f"no evaluator for model task {task!r}")
    if config.data.dataset == "vcoco":
        return _vcoco_evaluator(config, targets, label_space, split)
    from openhoi.evaluation.hico_map import HICODetEvaluator

    return HICODetEvaluator(targets, label_space, protocol=config.eval.protocol,
                            zero_shot=config.data.zero_shot)


def _vcoco_evaluator(config: Config, targets: Sequence[Any], label_space: LabelSpace,
                     split: str) -> Any:
    from openhoi.evaluation.vcoco_ap import VCOCOEvaluator

    ev = config.eval
    if split == "test" and ev.vcoco_coco_file is not None:
        from openhoi.evaluation.vcoco_files import read_vcoco_ground_truth

        root = Path(config.data.root or ".")
        coco, vcoco, ids = (root / f for f in (ev.vcoco_coco_file, ev.vcoco_test_file,
                                                ev.vcoco_test_ids))
        return VCOCOEvaluator(read_vcoco_ground_truth(coco, vcoco, ids), label_space)
    from openhoi.evaluation.vcoco_targets import vcoco_ground_truth_from_targets

    return VCOCOEvaluator(vcoco_ground_truth_from_targets(targets, label_space), label_space)
