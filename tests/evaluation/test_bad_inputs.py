"""Every bad input of issue 13 through ``openhoi evaluate``: a named error and exit 2, or a
counted warning where the reference codes accept the input and score it."""

import json
import logging
import pickle

import pytest
from cases import predictions

from openhoi.cli import main
from openhoi.data.annotations import read_hoi_annotations
from openhoi.data.hicodet import read_hicodet
from openhoi.errors import DataError
from openhoi.evaluation.prediction_files import write_gen_vlkt_predictions, write_predictions
from openhoi.label_space import load_label_space

HICO = load_label_space("hicodet")
H, B = [0, 0, 99, 99], [200, 200, 249, 249]
HOLD = 493  # hold sports ball: verb id 37, COCO id 37


def _image(name, hois=((0, 1, 37),), boxes=((H, 1), (B, 37))):
    return {"file_name": name, "annotations": [{"bbox": list(b), "category_id": c}
                                               for b, c in boxes],
            "hoi_annotation": [{"subject_id": h, "object_id": o, "category_id": v}
                               for h, o, v in hois]}


@pytest.fixture
def files(tmp_path):
    gt = tmp_path / "test_hico.json"
    gt.write_text(json.dumps([_image("a.jpg"), _image("b.jpg")]))
    preds = tmp_path / "preds.json"
    write_gen_vlkt_predictions(preds, [predictions(n, [H, B], [(0, 1, HOLD, 0.9)])
                                       for n in ("a.jpg", "b.jpg")])
    return tmp_path, gt, preds


def _evaluate(gt, preds, *extra):
    return main(["evaluate", "--dataset", "hicodet", "--annotations", str(gt), "--predictions",
                 str(preds), "--output", str(gt.parent / "r.json"), *extra])


def _fails(capsys, gt, preds, *match):
    assert _evaluate(gt, preds) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for m in match:
        assert m in err, err


def test_ground_truth_without_any_instance(files, capsys):
    tmp, gt, preds = files
    gt.write_text(json.dumps([_image("a.jpg", hois=()), _image("b.jpg", hois=())]))
    _fails(capsys, gt, preds, str(gt), "none of its 2 images has a ground-truth HOI instance")


def test_predictions_that_all_miss_the_ground_truth(files, capsys):
    tmp, gt, preds = files
    write_gen_vlkt_predictions(preds, [predictions("x.jpg", [H, B], [(0, 1, HOLD, 0.9)])])
    _fails(capsys, gt, preds, "none of the 1 predicted images is in the ground truth",
           "'x.jpg'", "'a.jpg'")


