"""Prediction files: openhoi's own format (JSON, JSON lines, npz) and GEN-VLKT / HOICLIP / PPDM's.

openhoi format, version 1 — one record per image, fields named as in ``HOIPredictions``:

    {"image_id": "HICO_test2015_00000001.jpg",     # file name, as in the annotation file
     "boxes_xyxy": [[x1, y1, x2, y2], ...],        # [N, 4] original pixels, xyxy
     "labels": [0, 4, ...],                         # [N] object index of each box
     "pair_idx": [[0, 1], ...],                     # [K, 2] (human, object) rows of boxes_xyxy
     "interactions": [152, ...],                    # [K] interaction index (label space order)
     "scores": [0.91, ...]}                         # [K] triplet score, higher is better

- ``.json``: ``{"format": "openhoi-predictions", "version": 1, "label_space": <fingerprint>,
  "images": [record, ...]}``.
- ``.jsonl``: the same header object on the first line, then one record per line (streams).
- ``.npz``: the records concatenated: ``image_ids [I]``, ``box_counts [I]``,
  ``triplet_counts [I]``, ``boxes_xyxy [sum N, 4]``, ``labels``, ``pair_idx [sum K, 2]``,
  ``interactions``, ``scores``, and ``header`` (the JSON header as a string). Loads in
  milliseconds whatever the size; use it for large prediction sets.

The header's ``label_space`` fingerprint must match the label space the file is read with.

GEN-VLKT / HOICLIP format (``HICOEvaluator`` writes it with ``json.dumps(str({'preds': ...,
'gts': ...}))``; PPDM writes a plain JSON list): per image ``{"filename" | "file_name": str,
"predictions": [{"bbox": [4], "category_id": int?}, ...], "hoi_prediction": [{"subject_id",
"object_id", "category_id", "score"}, ...]}``. The file may be a JSON list of such records, a
``{"preds": [...]}`` object, or a JSON string holding that object as a Python literal (read
without ``eval``). ``category_id`` means, per ``labels``:

- ``interaction`` (default): the interaction index, 0-based (GEN-VLKT / HOICLIP
  ``hico_eval_triplet.py``); box categories are not needed;
- ``verb``: the verb index, 0-based, with the object from the object box's ``category_id`` as
  an object index, 0-based (QPIC / CDN / GEN-VLKT ``hico_eval.py``);
- ``verb_id``: annotation-file ids: verb id (1-based for HICO-DET) and COCO category id of the
  object box (PPDM ``trans_for_eval_hico.py``).

With ``verb`` / ``verb_id``, (verb, object) combinations that are not interaction classes are
dropped (PPDM does the same) and counted in the log.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from openhoi.errors import PredictionFileError
from openhoi.fileio import atomic_write, atomic_write_text
from openhoi.label_space import LabelSpace
from openhoi.structures import HOIPredictions

log = logging.getLogger(__name__)

FORMAT = "openhoi-predictions"
VERSION = 1
GenVLKTLabels = Literal["interaction", "verb", "verb_id"]
_FIELDS = ("boxes_xyxy", "labels", "pair_idx", "interactions", "scores")


# ------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------
def _header(space: LabelSpace) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "label_space": space.fingerprint}


def _record(p: HOIPredictions) -> dict[str, Any]:
    return {"image_id": p.image_id, **{f: getattr(p, f).detach().cpu().tolist() for f in _FIELDS}}


def write_predictions(path: str | Path, predictions: Sequence[HOIPredictions],
                      label_space: LabelSpace) -> None:
    """Write predictions in openhoi's format; ``.json``, ``.jsonl`` or ``.npz`` by suffix."""
    path = Path(path)
    if path.suffix == ".npz":
        cat = {f: [getattr(p, f).detach().cpu() for p in predictions] for f in _FIELDS}
        arrays = dict(
            header=np.array(json.dumps(_header(label_space))),
            image_ids=np.array([p.image_id for p in predictions], dtype=str),
            box_counts=np.array([len(b) for b in cat["boxes_xyxy"]], dtype=np.int64),
            triplet_counts=np.array([len(s) for s in cat["scores"]], dtype=np.int64),
            **{f: (torch.cat(v) if v else torch.zeros(0)).numpy() for f, v in cat.items()},
        )

        def write(tmp: Path) -> None:
            with tmp.open("wb") as fh:  # a file object: np.savez would append ".npz" to tmp
                np.savez(fh, **arrays)

        atomic_write(path, write)
    elif path.suffix == ".jsonl":
        lines = [json.dumps(_header(label_space))] + [json.dumps(_record(p)) for p in predictions]
        atomic_write_text(path, "".join(line + "\n" for line in lines))
    elif path.suffix == ".json":
        doc = {**_header(label_space), "images": [_record(p) for p in predictions]}
        atomic_write_text(path, json.dumps(doc))
    else:
        raise PredictionFileError(f"{path}: unknown prediction file suffix (use .json, .jsonl "
                                  "or .npz)")


