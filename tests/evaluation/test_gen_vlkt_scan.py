"""The byte-level reader of GEN-VLKT-style prediction json gives exactly the general reader's
arrays, and steps aside (None: the general reader then decides) on anything else."""

import json
import os
import random
import re

import numpy as np
import orjson
import pytest

from openhoi.errors import PredictionFileError
from openhoi.evaluation import prediction_files
from openhoi.evaluation.gen_vlkt_files import _fast, _literal_as_json
from openhoi.evaluation.gen_vlkt_scan import scan_triplet_records
from openhoi.evaluation.prediction_files import read_prediction_arrays
from openhoi.label_space import load_label_space

HICO = load_label_space("hicodet")
NUMBERS = [0.0, -0.0, 1.5, 343.4482421875, 3e-05, 1.25e-07, 2.5e-5, 7, 0, 12345678.9,
           0.30000001192092896, -4.75, 1e-300]


def _records(seed: int, name_key: str = "filename") -> list[dict]:
    rng = random.Random(seed)
    out = []
    for k in range(rng.randint(1, 6)):
        num_boxes = rng.choice([0, 1, 2, 5])
        boxes = [{"bbox": [rng.choice(NUMBERS + [rng.uniform(-5, 900)]) for _ in range(4)],
                  "category_id": rng.randrange(80)} for _ in range(num_boxes)]
        hois = [{"subject_id": rng.randrange(num_boxes), "object_id": rng.randrange(num_boxes),
                 "category_id": rng.randrange(600),
                 "score": rng.choice([rng.random(), 1e-06, 0.5, 1, 4.2e-05])}
                for _ in range(rng.choice([0, 1, 3]) if num_boxes else 0)]
        out.append({name_key: rng.choice([f"HICO_test2015_{k:08d}.jpg", "ä ü 1e5 [x].jpg",
                                          "im, 2.5 }.png"]),
                    "predictions": boxes, "hoi_prediction": hois})
    return out


def _dumps(records: list[dict], compact: bool) -> bytes:
    seps = (",", ":") if compact else (", ", ": ")
    return json.dumps(records, separators=seps, ensure_ascii=False).encode()


def _same(a: tuple, b: tuple) -> None:
    assert a[0] == b[0]
    for x, y in zip(a[1:], b[1:]):
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("name_key", ["filename", "file_name"])
def test_same_arrays_as_the_general_reader(seed, compact, name_key):
    data = _dumps(_records(seed, name_key), compact) + b"\n" * (seed % 2)
    for need_box_labels in (False, True):
        scanned = scan_triplet_records(data, need_box_labels)
        assert scanned is not None  # this layout is the shortcut's to read
        _same(scanned, _fast(orjson.loads(data), need_box_labels))


def test_full_size_record_shape_with_exponents():
    rng = np.random.default_rng(0)
    boxes = rng.uniform(0, 640, (128, 4)).astype(np.float32).astype(float)
    scores = rng.uniform(0, 1, 100) ** 8  # many below 1e-4: exponents
    records = [{"filename": f"{k}.jpg",
                "predictions": [{"bbox": b, "category_id": 0} for b in boxes.tolist()],
                "hoi_prediction": [{"subject_id": 0, "object_id": j % 128, "category_id": j,
                                    "score": s} for j, s in enumerate(scores.tolist())]}
               for k in range(60)]
    data = _dumps(records, False)
    assert b"e-" in data
    _same(scan_triplet_records(data), _fast(orjson.loads(data), False))


def _outcome(path, scan: bool, monkeypatch):
    """read_prediction_arrays' result or error message, with or without the shortcut."""
    with monkeypatch.context() as m:
        if not scan:
            m.setattr(prediction_files, "_scan", lambda *a: None)
        try:
            arrays = read_prediction_arrays(path, HICO, box_labels=True)
        except PredictionFileError as err:
            return str(err)
    return tuple(getattr(arrays, f) for f in ("image_ids", "box_counts", "triplet_counts",
                                               "boxes_xyxy", "labels", "pair_idx",
                                               "interactions", "scores"))


def _assert_same_outcome(path, monkeypatch):
    fast, general = _outcome(path, True, monkeypatch), _outcome(path, False, monkeypatch)
    if isinstance(general, str) or isinstance(fast, str):
        assert fast == general
    else:
        _same(fast, general)


