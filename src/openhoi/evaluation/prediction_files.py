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
:func:`read_prediction_arrays` returns every format as one ``PredictionArrays`` (flat numpy,
no torch: what ``openhoi evaluate`` scores); :func:`read_predictions` as ``HOIPredictions``.
The other repositories' layouts are read in :mod:`~openhoi.evaluation.gen_vlkt_files`; files
in exactly the layout ``json.dumps`` gives them take :mod:`~openhoi.evaluation.gen_vlkt_scan`
first (same arrays, without a Python object per box and triplet).

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
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from openhoi.data.json_io import loads_json
from openhoi.errors import PredictionFileError
from openhoi.evaluation.gen_vlkt_files import GenVLKTLabels, gen_vlkt_arrays, label_triplets
from openhoi.evaluation.gen_vlkt_scan import mapped, scan_triplet_records
from openhoi.evaluation.prediction_arrays import FIELDS as _FIELDS
from openhoi.evaluation.prediction_arrays import PredictionArrays, check_record
from openhoi.fileio import atomic_write, atomic_write_text
from openhoi.label_space import LabelSpace

if TYPE_CHECKING:
    from openhoi.structures import HOIPredictions

FORMAT = "openhoi-predictions"
VERSION = 1
__all__ = ["GenVLKTLabels", "read_prediction_arrays", "read_predictions", "write_predictions",
           "write_gen_vlkt_predictions"]


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
    import torch

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
    value = rec[field]
    try:
        arr = np.asarray(value)
        if arr.size and arr.dtype.kind not in "iuf":  # "1.5" or true would convert silently
            raise ValueError(f"values of type {arr.dtype}")
        arr = arr.astype(dtype, copy=False)
    except (TypeError, ValueError) as err:
        raise PredictionFileError(f"{where}: field {field!r} is not numeric ({err})") from None
    if arr.size == 0:
        arr = arr.reshape((0, *shape_tail))
    if arr.ndim != len(shape_tail) + 1 or arr.shape[1:] != shape_tail:
        raise PredictionFileError(f"{where}: field {field!r} has shape {arr.shape}, expected "
                                  f"[n{''.join(', ' + str(d) for d in shape_tail)}]")
    return arr


def _from_record(rec: Any, where: str) -> tuple:
    if not isinstance(rec, dict):
        raise PredictionFileError(f"{where}: expected an object, got {type(rec).__name__}")
    if not isinstance(rec.get("image_id"), str):
        raise PredictionFileError(f"{where}: field 'image_id' must be the image file name")
    where = f"{where} (image {rec['image_id']!r})"
    out = (rec["image_id"], _array(rec, "boxes_xyxy", where, np.float32, (4,)),
           _array(rec, "labels", where, np.int64, ()), _array(rec, "pair_idx", where, np.int64,
                                                             (2,)),
           _array(rec, "interactions", where, np.int64, ()),
           _array(rec, "scores", where, np.float32, ()))
    check_record(*out[1:], where)
    return out


def _openhoi_records(records: list, wheres: list[str], space: LabelSpace,
                     path: Path) -> PredictionArrays:
    arrays = PredictionArrays.from_records([_from_record(r, w) for r, w in zip(records, wheres)])
    arrays.check(space.num_interactions,
                 lambda k: f"{wheres[k]} (image {arrays.image_ids[k]!r})")
    return arrays


