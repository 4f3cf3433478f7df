"""Prediction files: openhoi's formats round-trip; GEN-VLKT / HOICLIP / PPDM files are read;
malformed files fail naming the file, the record and the field."""

import json

import numpy as np
import pytest
import torch
from cases import predictions

from openhoi.errors import PredictionFileError
from openhoi.evaluation.prediction_files import (
    read_predictions,
    write_gen_vlkt_predictions,
    write_predictions,
)
from openhoi.label_space import load_label_space

S = load_label_space("synthetic")
HICO = load_label_space("hicodet")
BOXES = [[0.5, 1.25, 99.75, 120.0], [200.1, 200.2, 249.3, 250.4], [10, 10, 20, 20]]
PREDS = [predictions("a.jpg", BOXES, [(0, 1, 0, 0.875), (0, 2, 5, 0.3), (0, 1, 12, 1e-7)]),
         predictions("b.jpg", [], [])]


def _same(a, b):
    assert [p.image_id for p in a] == [p.image_id for p in b]
    for p, q in zip(a, b):
        for f in ("boxes_xyxy", "pair_idx", "interactions", "scores"):
            assert torch.equal(getattr(p, f).reshape(getattr(q, f).shape), getattr(q, f)), f


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".npz"])
def test_openhoi_formats_round_trip_exactly(tmp_path, suffix):
    path = tmp_path / f"preds{suffix}"
    write_predictions(path, PREDS, S)
    back = read_predictions(path, S)
    _same(PREDS, back)
    assert back[0].scores.dtype == torch.float32


def test_gen_vlkt_records_round_trip(tmp_path):
    path = tmp_path / "gen.json"
    write_gen_vlkt_predictions(path, PREDS)
    _same(PREDS, read_predictions(path, S))


def _gen_vlkt_image(name="HICO_test2015_00000001.jpg"):
    return {"filename": name,
            "predictions": [{"bbox": [1.5, 2.5, 50.0, 60.0]}, {"bbox": [30.0, 40.0, 90.0, 99.0]}],
            "hoi_prediction": [{"subject_id": 0, "object_id": 1, "category_id": 152,
                                "score": 0.25}]}


def test_gen_vlkt_python_literal_file(tmp_path):
    # HICOEvaluator writes json.dumps(str({'preds': ..., 'gts': ...})); numpy 2 reprs too.
    img = _gen_vlkt_image()
    text = str({"preds": [img], "gts": []}).replace("0.25", "np.float32(0.25)")
    path = tmp_path / "results.json"
    path.write_text(json.dumps(text))
    (p,) = read_predictions(path, HICO)
    assert p.image_id == "HICO_test2015_00000001.jpg"
    assert p.interactions.tolist() == [152] and p.scores.tolist() == [0.25]
    assert p.boxes_xyxy.tolist() == [[1.5, 2.5, 50.0, 60.0], [30.0, 40.0, 90.0, 99.0]]


def test_verb_conventions(tmp_path):
    # interaction 152 of HICO-DET = (verb "ride" 76, object "motorcycle" 3): COCO id 4.
    verb, obj = HICO.interactions[152]
    img = _gen_vlkt_image()
    img["predictions"][0]["category_id"] = HICO.human_label
    img["predictions"][1]["category_id"] = obj
    img["hoi_prediction"][0]["category_id"] = verb
    img["hoi_prediction"].append({"subject_id": 0, "object_id": 1, "category_id": 0,
                                  "score": 0.1})  # (board, motorcycle): not a class, dropped
    path = tmp_path / "qpic.json"
    path.write_text(json.dumps([img]))
    (p,) = read_predictions(path, HICO, labels="verb")
    assert p.interactions.tolist() == [152] and p.labels.tolist() == [HICO.human_label, obj]
    img["file_name"] = img.pop("filename")  # PPDM: annotation-file ids
    img["predictions"][1]["category_id"] = HICO.object_ids[obj]
    img["predictions"][0]["category_id"] = HICO.object_ids[HICO.human_label]
    img["hoi_prediction"][0]["category_id"] = HICO.verb_ids[verb]
    img["hoi_prediction"][1]["category_id"] = HICO.verb_ids[0]
    path.write_text(json.dumps([img]))
    (p,) = read_predictions(path, HICO, labels="verb_id")
    assert p.interactions.tolist() == [152] and p.labels.tolist() == [HICO.human_label, obj]


def _write(tmp_path, doc, name="bad.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.pop("hoi_prediction"), "record 0 .*missing list field 'hoi_prediction'"),
    (lambda d: d.pop("filename"), "record 0: missing field 'filename'"),
    (lambda d: d["hoi_prediction"][0].pop("score"), "lacks field 'score'"),
    (lambda d: d["hoi_prediction"][0].update(subject_id=7),
     "'hoi_prediction subject_id/object_id' entry 0 must index the 2 boxes"),
    (lambda d: d["hoi_prediction"][0].update(category_id=600),
     r"'hoi_prediction category_id' entry 0 must be in \[0, 600\)"),
    (lambda d: d["hoi_prediction"][0].update(score=float("nan")),
     "'hoi_prediction score' entry 0 must be finite"),
    (lambda d: d["hoi_prediction"][0].update(score="high"), "non-numeric"),
    (lambda d: d["hoi_prediction"][0].update(object_id=1.5), "must be integers"),
])
def test_malformed_gen_vlkt_files_name_file_record_and_field(tmp_path, mutate, match):
    img = _gen_vlkt_image()
    mutate(img)
    path = _write(tmp_path, [img])
    with pytest.raises(PredictionFileError, match=match) as err:
        read_predictions(path, HICO)
    assert str(path) in str(err.value)


def test_malformed_openhoi_files(tmp_path):
    path = tmp_path / "p.json"
    write_predictions(path, PREDS, S)
    doc = json.loads(path.read_text())
    with pytest.raises(PredictionFileError, match="'label_space'.*another label space"):
        read_predictions(path, HICO)
    doc["images"][0]["scores"][1] = None
    with pytest.raises(PredictionFileError, match=r"images\[0\] \(image 'a.jpg'\).*'scores'"):
        read_predictions(_write(tmp_path, doc), S)
    doc["images"][0]["scores"][1] = 0.5
    doc["images"][0]["pair_idx"] = [[0, 1], [0, 2]]
    with pytest.raises(PredictionFileError, match="pair_idx, interactions and scores have 2, 3"):
        read_predictions(_write(tmp_path, doc), S)
    del doc["images"][0]["interactions"]
    with pytest.raises(PredictionFileError, match="missing field 'interactions'"):
        read_predictions(_write(tmp_path, doc), S)
    doc["version"] = 9
    with pytest.raises(PredictionFileError, match="'version' is 9"):
        read_predictions(_write(tmp_path, doc), S)


def test_unreadable_files(tmp_path):
    with pytest.raises(PredictionFileError, match="no such predictions file"):
        read_predictions(tmp_path / "missing.json", S)
    with pytest.raises(PredictionFileError, match="not valid JSON"):
        read_predictions(_write(tmp_path, "{oops", "x.json"), S)
    with pytest.raises(PredictionFileError, match="line 2 is not JSON"):
        read_predictions(_write(tmp_path, '{"format": 1}\n{oops\n', "x.jsonl"), S)
    with pytest.raises(PredictionFileError, match="unknown prediction file suffix"):
        write_predictions(tmp_path / "p.txt", PREDS, S)
    np.savez(tmp_path / "x.npz", header=np.array("{}"))
    with pytest.raises(PredictionFileError, match="not an openhoi predictions file"):
        read_predictions(tmp_path / "x.npz", S)
