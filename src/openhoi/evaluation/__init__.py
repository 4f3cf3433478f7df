"""Evaluators of HICO-DET, V-COCO and HOI recognition, bit-exact to the reference protocols.

Each evaluator follows ``reset() / process(predictions) / evaluate() -> dict`` (detectron2).
"""

from openhoi.evaluation.hico_map import HICODetEvaluator

__all__ = ["HICODetEvaluator"]
