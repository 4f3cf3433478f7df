"""Prediction files of GEN-VLKT, HOICLIP and PPDM: HICO-DET triplet records and V-COCO queries.

HICO-DET (GEN-VLKT / HOICLIP ``hico_eval_triplet.py`` writes ``json.dumps(str({'preds': ...,
'gts': ...}))``; PPDM writes a plain JSON list), per image::

    {"filename" | "file_name": str, "predictions": [{"bbox": [4], "category_id": int?}, ...],
     "hoi_prediction": [{"subject_id", "object_id", "category_id", "score"}, ...]}

V-COCO (the records of GEN-VLKT's / HOICLIP's ``PostProcessHOI`` in
``generate_vcoco_official.py``, one per image, saved as JSON): the same, but each
``hoi_prediction`` entry is one query pair with a list of verb classes and a list of scores
(``"category_id": [0, ..., 28], "score": [29 floats]``), and the image is named by
``image_id`` / ``img_id`` (COCO id) or ``filename`` / ``file_name``. They become the vsrl_eval
detections of ``generate()`` there, so they score exactly as the pickle it writes.

Each layout may be a JSON list of records, a ``{"preds": [...]}`` object, or a JSON string
holding that object as a Python literal (read without ``eval``).
"""

from __future__ import annotations

import logging
import re
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from openhoi.data.json_io import loads_json, paused_gc
from openhoi.data.label_arrays import interaction_table
from openhoi.errors import PredictionFileError
from openhoi.evaluation.gen_vlkt_scan import scan_triplet_records
from openhoi.evaluation.prediction_arrays import PredictionArrays, check_record
from openhoi.label_space import LabelSpace

if TYPE_CHECKING:
    from openhoi.evaluation.vcoco_files import VCOCOGroundTruth

log = logging.getLogger(__name__)
GenVLKTLabels = Literal["interaction", "verb", "verb_id"]
LAYOUTS = (
    "openhoi's format ({'format': 'openhoi-predictions', 'images': [...]}, .jsonl, .npz); "
    "a JSON list of GEN-VLKT / HOICLIP / PPDM per-image records {filename, predictions: "
    "[{bbox}], hoi_prediction: [{subject_id, object_id, category_id, score}]}; the same list "
    "under {'preds': [...]}; GEN-VLKT's json.dumps(str({'preds': ..., 'gts': ...})); for "
    "V-COCO, GEN-VLKT's per-query records (category_id and score: one list per query) or its "
    "vsrl_eval .pkl")
_NUMPY_SCALAR = re.compile(r"\bnp\.(?:float|int|uint)\d*\(([^()]*)\)")
_HOI_KEYS = ("subject_id", "object_id", "category_id", "score")
NAMES = {"pair_idx": "hoi_prediction subject_id/object_id",
         "interactions": "hoi_prediction category_id", "scores": "hoi_prediction score",
         "boxes_xyxy": "predictions bbox"}


def _literal_as_json(text: str) -> bytes:
    """``str({'preds': ...})`` (numpy 1.x or 2.x reprs) as JSON text, if it is one."""
    if "np." in text:
        text = _NUMPY_SCALAR.sub(r"\1", text)
    converted = text.replace("'", '"')
    if "nan" in converted or "inf" in converted:
        converted = re.sub(r"\bnan\b", "NaN", re.sub(r"\binf\b", "Infinity", converted))
    return converted.encode()


def _python_literal(text: str, path: Path, converted: bytes | None = None) -> Any:
    """Parse ``str({'preds': ...})`` (numpy 1.x or 2.x reprs) without ``eval``."""
    try:
        return loads_json(_literal_as_json(text) if converted is None else converted)
    except ValueError:
        import ast

        try:
            return ast.literal_eval(text)
        except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as err:
            raise PredictionFileError(
                f"{path}: a JSON string that is not a Python literal of GEN-VLKT's "
                f"str({{'preds': ...}}) ({type(err).__name__}: {err}); accepted layouts: "
                f"{LAYOUTS}") from None


def gen_vlkt_records(doc: Any, path: Path) -> list:
    """The per-image records of a loaded GEN-VLKT / HOICLIP / PPDM file."""
    if isinstance(doc, str):
        doc = _python_literal(doc, path)
    if isinstance(doc, dict) and "preds" in doc:
        doc = doc["preds"]
    if not isinstance(doc, list):
        raise PredictionFileError(f"{path}: a JSON {type(doc).__name__} that fits no accepted "
                                  f"layout: {LAYOUTS}")
    return doc


