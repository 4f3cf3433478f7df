"""HICO's official MATLAB files: image-level labels (``anno.mat``) and boxes (``anno_bbox.mat``).

``anno.mat`` (shipped in ``hico_20160224_det/`` and ``hico_20150920/``) holds ``list_train`` /
``list_test`` (file names), ``anno_train`` / ``anno_test`` (``[600, N]``: 1 positive, -1
negative, 0 ambiguous, NaN unknown) in the official interaction order, the order of the
``hicodet`` label space. It gives Known-Object image labels and recognition ground truth.

``anno_bbox.mat`` (``hico_20160224_det/``) holds ``bbox_train`` / ``bbox_test``: a ``1 x N``
struct array with ``filename``, ``size`` (``width``, ``height``, ``depth``) and ``hoi``, a struct
array with ``id`` (1-based interaction), ``bboxhuman`` / ``bboxobject`` (struct arrays of
``x1, y1, x2, y2``, one-based pixels), ``connection`` (``[K, 2]`` 1-based (human, object) rows)
and ``invis`` (1: the HOI is labelled but its boxes are not annotated). It is what ywchao's
``eval_one.m`` reads; :func:`read_hico_bbox_mat` reads it the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openhoi.data.records import HOIAnnotations
from openhoi.errors import DataError
from openhoi.label_space import LabelSpace

BOX_FIELDS = ("x1", "y1", "x2", "y2")


def _loadmat(path: Path, names: list[str]) -> dict:
    from scipy.io import loadmat  # heavy import, only when reading .mat files
    from scipy.io.matlab import MatReadError

    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return loadmat(str(path), variable_names=names)
    except (MatReadError, ValueError, TypeError, OSError, EOFError, NotImplementedError) as err:
        raise DataError(f"{path}: not a readable MATLAB file ({err})") from None


def _load(path: str | Path, space: LabelSpace, split: str) -> tuple[list[str], np.ndarray]:
    path = Path(path)
    mat = _loadmat(path, [f"list_{split}", f"anno_{split}"])
    try:
        names = [str(np.asarray(x).reshape(-1)[0]) for x in np.asarray(mat[f"list_{split}"])
                 .reshape(-1)]
        labels = np.asarray(mat[f"anno_{split}"], dtype=np.float64)
    except KeyError as err:
        raise DataError(f"{path}: missing variable {err}") from None
    except (ValueError, TypeError, OSError) as err:
        raise DataError(f"{path}: not a readable anno.mat ({err})") from None
    if labels.shape != (space.num_interactions, len(names)):
        raise DataError(f"{path}: anno_{split} has shape {labels.shape}, expected "
                        f"({space.num_interactions}, {len(names)}) for label space "
                        f"{space.name!r}")
    return names, labels.T


def read_hico_known_objects(path: str | Path, space: LabelSpace,
                            split: str = "test") -> dict[str, set[int]]:
    """Objects each image is labelled with: those of its positive (== 1) interactions.

    This is ``eval_one.m``'s Known-Object image selection (``any(anno_im(nid, :) == 1, 1)``).
    """
    names, labels = _load(path, space, split)
    obj = space.interaction_object.numpy()
    img, cls = np.nonzero(labels == 1)
    out: dict[str, set[int]] = {n: set() for n in names}
    for i, c in zip(img.tolist(), cls.tolist()):
        out[names[i]].add(int(obj[c]))
    return out


def read_hico_classification(path: str | Path, space: LabelSpace
                             ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Test images, their ``[N, I]`` labels, and positive training images per class."""
    names, labels = _load(path, space, "test")
    _, train = _load(path, space, "train")
    return names, labels, (train == 1).sum(0).astype(np.int64)


# ------------------------------------------------------------------------------------------
# anno_bbox.mat
# ------------------------------------------------------------------------------------------
def _items(value) -> np.ndarray:
    """The elements of a MATLAB struct array or cell as a flat numpy array (empty: size 0)."""
    return np.asarray(value).reshape(-1)


def _scalar(value) -> float:
    v = _items(value)
    if v.size != 1:
        raise ValueError(f"expected one number, got {v.size}")
    return float(v[0])


def _boxes(value) -> list[list[float]]:
    """``bboxhuman`` / ``bboxobject``: one [x1, y1, x2, y2] per struct element."""
    arr = _items(value)
    if arr.size == 0 or arr.dtype.names is None:
        return []
    return [[_scalar(b[k]) for k in BOX_FIELDS] for b in arr]