def write_gen_vlkt_predictions(path: str | Path, predictions: Sequence[HOIPredictions]) -> None:
    """Write GEN-VLKT / HOICLIP's per-image records (``category_id`` = interaction index), e.g.
    to feed HOICLIP's ``covert_annot_for_official_eval.py`` and the MATLAB evaluation."""
    out = []
    for p in predictions:
        out.append({
            "filename": p.image_id,
            "predictions": [{"bbox": b, "category_id": int(c)} for b, c in
                            zip(p.boxes_xyxy.tolist(), p.labels.tolist())],
            "hoi_prediction": [{"subject_id": h, "object_id": o, "category_id": c, "score": s}
                               for (h, o), c, s in zip(p.pair_idx.tolist(),
                                                       p.interactions.tolist(),
                                                       p.scores.tolist())],
        })
    atomic_write_text(path, json.dumps(out))


# ------------------------------------------------------------------------------------------
# reading: openhoi format
# ------------------------------------------------------------------------------------------
def _check_header(header: Any, path: Path, space: LabelSpace) -> None:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise PredictionFileError(f"{path}: not an openhoi predictions file (field 'format')")
    if header.get("version") != VERSION:
        raise PredictionFileError(f"{path}: field 'version' is {header.get('version')!r}; this "
                                  f"openhoi reads version {VERSION}")
    if header.get("label_space") != space.fingerprint:
        raise PredictionFileError(
            f"{path}: field 'label_space' is {header.get('label_space')!r} but the evaluation "
            f"uses {space.fingerprint!r} (predictions of another label space)")


def _array(rec: dict, field: str, where: str, dtype: Any, shape_tail: tuple[int, ...]):
    if field not in rec:
        raise PredictionFileError(f"{where}: missing field {field!r}")
    try:
        arr = np.asarray(rec[field], dtype=dtype)
    except (TypeError, ValueError) as err:
        raise PredictionFileError(f"{where}: field {field!r} is not numeric ({err})") from None
    if arr.size == 0:
        arr = arr.reshape((0, *shape_tail))
    if arr.ndim != len(shape_tail) + 1 or arr.shape[1:] != shape_tail:
        raise PredictionFileError(f"{where}: field {field!r} has shape {arr.shape}, expected "
                                  f"[n{''.join(', ' + str(d) for d in shape_tail)}]")
    return arr


def _from_record(rec: Any, where: str, space: LabelSpace) -> HOIPredictions:
    if not isinstance(rec, dict):
        raise PredictionFileError(f"{where}: expected an object, got {type(rec).__name__}")
    if not isinstance(rec.get("image_id"), str):
        raise PredictionFileError(f"{where}: field 'image_id' must be the image file name")
    where = f"{where} (image {rec['image_id']!r})"
    boxes = _array(rec, "boxes_xyxy", where, np.float32, (4,))
    labels = _array(rec, "labels", where, np.int64, ())
    pair_idx = _array(rec, "pair_idx", where, np.int64, (2,))
    inter = _array(rec, "interactions", where, np.int64, ())
    scores = _array(rec, "scores", where, np.float32, ())
    return _validated(boxes, labels, pair_idx, inter, scores, rec["image_id"], where, space)


_GEN_VLKT_NAMES = {"pair_idx": "hoi_prediction subject_id/object_id",
                   "interactions": "hoi_prediction category_id", "scores": "hoi_prediction score",
                   "boxes_xyxy": "predictions bbox"}


def _validated(boxes, labels, pair_idx, inter, scores, image_id, where, space,
               names: dict[str, str] | None = None) -> HOIPredictions:
    """HOIPredictions after the checks whose failure must name the file, record and field."""
    if len(labels) != len(boxes):
        raise PredictionFileError(f"{where}: {len(labels)} labels for {len(boxes)} boxes")
    if not len(pair_idx) == len(inter) == len(scores):
        raise PredictionFileError(f"{where}: pair_idx, interactions and scores have "
                                  f"{len(pair_idx)}, {len(inter)}, {len(scores)} rows")
    checks = [
        ((pair_idx < 0) | (pair_idx >= len(boxes))).any(1), "pair_idx",
        f"must index the {len(boxes)} boxes",
        (inter < 0) | (inter >= space.num_interactions), "interactions",
        f"must be in [0, {space.num_interactions})",
        ~np.isfinite(scores), "scores", "must be finite numbers",
        ~np.isfinite(boxes).all(1), "boxes_xyxy", "must be finite",
    ]
    for bad, field, rule in zip(checks[0::3], checks[1::3], checks[2::3]):
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            field = (names or {}).get(field, field)
            raise PredictionFileError(f"{where}: field {field!r} entry {k} {rule}")
    return HOIPredictions(torch.from_numpy(boxes), torch.from_numpy(labels),
                          torch.from_numpy(pair_idx), torch.from_numpy(inter),
                          torch.from_numpy(scores), image_id)