def is_vcoco_layout(records: list) -> bool:
    """True when the first scored query carries a list of verb scores (GEN-VLKT's V-COCO)."""
    for rec in records:
        hois = rec.get("hoi_prediction") if isinstance(rec, dict) else None
        if isinstance(hois, list) and hois and isinstance(hois[0], dict):
            return isinstance(hois[0].get("score"), list)
    return False


# ------------------------------------------------------------------------------------------
# HICO-DET triplet records
# ------------------------------------------------------------------------------------------
def _fast(recs: list, box_labels: bool) -> tuple | None:
    """All records at once (C-speed list comprehensions); None on any irregularity, which
    the record-by-record path then names. Box categories are read if ``box_labels``."""
    try:
        with paused_gc():
            names = tuple(r.get("filename", r.get("file_name")) for r in recs)
            box_lists = [r["predictions"] for r in recs]
            hoi_lists = [r["hoi_prediction"] for r in recs]
            if not (all(type(n) is str for n in names) and all(type(b) is list for b in box_lists)
                    and all(type(h) is list for h in hoi_lists)):
                return None
            bbox = [b["bbox"] for bl in box_lists for b in bl]
            cats = np.array([b.get("category_id", -1) for bl in box_lists for b in bl]
                            if box_labels else [])
            get = itemgetter(*_HOI_KEYS)
            # one flat list of numbers converts several times faster than a list of lists
            boxes = np.array(list(chain.from_iterable(bbox)))
            hois = np.array(list(chain.from_iterable(map(get, chain.from_iterable(hoi_lists)))))
            if not all(len(b) == 4 for b in bbox):
                return None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    box_counts = np.fromiter(map(len, box_lists), np.int64, len(recs))
    tri_counts = np.fromiter(map(len, hoi_lists), np.int64, len(recs))
    if not box_labels:
        cats = np.full(int(box_counts.sum()), -1, dtype=np.int64)
    if (boxes.size and boxes.dtype.kind not in "iuf" or boxes.size != 4 * box_counts.sum()
            or hois.size and hois.dtype.kind not in "iuf" or hois.size != 4 * tri_counts.sum()
            or cats.dtype.kind not in "iu" and cats.size):
        return None
    boxes, hois = boxes.reshape(-1, 4), hois.reshape(-1, 4)
    ids = hois[:, :3]
    if hois.dtype.kind == "f" and (ids != np.round(ids)).any():
        return None
    return (names, box_counts, tri_counts, boxes.astype(np.float32), cats.astype(np.int64),
            ids[:, :2].astype(np.int64), ids[:, 2].astype(np.int64),
            hois[:, 3].astype(np.float32))


def _record(rec: Any, where: str) -> tuple:
    """One record as numpy arrays (name, boxes, box categories, pair_idx, category, scores);
    raises ``PredictionFileError`` naming the field at fault."""
    if not isinstance(rec, dict):
        raise PredictionFileError(f"{where}: expected an object, got {type(rec).__name__}; "
                                  f"accepted layouts: {LAYOUTS}")
    name = rec.get("filename", rec.get("file_name"))
    if not isinstance(name, str):
        raise PredictionFileError(f"{where}: missing field 'filename' (or 'file_name'); "
                                  f"accepted layouts: {LAYOUTS}")
    where = f"{where} (image {name!r})"
    for field in ("predictions", "hoi_prediction"):
        if not isinstance(rec.get(field), list):
            raise PredictionFileError(f"{where}: missing list field {field!r}; accepted "
                                      f"layouts: {LAYOUTS}")
    try:
        boxes = np.asarray([b["bbox"] for b in rec["predictions"]])
        cats = np.asarray([b.get("category_id", -1) for b in rec["predictions"]])
        hois = np.asarray(list(map(itemgetter(*_HOI_KEYS), rec["hoi_prediction"])))
        for arr, what in ((boxes, "predictions bbox"), (cats, "predictions category_id"),
                          (hois, "hoi_prediction")):
            if arr.size and arr.dtype.kind not in "iuf":
                raise ValueError(f"{what} holds {arr.dtype} values")
    except KeyError as err:
        raise PredictionFileError(f"{where}: a box or HOI lacks field {err}") from None
    except (TypeError, ValueError, AttributeError) as err:
        raise PredictionFileError(f"{where}: non-numeric box or HOI field ({err})") from None
    if boxes.size and boxes.shape[1:] != (4,) or hois.size and hois.shape[1:] != (4,):
        raise PredictionFileError(f"{where}: every bbox must have 4 numbers and every HOI the "
                                  f"fields {', '.join(_HOI_KEYS)}")
    boxes = boxes.reshape(-1, 4).astype(np.float32)
    hois = hois.reshape(-1, 4).astype(np.float64)
    ids = hois[:, :3]
    if (ids != np.round(ids)).any() or (cats != np.round(cats)).any():
        raise PredictionFileError(f"{where}: subject_id, object_id and category_id must be "
                                  "integers")
    return (name, boxes, cats.astype(np.int64), ids[:, :2].astype(np.int64),
            ids[:, 2].astype(np.int64), hois[:, 3].astype(np.float32))