def _image_hois(entry, k: int, where: str) -> tuple[str, list[tuple[int, list, list, np.ndarray]],
                                                     set[int]]:
    """(file name, visible HOIs as (id, human boxes, object boxes, [C, 2] connections), ids of
    every HOI, visible or not) of one ``bbox_<split>`` element."""
    name = str(_items(entry["filename"])[0])
    visible, ids = [], set()
    for j, hoi in enumerate(_items(entry["hoi"])):
        field = f"hoi({j + 1})"
        try:
            hoi_id = int(_scalar(hoi["id"]))
            ids.add(hoi_id)
            if _items(hoi["invis"]).size and _scalar(hoi["invis"]):
                continue  # eval_one.m: ``if ~gt_bbox(i).hoi(j).invis``
            humans, objects = _boxes(hoi["bboxhuman"]), _boxes(hoi["bboxobject"])
            conn = np.asarray(hoi["connection"], dtype=np.float64).reshape(-1, 2)
        except (ValueError, TypeError, IndexError) as err:
            raise DataError(f"{where}({k + 1}) ({name}): field {field!r}: {err}") from None
        if (conn < 1).any() or (conn[:, 0] > len(humans)).any() or (
                conn[:, 1] > len(objects)).any() or (conn != np.round(conn)).any():
            raise DataError(f"{where}({k + 1}) ({name}): field {field}.connection "
                            f"{conn.astype(int).tolist()} must index its {len(humans)} "
                            f"bboxhuman and {len(objects)} bboxobject entries (1-based)")
        visible.append((hoi_id, humans, objects, conn.astype(np.int64) - 1))
    return name, visible, ids


def read_hico_bbox_mat(path: str | Path, space: LabelSpace, split: str = "test",
                       skip_invalid: bool = False
                       ) -> tuple[HOIAnnotations, dict[str, set[int]]]:
    """Ground truth from ``anno_bbox.mat``, as ``eval_one.m`` builds ``gt_all``.

    One ground-truth instance per ``connection`` row of each visible HOI, in file order (C1 of
    :mod:`~openhoi.evaluation.hico_map`). Invisible HOIs (``invis``) give none. When an image
    lists two visible HOIs with the same ``id``, MATLAB's ``gt_all{hoi_id, i} = boxes`` keeps
    the last one's rows only; so does this reader. Boxes are returned in the zero-based frame of
    PPDM's json files (the mat's coordinates minus one; integers, so exact), which the official
    protocol shifts back (rule O1) and the python protocol uses as is.

    Returns:
        The annotations of every image of ``bbox_<split>`` (images without a visible HOI too,
        in file order) and, per image, the objects of all its HOIs, visible or not (the
        Known-Object labels to use when ``anno.mat`` is not at hand).

    Raises:
        DataError: naming the file, the image (1-based, as MATLAB counts) and the field.
    """
    from openhoi.data.annotations import parse_hoi_annotations

    path = Path(path)
    var = f"bbox_{split}"
    mat = _loadmat(path, [var])
    if var not in mat:
        raise DataError(f"{path}: missing variable {var!r} (is this anno_bbox.mat?)")
    images = _items(mat[var])
    if images.dtype.names is None or not {"filename", "hoi"} <= set(images.dtype.names):
        raise DataError(f"{path}: {var} must be a struct array with fields filename and hoi")
    obj_of = [o for _, o in space.interactions]
    verb_of = [v for v, _ in space.interactions]
    person = space.object_ids[space.human_label]
    raw, known = [], {}
    for k, entry in enumerate(images):
        name, visible, ids = _image_hois(entry, k, f"{path}: {var}")
        bad = [i for i in ids if not 1 <= i <= space.num_interactions]
        if bad:
            raise DataError(f"{path}: {var}({k + 1}) ({name}): field 'hoi.id' {bad[0]} is "
                            f"outside 1..{space.num_interactions} of label space {space.name!r}")
        known[name] = {obj_of[i - 1] for i in ids}
        last = {hoi_id: n for n, (hoi_id, *_) in enumerate(visible)}  # gt_all{id, i} = boxes
        anns, hois = [], []
        for n, (hoi_id, humans, objects, conn) in enumerate(visible):
            if last[hoi_id] != n:
                continue
            base = len(anns)
            anns += [{"bbox": [v - 1 for v in b], "category_id": person} for b in humans]
            obj_id = space.object_ids[obj_of[hoi_id - 1]]
            anns += [{"bbox": [v - 1 for v in b], "category_id": obj_id} for b in objects]
            verb_id = space.verb_ids[verb_of[hoi_id - 1]]
            hois += [{"subject_id": base + int(h), "object_id": base + len(humans) + int(o),
                      "category_id": verb_id} for h, o in conn]
        raw.append({"file_name": name, "annotations": anns, "hoi_annotation": hois})
    return parse_hoi_annotations(raw, space, source=f"{path} ({var})",
                                 skip_invalid=skip_invalid), known