def _read_npz(path: Path, space: LabelSpace) -> PredictionArrays:
    try:
        data = np.load(path, allow_pickle=False)
        header = json.loads(str(data["header"]))
        _check_header(header, path, space)
        ids = tuple(str(n) for n in data["image_ids"].tolist())
        box_counts = data["box_counts"].astype(np.int64)
        counts = data["triplet_counts"].astype(np.int64)
        arrays = {f: data[f] for f in _FIELDS}
    except KeyError as err:
        raise PredictionFileError(f"{path}: missing array {err}") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as err:
        reason = str(err) or type(err).__name__
        raise PredictionFileError(f"{path}: not a readable openhoi .npz file ({reason})"
                                  ) from None
    if len(box_counts) != len(ids) or len(counts) != len(ids):
        raise PredictionFileError(f"{path}: box_counts / triplet_counts do not match image_ids")
    if (box_counts < 0).any() or (counts < 0).any() or box_counts.sum() != len(
            arrays["boxes_xyxy"]) or counts.sum() != len(arrays["scores"]):
        raise PredictionFileError(f"{path}: counts do not add up to the array lengths")
    for f, n, tail in (("labels", box_counts, ()), ("pair_idx", counts, (2,)),
                       ("interactions", counts, ()), ("boxes_xyxy", box_counts, (4,))):
        if arrays[f].shape != (n.sum(), *tail):
            raise PredictionFileError(f"{path}: array {f!r} has shape {arrays[f].shape}, "
                                      f"expected {(int(n.sum()), *tail)}")
    out = PredictionArrays(ids, box_counts, counts, arrays["boxes_xyxy"],
                           arrays["labels"].astype(np.int64), arrays["pair_idx"].astype(np.int64),
                           arrays["interactions"].astype(np.int64), arrays["scores"])
    out.check(space.num_interactions, lambda k: f"{path}: record {k} (image {ids[k]!r})")
    return out


def _read_jsonl(path: Path, space: LabelSpace) -> PredictionArrays:
    docs, wheres = [], []
    for k, line in enumerate(path.read_bytes().splitlines()):
        if not line.strip():
            continue
        try:
            docs.append(loads_json(line))
        except ValueError as err:
            raise PredictionFileError(f"{path}: line {k + 1} is not JSON ({err})") from None
        wheres.append(f"{path}: line {k + 1}")
    _check_header(docs[0] if docs else None, path, space)
    return _openhoi_records(docs[1:], wheres[1:], space, path)


def _scan(path: Path, need_box_labels: bool) -> tuple | None:
    """The byte-level reader's arrays, or None: not that layout, or not mappable (the general
    path then reads the file and reports what is wrong with it)."""
    try:
        with mapped(path) as buf:
            return scan_triplet_records(buf, need_box_labels)
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------------------------------
def read_prediction_arrays(path: str | Path, label_space: LabelSpace,
                           labels: GenVLKTLabels = "interaction",
                           box_labels: bool = True) -> PredictionArrays:
    """Read a predictions file of any supported format (detected from suffix and content) into
    flat arrays, without torch.

    Args:
        path: ``.npz``, ``.jsonl`` or ``.json`` (openhoi, GEN-VLKT, HOICLIP or PPDM records).
        label_space: the label space the predictions use.
        labels: meaning of GEN-VLKT-style ``category_id`` (see the module docstring).
        box_labels: read the box categories of GEN-VLKT-style files (``False``: -1, faster;
            the evaluators do not need them).

    Raises:
        PredictionFileError: naming the file, the record and the field at fault.
    """
    path = Path(path)
    if not path.is_file():
        raise PredictionFileError(f"{path}: no such predictions file")
    if path.suffix == ".npz":
        return _read_npz(path, label_space)
    if path.suffix == ".jsonl":
        return _read_jsonl(path, label_space)
    scanned = _scan(path, box_labels or labels != "interaction")
    if scanned is not None:  # GEN-VLKT-style records exactly as json.dumps writes them
        return label_triplets(PredictionArrays(*scanned), path, label_space, labels)
    try:
        doc = loads_json(path.read_bytes())
    except ValueError as err:
        raise PredictionFileError(f"{path}: not valid JSON ({err})") from None
    if isinstance(doc, dict) and "format" in doc:
        _check_header(doc, path, label_space)
        if not isinstance(doc.get("images"), list):
            raise PredictionFileError(f"{path}: missing list field 'images'")
        return _openhoi_records(doc["images"], [f"{path}: images[{k}]" for k in range(len(
            doc["images"]))], label_space, path)
    return gen_vlkt_arrays(doc, path, label_space, labels, box_labels)


def read_predictions(path: str | Path, label_space: LabelSpace,
                     labels: GenVLKTLabels = "interaction") -> list[HOIPredictions]:
    """:func:`read_prediction_arrays`, as one ``HOIPredictions`` per record (imports torch)."""
    return read_prediction_arrays(path, label_space, labels).to_predictions()
