"""Reader of the HOI annotation JSON that HICO-DET and V-COCO share in the field.

PPDM's files for HICO-DET (``trainval_hico.json``, ``test_hico.json``), and GEN-VLKT's
``tools/convert_vcoco_annotations.py`` output for V-COCO, are JSON lists with one entry per
image::

    {"file_name": "HICO_train2015_00000001.jpg",
     "img_id": 1,                                   # trainval_hico.json only; ignored
     "annotations": [{"bbox": [x1, y1, x2, y2], "category_id": 1}, ...],   # COCO object ids
     "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": 73,
                         "hoi_category_id": 153}, ...]}  # hoi_category_id optional; ignored

``subject_id``/``object_id`` index ``annotations``; ``category_id`` of a HOI is the verb id of
the label space (HICO-DET 1..117, V-COCO 0..28 for GEN-VLKT's role verbs). V-COCO writes
``object_id = -1`` for roles without an object. PPDM's ``hico_eval.py`` also meets verb ids
written as strings (``"88\\n"``); integer strings are accepted. Optional ``height``/``width``
keys (not in the released files) enable the image-bounds check at read time; otherwise it runs
when the image is opened. Entries of one (subject, object) merge into one pair row with
multi-hot verbs (the training targets); the entries themselves are kept too, in file order with
repeats (``HOIAnnotations.hoi_entries``), because the reference evaluators count each of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from openhoi.data.annotation_checks import (  # noqa: F401  (SKIP_HINT, out_of_image re-exported)
    MIN_TOLERANCE_PX,
    SKIP_HINT,
    Rejections,
    invalid_images,
    offsets,
    out_of_image,
    warn_accepted,
)
from openhoi.data.json_io import loads_json
from openhoi.data.records import HOIAnnotations
from openhoi.errors import DataError
from openhoi.label_space import LabelSpace

if TYPE_CHECKING:  # torch only for read_correspondence: the evaluators read without it
    from torch import Tensor

@dataclass(frozen=True)
class DatasetLayout:
    """Where one split of a benchmark lives on disk.

    Attributes:
        annotation_file: the split's JSON (format above).
        image_dirs: folders holding the split's images, searched in order.
        correspondence_file: ``[V, O]`` valid (verb, object) matrix (``corre_*.npy``).
        allow_no_object: pairs may have ``object_id = -1`` (V-COCO).
    """

    annotation_file: Path
    image_dirs: tuple[Path, ...]
    correspondence_file: Path
    allow_no_object: bool = False


def read_json(path: str | Path) -> Any:
    """Load a JSON file; a missing or malformed file is a ``DataError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: annotation file not found")
    try:
        return loads_json(path.read_bytes())
    except ValueError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read file ({err})") from None


def read_hoi_annotations(
    path: str | Path,
    label_space: LabelSpace,
    *,
    allow_no_object: bool = False,
    skip_invalid: bool = False,
    box_tolerance: float = 0.02,
) -> HOIAnnotations:
    """Read an annotation file into flat per-image records (see ``HOIAnnotations``).

    Args:
        path: ``trainval_hico.json``, ``test_hico.json``, ``trainval_vcoco.json``...
        label_space: maps the file's object and verb ids to class indices.
        allow_no_object: accept ``object_id = -1`` (V-COCO).
        skip_invalid: drop invalid images (logging counts per reason) instead of raising.
        box_tolerance: see ``DataConfig.box_tolerance`` (used when the file states sizes).

    Raises:
        DataError: naming the file, the image (index and file name) and the field at fault.
    """
    return parse_hoi_annotations(read_json(path), label_space, source=str(path),
                                 allow_no_object=allow_no_object, skip_invalid=skip_invalid,
                                 box_tolerance=box_tolerance)


def _int_column(values: list[Any]) -> np.ndarray:
    """Integer ids from JSON values (ints, integral floats, integer strings), else ValueError."""
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise ValueError("non-integer id")
        return arr.astype(np.int64)
    if arr.dtype.kind == "U":
        return arr.astype(np.int64)  # int() of each string; raises ValueError on junk
    raise ValueError(f"ids of type {arr.dtype}")


