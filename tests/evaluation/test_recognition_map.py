"""Recognition mAP (HICO protocol) and anno.mat readers, on hand-computed cases."""

import numpy as np
import pytest
import torch
from cases import predictions, targets
from scipy.io import savemat

from openhoi.errors import DataError, OpenHOIError
from openhoi.evaluation import HICODetEvaluator
from openhoi.evaluation.hico_files import read_hico_classification, read_hico_known_objects
from openhoi.evaluation.recognition_map import HOIRecognitionEvaluator
from openhoi.label_space import load_label_space

S = load_label_space("synthetic")
NUM_I = S.num_interactions
NAMES = ["a", "b", "c", "d"]


def _run(labels0, scores0, names=NAMES, train_counts=None, scored=None):
    labels = -np.ones((len(NAMES), NUM_I))
    labels[:, 0] = labels0
    scores = np.zeros((len(NAMES), NUM_I))
    scores[:, 0] = scores0
    ev = HOIRecognitionEvaluator(NAMES, labels, S, train_counts)
    keep = [k for k, n in enumerate(NAMES) if scored is None or n in scored]
    ev.process_scores([NAMES[k] for k in keep], scores[keep])
    return ev.evaluate()


def test_ranking_and_11_point_ap():
    # ranked a (pos), b (neg), c (pos), d (neg): rec .5 .5 1 1, prec 1 .5 2/3 .5
    res = _run([1, -1, 1, -1], [0.9, 0.8, 0.7, 0.1])
    assert res["per_class"]["ap"][0] == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-15)
    assert res["per_class"]["ap"][1] == 0.0  # no positives
    assert res["mAP"] == pytest.approx(res["per_class"]["ap"][0] / NUM_I)


def test_ambiguous_left_out_unknown_negative():
    assert _run([1, 0, 1, -1], [0.9, 0.8, 0.7, 0.1])["per_class"]["ap"][0] == pytest.approx(1.0)
    nan = _run([1, np.nan, 1, -1], [0.9, 0.8, 0.7, 0.1])["per_class"]["ap"][0]
    assert nan == _run([1, -1, 1, -1], [0.9, 0.8, 0.7, 0.1])["per_class"]["ap"][0]


def test_ties_keep_image_order_and_unscored_images_rank_last():
    assert _run([1, -1, -1, -1], [0.5, 0.5, 0, 0])["per_class"]["ap"][0] == pytest.approx(1.0)
    assert _run([-1, 1, -1, -1], [0.5, 0.5, 0, 0])["per_class"]["ap"][0] == pytest.approx(0.5)
    # "a" is positive but never scored: it ranks after every scored image
    res = _run([1, -1, -1, -1], [0.9, 0.1, 0.1, 0.1], scored={"b", "c", "d"})
    assert res["per_class"]["ap"][0] == pytest.approx(0.25) and res["num_images_scored"] == 3


def test_few_shot_means():
    counts = np.arange(NUM_I) * 3  # class 0: 0 training images, 1: 3, 2: 6, 3: 9, 4: 12
    res = _run([1, -1, -1, -1], [0.9, 0.1, 0.1, 0.1], train_counts=counts)
    assert res["mAP_few@1"] == pytest.approx(1.0)  # class 0 only
    assert res["mAP_few@5"] == pytest.approx(0.5)  # classes 0, 1
    assert res["mAP_few@10"] == pytest.approx(0.25)  # classes 0..3


def test_labels_from_detection_ground_truth_and_detector_scores():
    h, b = [0, 0, 9, 9], [20, 20, 29, 29]
    tg = [targets("a", [h, b], [0, 1], [(0, 1, 0)], S), targets("b", [h, b], [0, 1], [(0, 1, 1)],
                                                                    S)]
    ev = HOIRecognitionEvaluator.from_targets(tg, S)
    ev.process_detections([predictions("a", [h, b], [(0, 1, 0, 0.9), (0, 1, 0, 0.2)]),
                           predictions("b", [h, b], [(0, 1, 0, 0.5), (0, 1, 1, 0.4)])])
    res = ev.evaluate()
    assert res["per_class"]["ap"][:2] == [pytest.approx(1.0), pytest.approx(1.0)]
    assert res["per_class"]["num_pos"][:3] == [1, 1, 0]


def test_bad_shapes_and_scores():
    with pytest.raises(OpenHOIError, match="shape"):
        HOIRecognitionEvaluator(NAMES, np.zeros((4, 3)), S)
    ev = HOIRecognitionEvaluator(NAMES, np.zeros((4, NUM_I)), S)
    with pytest.raises(OpenHOIError, match="'b' are not all finite"):
        ev.process_scores(["a", "b"], torch.tensor([[0.0] * NUM_I, [float("nan")] * NUM_I]))


def _anno_mat(path, space, test_names, test_labels, train_labels):
    cell = lambda names: np.array([[n] for n in names], dtype=object)  # noqa: E731
    savemat(str(path), {"list_test": cell(test_names), "anno_test": test_labels,
                        "list_train": cell([f"t{k}" for k in range(train_labels.shape[1])]),
                        "anno_train": train_labels})
    return path


def test_anno_mat_readers_and_known_object_evaluation(tmp_path):
    test = np.full((NUM_I, 2), np.nan)
    test[0, 0] = test[4, 0] = 1  # image "a": hold sports ball, fly kite -> objects 1, 2
    test[4, 1] = 1  # image "b": fly kite -> knows object 2
    test[7, 1] = 0  # ambiguous does not make an object known
    train = -np.ones((NUM_I, 3))
    train[0, :2] = 1
    path = _anno_mat(tmp_path / "anno.mat", S, ["a", "b"], test, train)
    known = read_hico_known_objects(path, S)
    assert known == {"a": {1, 2}, "b": {2}}
    names, labels, counts = read_hico_classification(path, S)
    assert names == ["a", "b"] and labels.shape == (2, NUM_I) and counts[0] == 2 and counts[1] == 0
    # Known-Object with anno.mat labels: image "b" is labelled with a kite but has no GT pair
    h, b = [0, 0, 99, 99], [200, 200, 249, 249]
    tg = [targets("a", [h, b], [0, 2], [(0, 1, 4)], S), targets("b", [h], [0], [], S)]
    pr = [predictions("b", [h, b], [(0, 1, 4, 0.9)]), predictions("a", [h, b], [(0, 1, 4, .8)])]
    default = HICODetEvaluator(tg, S, protocol="official")
    labelled = HICODetEvaluator(tg, S, protocol="official", known_objects=known)
    for ev in (default, labelled):
        ev.process([type(p)(*[t - 1 if k == 0 else t for k, t in enumerate(
            (p.boxes_xyxy, p.labels, p.pair_idx, p.interactions, p.scores))], p.image_id)
            for p in pr])
    assert default.evaluate()["per_class"]["ap_ko"][4] == pytest.approx(1.0)  # "b" dropped
    assert labelled.evaluate()["per_class"]["ap_ko"][4] == pytest.approx(0.5)  # "b" counts


def test_anno_mat_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_hico_known_objects(tmp_path / "none.mat", S)
    path = _anno_mat(tmp_path / "x.mat", S, ["a"], np.zeros((5, 1)), np.zeros((5, 1)))
    with pytest.raises(DataError, match=r"anno_test has shape \(5, 1\), expected \(13, 1\)"):
        read_hico_known_objects(path, S)
