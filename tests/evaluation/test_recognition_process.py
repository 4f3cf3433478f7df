import numpy as np
import torch

from openhoi.evaluation.recognition_map import HOIRecognitionEvaluator
from openhoi.label_space import load_label_space
from openhoi.structures import RecognitionPredictions


def test_process_predictions_equals_process_ids_and_scores():
    space = load_label_space("synthetic")
    rng = np.random.default_rng(0)
    labels = rng.choice([1.0, -1.0, 0.0], size=(6, space.num_interactions), p=[0.3, 0.6, 0.1])
    ids = [f"im{i}" for i in range(6)]
    scores = rng.random((6, space.num_interactions))
    a = HOIRecognitionEvaluator(ids, labels, space, train_counts=[1] * space.num_interactions)
    a.process_scores(ids, scores)
    b = HOIRecognitionEvaluator(ids, labels, space, train_counts=[1] * space.num_interactions)
    b.process([RecognitionPredictions(torch.tensor(s), n) for n, s in zip(ids, scores)])
    ra, rb = a.evaluate(), b.evaluate()
    assert ra["mAP"] == rb["mAP"] and ra["mAP_few@1"] == rb["mAP_few@1"]
    assert rb["num_images_scored"] == 6 and 0 < rb["mAP"] < 1