def _read_npz(path: Path, space: LabelSpace) -> list[HOIPredictions]:
    try:
        data = np.load(path, allow_pickle=False)
        header = json.loads(str(data["header"]))
        _check_header(header, path, space)
        ids = data["image_ids"].tolist()
        box_counts, counts = data["box_counts"], data["triplet_counts"]
        arrays = {f: data[f] for f in _FIELDS}
    except KeyError as err:
        raise PredictionFileError(f"{path}: missing array {err}") from None
    except (ValueError, OSError) as err:
        raise PredictionFileError(f"{path}: not a readable npz file ({err})") from None
    if len(box_counts) != len(ids) or len(counts) != len(ids):
        raise PredictionFileError(f"{path}: box_counts / triplet_counts do not match image_ids")
    b_end, t_end = np.cumsum(box_counts), np.cumsum(counts)
    if b_end[-1:].sum() != len(arrays["boxes_xyxy"]) or t_end[-1:].sum() != len(
            arrays["scores"]):
        raise PredictionFileError(f"{path}: counts do not add up to the array lengths")
    out = []
    for k, name in enumerate(ids):
        b = slice(b_end[k] - box_counts[k], b_end[k])
        t = slice(t_end[k] - counts[k], t_end[k])
        out.append(_validated(arrays["boxes_xyxy"][b].reshape(-1, 4),
                              arrays["labels"][b].astype(np.int64),
                              arrays["pair_idx"][t].reshape(-1, 2).astype(np.int64),
                              arrays["interactions"][t].astype(np.int64),
                              arrays["scores"][t], name, f"{path}: record {k} (image {name!r})",
                              space))
    return out


# ------------------------------------------------------------------------------------------
# reading: GEN-VLKT / HOICLIP / PPDM format
# ------------------------------------------------------------------------------------------
_NUMPY_SCALAR = re.compile(r"\bnp\.(?:float|int|uint)\d*\(([^()]*)\)")


def _python_literal_to_json(text: str) -> Any:
    """Parse ``str({'preds': ...})`` (numpy 1.x or 2.x reprs) without ``eval``."""
    converted = _NUMPY_SCALAR.sub(r"\1", text).replace("'", '"')
    converted = re.sub(r"\bnan\b", "NaN", re.sub(r"\binf\b", "Infinity", converted))
    try:
        return json.loads(converted)
    except json.JSONDecodeError:
        import ast

        return ast.literal_eval(_NUMPY_SCALAR.sub(r"\1", text))


_HOI_KEYS = ("subject_id", "object_id", "category_id", "score")


def _gen_vlkt_record(rec: Any, where: str, space: LabelSpace, labels: GenVLKTLabels
                     ) -> tuple[HOIPredictions, int]:
    if not isinstance(rec, dict):
        raise PredictionFileError(f"{where}: expected an object, got {type(rec).__name__}")
    name = rec.get("filename", rec.get("file_name"))
    if not isinstance(name, str):
        raise PredictionFileError(f"{where}: missing field 'filename' (or 'file_name')")
    where = f"{where} (image {name!r})"
    for field in ("predictions", "hoi_prediction"):
        if not isinstance(rec.get(field), list):
            raise PredictionFileError(f"{where}: missing list field {field!r}")
    try:
        boxes = np.asarray([b["bbox"] for b in rec["predictions"]], dtype=np.float32)
        cats = np.asarray([b.get("category_id", -1) for b in rec["predictions"]], dtype=np.int64)
        hois = np.asarray(list(map(itemgetter(*_HOI_KEYS), rec["hoi_prediction"])),
                          dtype=np.float64).reshape(-1, 4)
    except KeyError as err:
        raise PredictionFileError(f"{where}: a box or HOI lacks field {err}") from None
    except (TypeError, ValueError) as err:
        raise PredictionFileError(f"{where}: non-numeric box or HOI field ({err})") from None
    boxes = boxes.reshape(-1, 4) if boxes.size else np.zeros((0, 4), np.float32)
    ids = hois[:, :3]
    if (ids != np.round(ids)).any():
        raise PredictionFileError(f"{where}: subject_id, object_id and category_id must be "
                                  "integers")
    pair_idx, cat = ids[:, :2].astype(np.int64), ids[:, 2].astype(np.int64)
    scores = hois[:, 3].astype(np.float32)
    dropped = 0
    if labels != "interaction":
        bad = ((pair_idx < 0) | (pair_idx >= len(boxes))).any(1)
        if bad.any():
            raise PredictionFileError(f"{where}: hoi_prediction {int(np.flatnonzero(bad)[0])}: "
                                      f"subject_id/object_id must index the {len(boxes)} boxes")
        cat, keep = _interactions_of_verbs(cat, cats[pair_idx[:, 1]], space, labels, where)
        dropped = int((~keep).sum())
        pair_idx, cat, scores = pair_idx[keep], cat[keep], scores[keep]
    if labels == "verb_id":
        cats = np.array([space.object_index_of_id.get(int(c), -1) for c in cats], dtype=np.int64)
    pred = _validated(boxes, cats, pair_idx, cat, scores, name, where, space, _GEN_VLKT_NAMES)
    return pred, dropped