def _verbs_to_interactions(arrays: PredictionArrays, labels: GenVLKTLabels, space: LabelSpace,
                           where) -> tuple[PredictionArrays, int]:
    """``category_id`` as verbs with the object box's category -> interaction indices; pairs
    that are not interaction classes are dropped (PPDM's ``trans_for_eval_hico.py`` does)."""
    tri_rec = np.repeat(np.arange(len(arrays)), arrays.triplet_counts)
    bad = ((arrays.pair_idx < 0) | (arrays.pair_idx >= arrays.box_counts[tri_rec][:, None])).any(1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        k = int(tri_rec[i])
        raise PredictionFileError(f"{where(k)}: hoi_prediction {i - arrays.triplet_offsets[k]}: "
                                  f"subject_id/object_id must index the {arrays.box_counts[k]} "
                                  "boxes")
    obj_row = arrays.box_offsets[:-1][tri_rec] + arrays.pair_idx[:, 1]
    verb, obj = arrays.interactions, arrays.labels[obj_row]
    box_labels = arrays.labels
    if labels == "verb_id":
        v_of, o_of = space.verb_index_of_id, space.object_index_of_id
        verb = np.array([v_of.get(int(v), -1) for v in verb], dtype=np.int64)
        obj = np.array([o_of.get(int(o), -1) for o in obj], dtype=np.int64)
        box_labels = np.array([o_of.get(int(o), -1) for o in box_labels], dtype=np.int64)
    ok = (verb >= 0) & (verb < space.num_verbs) & (obj >= 0) & (obj < space.num_objects)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        k = int(tri_rec[i])
        raise PredictionFileError(f"{where(k)}: hoi_prediction {i - arrays.triplet_offsets[k]}: "
                                  f"verb / object category is not in label space "
                                  f"{space.name!r} (labels={labels!r})")
    inter = interaction_table(space)[verb, obj]
    keep = inter >= 0
    counts = np.bincount(tri_rec[keep], minlength=len(arrays))
    out = PredictionArrays(arrays.image_ids, arrays.box_counts, counts, arrays.boxes_xyxy,
                           box_labels, arrays.pair_idx[keep], inter[keep], arrays.scores[keep])
    return out, int((~keep).sum())


def gen_vlkt_arrays(doc: Any, path: Path, space: LabelSpace,
                    labels: GenVLKTLabels = "interaction",
                    box_labels: bool = True) -> PredictionArrays:
    """HICO-DET triplet records of a loaded GEN-VLKT / HOICLIP / PPDM file (see above).

    ``box_labels=False`` skips the boxes' ``category_id`` where ``labels`` does not need it
    (labels -1): the evaluators never read them."""
    if isinstance(doc, str):  # GEN-VLKT's str({'preds': ...}): JSON text once converted
        converted = _literal_as_json(doc)
        scanned = scan_triplet_records(converted, box_labels or labels != "interaction")
        if scanned is not None:
            return label_triplets(PredictionArrays(*scanned), path, space, labels)
        doc = _python_literal(doc, path, converted)
    recs = gen_vlkt_records(doc, path)
    if is_vcoco_layout(recs):
        raise PredictionFileError(f"{path}: GEN-VLKT's V-COCO layout (a list of verb scores per "
                                  "query): evaluate it with --dataset vcoco")
    fast = _fast(recs, box_labels or labels != "interaction")
    if fast is None:
        rows = [_record(r, f"{path}: record {k}") for k, r in enumerate(recs)]
        for k, row in enumerate(rows):
            check_record(*row[1:], f"{path}: record {k}")
        arrays = PredictionArrays.from_records(rows)
    else:
        arrays = PredictionArrays(*fast)
    return label_triplets(arrays, path, space, labels)


def label_triplets(arrays: PredictionArrays, path: Path, space: LabelSpace,
                   labels: GenVLKTLabels = "interaction") -> PredictionArrays:
    """Triplet records read from a GEN-VLKT-style file (parsed, or scanned by
    :mod:`~openhoi.evaluation.gen_vlkt_scan`): ``category_id`` -> interaction index, then
    every value checked (``PredictionFileError`` naming record, field and entry)."""

    def where(k: int) -> str:
        return f"{path}: record {k} (image {arrays.image_ids[k]!r})"

    if labels != "interaction":
        arrays, dropped = _verbs_to_interactions(arrays, labels, space, where)
        if dropped:
            log.warning("%s: dropped %d (verb, object) predictions that are not interaction "
                        "classes", path, dropped)
    arrays.check(space.num_interactions, where, NAMES)
    return arrays


# ------------------------------------------------------------------------------------------
# V-COCO query records
# ------------------------------------------------------------------------------------------
def _vcoco_detections(rec: dict, image_id: int, verbs: tuple[str, ...], missing: int,
                      where: str) -> list[dict]:
    """``generate()`` of GEN-VLKT's ``generate_vcoco_official.py`` for one image."""
    out = []
    boxes = rec["predictions"]
    for j, hoi in enumerate(rec["hoi_prediction"]):
        try:
            person = boxes[hoi["subject_id"]]
            obj = boxes[hoi["object_id"]]
            object_box = ([np.nan] * 4 if obj["category_id"] == missing else
                          [float(v) for v in obj["bbox"]])
            cats, scores = hoi["category_id"], hoi["score"]
            if not isinstance(cats, list):
                cats, scores = [cats], [scores]
            det = {"image_id": image_id, "person_box": [float(v) for v in person["bbox"]]}
            agent = {"cut": 0, "hit": 0, "eat": 0}
            for idx, score in zip(cats, scores, strict=True):
                verb, score = verbs[int(idx)], float(score)
                if len(verb.split("_")) == 1:
                    det[f"{verb}_agent"] = score
                    continue
                det[verb] = object_box + [score]
                shared = next((a for a in agent if f"{a}_" in verb), None)
                if shared is not None:  # actions with two roles: agent = the best role
                    agent[shared] = score if score > agent[shared] else agent[shared]
                else:
                    det[verb.replace("_obj", "").replace("_instr", "") + "_agent"] = score
            det.update({f"{a}_agent": s for a, s in agent.items()})
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise PredictionFileError(f"{where}: hoi_prediction {j}: not a GEN-VLKT V-COCO "
                                      f"query ({type(err).__name__}: {err})") from None
        out.append(det)
    return out


def gen_vlkt_vcoco_detections(doc: Any, path: Path, gt: VCOCOGroundTruth,
                              space: LabelSpace) -> tuple[list[dict], int]:
    """vsrl_eval detection dicts of a GEN-VLKT / HOICLIP V-COCO predictions file, and the number
    of records whose image is not in the split (skipped)."""
    recs = gen_vlkt_records(doc, path)
    id_of = {n: int(i) for n, i in zip(gt.file_names, gt.image_ids.tolist())}
    dets, skipped = [], 0
    for k, rec in enumerate(recs):
        where = f"{path}: record {k}"
        if not isinstance(rec, dict) or not all(isinstance(rec.get(f), list) for f in (
                "predictions", "hoi_prediction")):
            raise PredictionFileError(f"{where}: not a per-image record with list fields "
                                      f"'predictions' and 'hoi_prediction'; accepted layouts: "
                                      f"{LAYOUTS}")
        image = next((rec[f] for f in ("image_id", "img_id", "filename", "file_name")
                      if f in rec), None)
        if isinstance(image, str):
            image_id = id_of.get(image)
        elif isinstance(image, int | float) and not isinstance(image, bool) and image == int(
                image):
            image_id = int(image)
        else:
            raise PredictionFileError(f"{where}: missing field 'image_id' (COCO id) or "
                                      "'filename' naming the image")
        if image_id is None:
            skipped += 1
            continue
        dets += _vcoco_detections(rec, image_id, space.verbs, space.num_objects, where)
    return dets, skipped