@pytest.mark.parametrize("bad", [
    (b'"score": 0.5', b'"score"0.5: '),  # a number before the colon, slot empty
    (b'"category_id": 152', b'"cate152gory_id": '),  # inside a key
    (b'"category_id": 4}', b'"category_id": }4'),  # after the closing brace
    (b'[1.5, 2.5, 50.0, 60.0]', b'[, 2.5, 50.0, 60.0]5'),
    (b'[1.5, 2.5, 50.0, 60.0]', b'[1.5, 2.5, 50.0]'),
    (b'[1.5, 2.5, 50.0, 60.0]', b'[1.5, 2.5, 50.0, 60.0, 7]'),
    (b'"score": 0.5', b'"score": NaN'),
    (b'"score": 0.5', b'"score": "0.5"'),
    (b'"score": 0.5', b'"score": 0.5.1'),
    (b'"score": 0.5', b'"score": 05'),
    (b'"object_id": 1', b'"object_id": 1.5'),
    (b'"object_id": 1', b'"object_id": [1]'),
    (b'"subject_id": 0, "object_id": 1', b'"object_id": 1, "subject_id": 0'),
    (b'"category_id": 4}', b'"category_id": 4, "extra": 1}'),
    (b'"bbox": [30.0', b'"bbox": [9007199254740993'),
    (b'a.jpg', b'a\\u00e4.jpg'),
    (b'a.jpg', b'a\x01.jpg'),
    (b']}]', b']}'),
    (b']}]', b']}]x'),
    (b'[{"filename', b'\xef\xbb\xbf[{"filename'),
])
def test_anything_else_is_left_to_the_general_reader(tmp_path, monkeypatch, bad):
    img = {"filename": "a.jpg",
           "predictions": [{"bbox": [1.5, 2.5, 50.0, 60.0], "category_id": 0},
                           {"bbox": [30.0, 40.0, 90.0, 99.0], "category_id": 4}],
           "hoi_prediction": [{"subject_id": 0, "object_id": 1, "category_id": 152,
                               "score": 0.5}]}
    data = _dumps([img, img], False)
    old, new = bad
    assert old in data
    data = data.replace(old, new, 1)
    assert scan_triplet_records(data, True) is None
    path = tmp_path / "p.json"
    path.write_bytes(data)
    _assert_same_outcome(path, monkeypatch)


@pytest.mark.parametrize("compact", [False, True])
def test_random_corruptions_never_change_the_outcome(tmp_path, monkeypatch, compact):
    """Insert, drop or swap bytes anywhere: the shortcut reads the result as the JSON reader
    would, or steps aside."""
    rng = random.Random(1 + compact)
    base = _dumps(_records(3) + _records(4), compact)
    alphabet = b'0123456789.-+eE ,]}[{":x\\\n'
    path = tmp_path / "p.json"
    read = 0
    for _ in range(int(os.environ.get("OPENHOI_FUZZ", 400))):
        data = bytearray(base)
        for _ in range(rng.randint(1, 2)):
            at = rng.randrange(len(data))
            op = rng.randrange(3)
            if op == 0:
                data.insert(at, rng.choice(alphabet))
            elif op == 1:
                del data[at]
            else:
                data[at] = rng.choice(alphabet)
        data = bytes(data)
        scanned = scan_triplet_records(data, True)
        if scanned is None:
            continue
        read += 1
        path.write_bytes(data)
        _assert_same_outcome(path, monkeypatch)
    assert read > 20  # harmless edits (a digit changed) are still read the fast way


@pytest.mark.parametrize("gts", ["[]", "[{'filename': 'x.jpg', 'annotations': []}]"])
def test_gen_vlkt_python_literal_file(tmp_path, monkeypatch, gts):
    # HICOEvaluator writes json.dumps(str({'preds': ..., 'gts': ...})), numpy 2 reprs too
    text = str({"preds": _records(6), "gts": []}).replace("'gts': []", "'gts': " + gts)
    text = re.sub(r"'score': ([^,}]+)", r"'score': np.float32(\1)", text)
    text = re.sub(r"'category_id': (\d+)", r"'category_id': np.int64(\1)", text)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(text))
    assert scan_triplet_records(_literal_as_json(text), True) is not None
    _assert_same_outcome(path, monkeypatch)
    for bad in (text.replace("'gts': ", "'gts': {"), text.replace("'gts'", "'preds'"),
                text.replace("{'preds'", "{'gts': [], 'preds'")):
        assert scan_triplet_records(_literal_as_json(bad), True) is None
        path.write_text(json.dumps(bad))
        _assert_same_outcome(path, monkeypatch)


def test_read_prediction_arrays_takes_the_shortcut(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    path.write_bytes(_dumps(_records(5), False))
    expected = _outcome(path, False, monkeypatch)

    def no_json(*args):
        raise AssertionError("parsed as JSON")

    monkeypatch.setattr(prediction_files, "loads_json", no_json)
    _same(_outcome(path, True, monkeypatch), expected)