def _is_int(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    if isinstance(v, float):
        return v.is_integer()
    if isinstance(v, str):
        try:
            int(v)
        except ValueError:
            return False
        return True
    return False


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _structure_error(entry: Any) -> tuple[str, str] | None:
    """(field, problem) of the first structural fault of one image entry, or None."""
    if not isinstance(entry, dict):
        return "<entry>", f"expected an object, got {type(entry).__name__}"
    if not isinstance(entry.get("file_name"), str):
        return "file_name", "missing or not a string"
    for key in ("height", "width"):
        if key in entry and not (_is_int(entry[key]) and int(entry[key]) > 0):
            return key, f"expected a positive integer, got {entry[key]!r}"
    for key, fields in (("annotations", ("bbox", "category_id")),
                        ("hoi_annotation", ("subject_id", "object_id", "category_id"))):
        items = entry.get(key)
        if not isinstance(items, list):
            return key, "missing or not a list"
        for j, item in enumerate(items):
            if not isinstance(item, dict):
                return f"{key}[{j}]", "expected an object"
            for f in fields:
                if f not in item:
                    return f"{key}[{j}].{f}", "missing"
                if f == "bbox":
                    box = item[f]
                    if not (isinstance(box, list) and len(box) == 4
                            and all(_is_number(v) for v in box)):
                        return f"{key}[{j}].bbox", f"expected 4 numbers, got {box!r}"
                elif not _is_int(item[f]):
                    return f"{key}[{j}].{f}", f"expected an integer id, got {item[f]!r}"
    return None


def _columns(entries: Sequence[Any]) -> dict[str, np.ndarray]:
    """The fields of all images as flat arrays; raises on any structural fault (fast path)."""
    names = [e["file_name"] for e in entries]
    if not all(isinstance(n, str) for n in names):
        raise TypeError("file_name")
    anns = [e["annotations"] for e in entries]
    hois = [e["hoi_annotation"] for e in entries]
    if not all(isinstance(a, list) for a in anns) or not all(isinstance(h, list) for h in hois):
        raise TypeError("annotations")
    boxes = np.array([a["bbox"] for al in anns for a in al])
    if boxes.size and boxes.dtype.kind not in "iuf":  # "207" would convert silently
        raise TypeError("bbox")
    boxes = boxes.astype(np.float64).reshape(-1, 4)
    cols = {
        "file_names": np.array(names, dtype=str),
        "n_box": np.array([len(a) for a in anns], dtype=np.int64),
        "n_hoi": np.array([len(h) for h in hois], dtype=np.int64),
        "boxes": boxes,
        "obj_ids": _int_column([a["category_id"] for al in anns for a in al]),
        "sid": _int_column([h["subject_id"] for hl in hois for h in hl]),
        "oid": _int_column([h["object_id"] for hl in hois for h in hl]),
        "verb_ids": _int_column([h["category_id"] for hl in hois for h in hl]),
    }
    if boxes.shape[0] != cols["n_box"].sum() or cols["sid"].shape != cols["verb_ids"].shape:
        raise ValueError("ragged")  # e.g. a 3- or 5-number bbox somewhere
    sizes = [(e.get("height", -1), e.get("width", -1)) for e in entries]
    cols["sizes"] = _int_column(sizes).reshape(-1, 2) if sizes else np.zeros((0, 2), np.int64)
    return cols


def _lookup(ids: np.ndarray, table: dict[int, int]) -> np.ndarray:
    """Map ids through ``table`` (vectorised); -1 where an id is unknown."""
    if not table:
        return np.full(ids.shape, -1, dtype=np.int64)
    keys = np.array(sorted(table), dtype=np.int64)
    values = np.array([table[k] for k in keys], dtype=np.int64)
    pos = np.clip(np.searchsorted(keys, ids), 0, len(keys) - 1)
    return np.where(keys[pos] == ids, values[pos], -1)


def _structural_pass(raw: list[Any], rej: Rejections) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Columns of the structurally sound images and their positions in ``raw``."""
    try:
        return np.arange(len(raw)), _columns(raw)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as fast_err:
        ok = []
        for i, entry in enumerate(raw):
            fault = _structure_error(entry)
            if fault is None:
                ok.append(i)
                continue
            field, detail = fault
            name = entry.get("file_name") if isinstance(entry, dict) else None
            rej.report("malformed entry", i, name if isinstance(name, str) else "?", field,
                       detail)
            rej.reasons[f"malformed {''.join(c for c in field if not c.isdigit())}"] += 1
        if len(ok) == len(raw):  # the fast path failed on something the slow path accepts
            raise DataError(f"{rej.source}: cannot parse annotations ({fast_err!r})") from None
        return np.array(ok, dtype=np.int64), _columns([raw[i] for i in ok])


def parse_hoi_annotations(
    raw: Any,
    label_space: LabelSpace,
    *,
    source: str,
    allow_no_object: bool = False,
    skip_invalid: bool = False,
    box_tolerance: float = 0.02,
) -> HOIAnnotations:
    """``read_hoi_annotations`` on an already loaded JSON value; ``source`` names it in errors."""
    if not isinstance(raw, list):
        raise DataError(f"{source}: expected a JSON list of images, got {type(raw).__name__}")
    rej = Rejections(source, skip_invalid)
    orig_idx, c = _structural_pass(raw, rej)
    num = len(orig_idx)
    n_box, n_hoi = c["n_box"], c["n_hoi"]
    box_img, hoi_img = np.repeat(np.arange(num), n_box), np.repeat(np.arange(num), n_hoi)
    boxes, sizes, sid, oid = c["boxes"], c["sizes"], c["sid"], c["oid"]
    labels = _lookup(c["obj_ids"], label_space.object_index_of_id)
    verbs = _lookup(c["verb_ids"], label_space.verb_index_of_id)
    bad = invalid_images(c, orig_idx, labels, verbs, rej, label_space, allow_no_object,
                          box_tolerance)
    rej.log(len(raw))
    warn_accepted(c, labels, verbs, ~bad, label_space, source)

    valid = ~bad
    box_keep, hoi_keep = valid[box_img], valid[hoi_img]
    n_box = n_box[valid]
    pairs = _merge_pairs(hoi_img[hoi_keep], sid[hoi_keep], oid[hoi_keep], verbs[hoi_keep],
                         num, label_space.num_verbs)
    pair_img, pair_idx, pair_verbs, pair_of_hoi = pairs
    pair_offsets = offsets(np.bincount(pair_img, minlength=num)[valid])
    entry_offsets = offsets(n_hoi[valid])
    # [E] pair row local to its image: entries of kept images are in image order, as pairs are
    entry_img = np.repeat(np.arange(len(entry_offsets) - 1), np.diff(entry_offsets))
    local_pair = pair_of_hoi - pair_offsets[entry_img]
    return HOIAnnotations(
        source=source,
        num_verbs=label_space.num_verbs,
        file_names=c["file_names"][valid],
        indices=orig_idx[valid],
        sizes=np.where((sizes > 0).all(1, keepdims=True), sizes, -1)[valid],
        box_offsets=offsets(n_box),
        boxes_xyxy=boxes[box_keep].astype(np.float32),
        labels=labels[box_keep],
        pair_offsets=pair_offsets,
        pair_idx=pair_idx,
        pair_verbs=pair_verbs,
        entry_offsets=entry_offsets,
        hoi_entries=np.stack([local_pair, verbs[hoi_keep]], 1).astype(np.int64).reshape(-1, 2),
    )


def _merge_pairs(hoi_img: np.ndarray, sid: np.ndarray, oid: np.ndarray, verbs: np.ndarray,
                 num_images: int, num_verbs: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One row per distinct (image, subject, object), in order of first appearance.

    Returns:
        ``[P]`` image of each pair, ``[P, 2]`` (subject, object) ids, ``[P, V]`` bool verbs,
        ``[H]`` pair row of each entry.
    """
    if sid.size == 0:
        return (np.zeros(0, np.int64), np.zeros((0, 2), np.int64),
                np.zeros((0, num_verbs), dtype=bool), np.zeros(0, np.int64))
    span = int(max(sid.max(), oid.max())) + 2  # object -1 shifts to 0
    key = (hoi_img * span + sid) * span + (oid + 1)  # [H] int64, unique per pair
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # unique pairs by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    pair_of_hoi = rank[inverse.reshape(-1)]
    first = first[order]
    pair_verbs = np.zeros((len(first), num_verbs), dtype=bool)
    pair_verbs[pair_of_hoi, verbs] = True
    return hoi_img[first], np.stack([sid[first], oid[first]], 1), pair_verbs, pair_of_hoi


def read_correspondence(path: str | Path, label_space: LabelSpace) -> Tensor:
    """Read ``corre_hico.npy`` / ``corre_vcoco.npy``: ``[V, O]`` bool valid (verb, object)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: correspondence file not found")
    try:
        mat = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable .npy array ({err})") from None
    expected = (label_space.num_verbs, label_space.num_objects)
    if mat.shape != expected or mat.dtype.kind not in "biuf":
        raise DataError(f"{path}: expected a numeric [verbs, objects] = {list(expected)} matrix "
                        f"for label space {label_space.name!r}, got {mat.dtype} {list(mat.shape)}")
    return torch.from_numpy(mat != 0)