def _interactions_of_verbs(verb: np.ndarray, obj: np.ndarray, space: LabelSpace,
                           labels: GenVLKTLabels, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Interaction of each (verb, object) in ``labels`` convention, and which are classes."""
    if labels == "verb_id":
        v_of, o_of = space.verb_index_of_id, space.object_index_of_id
        verb = np.array([v_of.get(int(v), -1) for v in verb], dtype=np.int64)
        obj = np.array([o_of.get(int(o), -1) for o in obj], dtype=np.int64)
    ok = (verb >= 0) & (verb < space.num_verbs) & (obj >= 0) & (obj < space.num_objects)
    if not ok.all():
        k = int(np.flatnonzero(~ok)[0])
        raise PredictionFileError(f"{where}: hoi_prediction {k}: verb / object category is not "
                                  f"in label space {space.name!r} (labels={labels!r})")
    inter = space.interaction_table.numpy()[verb, obj]
    return inter, inter >= 0


def _gen_vlkt_records(doc: Any, path: Path) -> list:
    if isinstance(doc, str):
        doc = _python_literal_to_json(doc)
    if isinstance(doc, dict) and "preds" in doc:
        doc = doc["preds"]
    if not isinstance(doc, list):
        raise PredictionFileError(f"{path}: expected a list of per-image records, a "
                                  "{'preds': [...]} object, or openhoi's format")
    return doc


# ------------------------------------------------------------------------------------------
def read_predictions(path: str | Path, label_space: LabelSpace,
                     labels: GenVLKTLabels = "interaction") -> list[HOIPredictions]:
    """Read a predictions file of any supported format (detected from suffix and content).

    Args:
        path: ``.npz``, ``.jsonl`` or ``.json`` (openhoi, GEN-VLKT, HOICLIP or PPDM records).
        label_space: the label space the predictions use.
        labels: meaning of GEN-VLKT-style ``category_id`` (see the module docstring).

    Raises:
        PredictionFileError: naming the file, the record and the field at fault.
    """
    path = Path(path)
    if not path.is_file():
        raise PredictionFileError(f"{path}: no such predictions file")
    if path.suffix == ".npz":
        return _read_npz(path, label_space)
    if path.suffix == ".jsonl":
        with path.open() as fh:
            lines = [ln for ln in fh if ln.strip()]
        docs = []
        for k, line in enumerate(lines):
            try:
                docs.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise PredictionFileError(f"{path}: line {k + 1} is not JSON ({err})") from None
        _check_header(docs[0] if docs else None, path, label_space)
        return [_from_record(r, f"{path}: line {k + 2}", label_space)
                for k, r in enumerate(docs[1:])]
    try:
        with path.open() as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as err:
        raise PredictionFileError(f"{path}: not valid JSON ({err})") from None
    if isinstance(doc, dict) and "format" in doc:
        _check_header(doc, path, label_space)
        if not isinstance(doc.get("images"), list):
            raise PredictionFileError(f"{path}: missing list field 'images'")
        return [_from_record(r, f"{path}: images[{k}]", label_space)
                for k, r in enumerate(doc["images"])]
    out, dropped = [], 0
    for k, rec in enumerate(_gen_vlkt_records(doc, path)):
        pred, n = _gen_vlkt_record(rec, f"{path}: record {k}", label_space, labels)
        out.append(pred)
        dropped += n
    if dropped:
        log.warning("%s: dropped %d (verb, object) predictions that are not interaction classes",
                    path, dropped)
    return out