@pytest.mark.parametrize("which", ["predictions", "ground truth", "jsonl"])
def test_binary_files(files, capsys, which):
    tmp, gt, preds = files
    blob = bytes(range(256)) * 4
    if which == "predictions":
        preds.write_bytes(blob)
        _fails(capsys, gt, preds, str(preds), "not valid JSON", "not UTF-8")
    elif which == "jsonl":
        preds = tmp / "p.jsonl"
        preds.write_bytes(blob)
        _fails(capsys, gt, preds, str(preds), "line 1 is not JSON")
    else:
        gt.write_bytes(blob)
        _fails(capsys, gt, preds, str(gt), "not valid JSON", "not UTF-8")


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04truncated", "half"])
def test_empty_or_truncated_npz(files, capsys, content):
    tmp, gt, _ = files
    preds = tmp / "p.npz"
    if content == "half":
        write_predictions(preds, [predictions("a.jpg", [H, B], [(0, 1, HOLD, 0.9)])], HICO)
        data = preds.read_bytes()
        preds.write_bytes(data[: len(data) // 2])
    else:
        preds.write_bytes(content)
    _fails(capsys, gt, preds, str(preds), "not a readable openhoi .npz file")


def test_gen_vlkt_string_literal_with_junk(files, capsys):
    tmp, gt, preds = files
    preds.write_text(json.dumps("{'preds': [{'filename': 'a.jpg',, junk ]}"))
    _fails(capsys, gt, preds, str(preds), "not a Python literal of GEN-VLKT's",
           "accepted layouts")


@pytest.mark.parametrize("which", ["predictions", "ground truth", "literal"])
def test_deeply_nested_json(files, capsys, which):
    tmp, gt, preds = files
    deep = "[" * 100_000 + "]" * 100_000
    if which == "predictions":
        preds.write_text(deep)
        _fails(capsys, gt, preds, str(preds), "nested too deeply")
    elif which == "literal":
        preds.write_text(json.dumps(deep + " junk"))
        _fails(capsys, gt, preds, str(preds), "not a Python literal")
    else:
        gt.write_text(deep)
        _fails(capsys, gt, preds, str(gt), "nested too deeply")


def test_string_ground_truth_box(files, capsys):
    tmp, gt, preds = files
    bad = _image("b.jpg", boxes=((H, 1), (["200", 200, 249, 249], 37)))
    gt.write_text(json.dumps([_image("a.jpg"), bad]))
    _fails(capsys, gt, preds, str(gt), "image 1 (b.jpg)", "'annotations[1].bbox'",
           "expected 4 numbers")
    assert _evaluate(gt, preds, "--skip-invalid") == 0  # b.jpg dropped, counted
    assert json.loads((gt.parent / "r.json").read_text())["num_images"] == 1


def test_negative_ground_truth_boxes_are_counted(files, caplog):
    tmp, gt, preds = files
    gt.write_text(json.dumps([_image("a.jpg", boxes=(([-5, -3, 99, 99], 1), (B, 37))),
                              _image("b.jpg")]))
    with caplog.at_level(logging.WARNING):
        assert _evaluate(gt, preds) == 0
    assert "1 boxes with negative coordinates, used as annotated (1 images; first: a.jpg)" in (
        caplog.text)


def test_out_of_image_box_with_stated_size_names_the_field(files, capsys):
    tmp, gt, preds = files
    gt.write_text(json.dumps([{**_image("a.jpg"), "height": 100, "width": 150},
                              _image("b.jpg")]))
    _fails(capsys, gt, preds, str(gt), "image 0 (a.jpg)", "'annotations[1].bbox'",
           "bbox outside the image")


def test_non_person_subject_is_counted(files, caplog):
    tmp, gt, preds = files
    gt.write_text(json.dumps([_image("a.jpg", boxes=((H, 2), (B, 37))), _image("b.jpg")]))
    with caplog.at_level(logging.WARNING):
        assert _evaluate(gt, preds) == 0
    assert "1 HOIs whose subject is not a person, used as annotated (1 images; first: a.jpg)" in (
        caplog.text)
    assert json.loads((gt.parent / "r.json").read_text())["per_class"]["ap"][HOLD] == (
        pytest.approx(1.0))  # evaluated as annotated


def test_verb_object_pair_that_is_no_class_is_counted(files, caplog):
    tmp, gt, preds = files
    # verb 37 "hold" with object "sports ball" is class 493; verb 76 "ride" with it is none
    gt.write_text(json.dumps([_image("a.jpg", hois=((0, 1, 37), (0, 1, 76))), _image("b.jpg")]))
    with caplog.at_level(logging.WARNING):
        assert _evaluate(gt, preds) == 0
    assert ("1 HOIs whose (verb, object) is not an interaction class of label space 'hicodet', "
            "left out of targets and ground truth (1 images; first: a.jpg)") in caplog.text
    assert json.loads((gt.parent / "r.json").read_text())["num_gt"] == 2


def test_duplicate_prediction_records_are_counted(files, caplog):
    tmp, gt, preds = files
    write_gen_vlkt_predictions(preds, [predictions("a.jpg", [H, B], [(0, 1, HOLD, 0.9)]),
                                       predictions("a.jpg", [H, B], [(0, 1, HOLD, 0.1)])])
    with caplog.at_level(logging.WARNING):
        assert _evaluate(gt, preds) == 0
    assert "1 prediction records repeat an image already predicted" in caplog.text
    res = json.loads((gt.parent / "r.json").read_text())
    assert res["num_duplicate_images"] == 1 and res["num_detections"] == 1


def test_duplicate_file_names_same_rule_in_train_and_evaluate(files, capsys, tmp_path):
    tmp, gt, preds = files
    images = [_image("a.jpg"), _image("b.jpg"), _image("a.jpg", hois=())]
    gt.write_text(json.dumps(images))
    _fails(capsys, gt, preds, str(gt), "image 2 (a.jpg): field 'file_name'",
           "repeats an earlier image")
    assert _evaluate(gt, preds, "--skip-invalid") == 0
    assert json.loads((gt.parent / "r.json").read_text())["num_images"] == 2
    # training reads with the same reader: refused, or the same image dropped
    root = tmp_path / "hico"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "trainval_hico.json").write_text(json.dumps(images))
    with pytest.raises(DataError, match="image 2 \\(a.jpg\\): field 'file_name'"):
        read_hicodet(root, "train", HICO)
    kept = read_hicodet(root, "train", HICO, skip_invalid=True)
    assert kept.indices.tolist() == [0, 1]
    assert read_hoi_annotations(gt, HICO, skip_invalid=True).indices.tolist() == [0, 1]


def test_jsonl_errors_count_blank_lines(files, capsys):
    tmp, gt, _ = files
    preds = tmp / "p.jsonl"
    write_predictions(preds, [predictions("a.jpg", [H, B], [(0, 1, HOLD, 0.9)])], HICO)
    header, record = preds.read_text().splitlines()
    preds.write_text("\n".join([header, "", record, "", "{oops"]) + "\n")
    _fails(capsys, gt, preds, f"{preds}: line 5 is not JSON")
    bad = json.loads(record)
    bad["scores"] = ["0.9"]
    preds.write_text("\n".join([header, "", json.dumps(bad)]) + "\n")
    _fails(capsys, gt, preds, f"{preds}: line 3 (image 'a.jpg'): field 'scores' is not numeric")


def test_vcoco_pickle_that_is_not_one(tmp_path, capsys):
    from vcoco_cases import write_files

    coco, vcoco, ids = write_files(tmp_path, [(7, 640, 480)],
                                   [(1, 7, 1, [10, 10, 50, 100], 5000.0, False)], {1: {}})
    bad = tmp_path / "d.pkl"
    bad.write_bytes(pickle.dumps({"not": "a list"})[:5])
    assert main(["evaluate", "--dataset", "vcoco", "--coco", str(coco), "--vcoco", str(vcoco),
                 "--ids", str(ids), "--predictions", str(bad)]) == 2
    assert "not a readable detections pickle" in capsys.readouterr().err
