"""Evaluators of HICO-DET, V-COCO and HOI recognition, bit-exact to the reference protocols.

Each evaluator follows ``reset() / process(predictions) / evaluate() -> dict`` (detectron2);
``evaluate`` returns JSON-serialisable summaries (fractions in [0, 1]) and per-class APs.
Nothing here imports torch until a tensor is handed in: files are scored with numpy alone.
"""

from openhoi.evaluation.hico_map import HICODetEvaluator
from openhoi.evaluation.prediction_arrays import PredictionArrays
from openhoi.evaluation.prediction_files import (
    read_prediction_arrays,
    read_predictions,
    write_predictions,
)
from openhoi.evaluation.recognition_map import HOIRecognitionEvaluator
from openhoi.evaluation.vcoco_ap import VCOCOEvaluator
from openhoi.evaluation.vcoco_files import read_vcoco_ground_truth, read_vsrl_detections

__all__ = [
    "HICODetEvaluator",
    "HOIRecognitionEvaluator",
    "PredictionArrays",
    "VCOCOEvaluator",
    "read_prediction_arrays",
    "read_predictions",
    "read_vcoco_ground_truth",
    "read_vsrl_detections",
    "write_predictions",
]
