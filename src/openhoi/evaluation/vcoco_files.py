"""V-COCO's official evaluation inputs: ground truth from the official files, and detections
in the ``vsrl_eval`` pickle format (or converted from ``HOIPredictions``).

Ground truth is built exactly as s-gupta/v-coco ``vsrl_eval.py`` builds its ``vcocodb``:
images in split-file order; objects from the COCO instances file in annotation order,
skipping ``ignore == 1``; boxes ``[x, y, x + max(0, w - 1), y + max(0, h - 1)]`` clipped to
``[0, W - 1] x [0, H - 1]`` (float64, stored float32) and kept if ``area > 0`` and the box is
wider and taller than one pixel; persons = objects of the file's first category; a person not
in the V-COCO annotation has every action label -1 ("ignore"); role objects are looked up
among the image's kept objects.

Counting: one ground-truth person per kept COCO person annotation (``npos`` of an action =
persons labelled 1), in the COCO file's annotation order, which decides ``argmax`` ties
between persons with equal overlap (a person box listed twice under two ids is two positives,
of which a detection can only ever match the first). A person listed as positive twice in one
action is refused, as vsrl_eval's ``assert has_label.size == 1`` refuses it.
"""

from __future__ import annotations

import io
import pickle
import re
from collections import defaultdict
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from openhoi.data.json_io import loads_json
from openhoi.errors import DataError, PredictionFileError


@dataclass(frozen=True)
class VCOCOGroundTruth:
    """Persons of the test images with their action labels and role boxes.

    Attributes:
        actions: action names, official order (``vcoco_test.json`` order).
        roles: per action, its role names (``roles[a][0] == "agent"``).
        slots: the (action, role index >= 1) pairs that have a role AP, in official order.
        image_ids: ``[NI]`` int64 COCO image ids, split-file order.
        file_names: COCO file name of each image.
        person_img: ``[P]`` int64 image index of each person.
        person_boxes: ``[P, 4]`` float32 xyxy.
        labels: ``[P, A]`` int64: 1 / 0, or -1 for persons V-COCO does not annotate.
        role_boxes: ``[P, S, 4]`` float32 box of each slot's role object, -1 where none.
    """

    actions: tuple[str, ...]
    roles: tuple[tuple[str, ...], ...]
    slots: tuple[tuple[int, int], ...]
    image_ids: np.ndarray
    file_names: tuple[str, ...]
    person_img: np.ndarray
    person_boxes: np.ndarray
    labels: np.ndarray
    role_boxes: np.ndarray

    @property
    def num_pos(self) -> np.ndarray:
        """``[A]`` positives per action (``npos`` of vsrl_eval)."""
        return (self.labels == 1).sum(0)


def _load_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return loads_json(path.read_bytes())
    except ValueError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None


def _clean_box(bbox: list[float], width: float, height: float) -> tuple[list[float], bool]:
    """``_add_gt_annotations``: COCO xywh -> clipped xyxy (float64) and whether it is kept."""
    x1, y1 = float(bbox[0]), float(bbox[1])
    x2 = x1 + max(0.0, float(bbox[2]) - 1.0)
    y2 = y1 + max(0.0, float(bbox[3]) - 1.0)
    x1, x2 = (min(width - 1.0, max(0.0, v)) for v in (x1, x2))
    y1, y2 = (min(height - 1.0, max(0.0, v)) for v in (y1, y2))
    return [x1, y1, x2, y2], x2 > x1 and y2 > y1


def _vsrl_tables(vcoco: Any, path: str) -> tuple[list, set[int], dict[int, np.ndarray],
                                                  dict[int, np.ndarray]]:
    """Actions (name, roles); annotated person ids (first action's ``ann_id``, as vsrl_eval
    checks); ann_id -> labels ``[A]``; ann_id -> role object ids ``[A, R-1]`` (0 = none)."""
    if not isinstance(vcoco, list) or not vcoco:
        raise DataError(f"{path}: expected a list of per-action entries")
    num_a = len(vcoco)
    max_roles = max(len(a.get("role_name", [])) for a in vcoco if isinstance(a, dict))
    actions, label_of, roles_of = [], {}, {}
    members: set[int] = set()
    for a, entry in enumerate(vcoco):
        try:
            name, role_names = entry["action_name"], list(entry["role_name"])
            ann_ids = np.asarray(entry["ann_id"], dtype=np.int64).reshape(-1)
            label = np.asarray(entry["label"], dtype=np.int64).reshape(-1)
            rids = np.asarray(entry["role_object_id"], dtype=np.int64).reshape(len(role_names),
                                                                               -1).T
            assert len(label) == len(ann_ids) == len(rids)
        except (KeyError, ValueError, TypeError, AssertionError) as err:
            raise DataError(f"{path}: action entry {a}: malformed ({err!r})") from None
        actions.append((name, tuple(role_names)))
        if a == 0:
            members = set(ann_ids.tolist())
        positive = ann_ids[label == 1]
        if np.unique(positive).size != positive.size:  # vsrl_eval: assert has_label.size == 1
            dup = int(next(i for i in positive if (positive == i).sum() > 1))
            raise DataError(f"{path}: action entry {a} ({name!r}): ann_id {dup} is labelled "
                            "positive more than once (vsrl_eval asserts one positive row per "
                            "person and action)")
        for k in np.flatnonzero(label == 1).tolist():
            ann = int(ann_ids[k])
            label_of.setdefault(ann, np.zeros(num_a, np.int64))[a] = 1
            roles_of.setdefault(ann, np.zeros((num_a, max_roles - 1), np.int64))[
                a, : len(role_names) - 1] = rids[k, 1:]
    return actions, members, label_of, roles_of


def _persons(im: dict, anns: list[dict], person_cat: int, tables: tuple, where: Any):
    """(box, labels [A], role boxes [S, 4]) of each kept person of one image (vcocodb entry)."""
    members, label_of, roles_of, slots, num_actions = tables
    kept = []
    for ann in anns:
        if ann.get("ignore", 0) == 1:
            continue
        box, ok = _clean_box(ann["bbox"], float(im["width"]), float(im["height"]))
        if ann["area"] > 0 and ok:
            kept.append((ann["id"], ann["category_id"], box))
    box_of = {ann_id: box for ann_id, _, box in kept}
    for ann_id, cat, box in kept:
        if cat != person_cat:
            continue
        roles = np.full((len(slots), 4), -1.0)
        if ann_id not in members:  # not annotated in V-COCO: every label -1 (ignored)
            yield box, np.full(num_actions, -1), roles
            continue
        lab = label_of.get(ann_id, np.zeros(num_actions, np.int64))
        for k, (a, r) in enumerate(slots):
            rid = int(roles_of[ann_id][a, r - 1]) if ann_id in roles_of else 0
            if lab[a] == 1 and rid != 0:
                if rid not in box_of:
                    raise DataError(f"{where}: role object {rid} of annotation {ann_id} is not "
                                    f"a kept object of image {im['id']}")
                roles[k] = box_of[rid]
        yield box, lab, roles


def read_vcoco_ground_truth(coco_file: str | Path, vcoco_file: str | Path,
                            split_file: str | Path) -> VCOCOGroundTruth:
    """Read the official files: COCO instances (``instances_vcoco_all_2014.json``), V-COCO
    annotations (``vcoco_test.json``) and the split's image ids (``vcoco_test.ids``).

    Raises:
        DataError: naming the file and the entry at fault.
    """
    coco = _load_json(coco_file)
    actions, members, label_of, roles_of = _vsrl_tables(_load_json(vcoco_file), str(vcoco_file))
    try:
        ids = [int(float(t)) for t in Path(split_file).read_text().split()]
    except (OSError, ValueError) as err:
        raise DataError(f"{split_file}: not a list of image ids ({err})") from None
    try:
        images = {im["id"]: im for im in coco["images"]}
        person_cat = coco["categories"][0]["id"]  # contiguous class 1 of vsrl_eval
        anns_of = defaultdict(list)
        for ann in coco["annotations"]:
            anns_of[ann["image_id"]].append(ann)
    except (KeyError, TypeError, IndexError) as err:
        raise DataError(f"{coco_file}: not a COCO instances file ({err!r})") from None
    slots = tuple((a, r) for a, (_, roles) in enumerate(actions) for r in range(1, len(roles)))
    tables = (members, label_of, roles_of, slots, len(actions))
    p_img, p_box, p_lab, p_roles, names = [], [], [], [], []
    for i, image_id in enumerate(ids):
        if image_id not in images:
            raise DataError(f"{coco_file}: image {image_id} of {split_file} is missing")
        im = images[image_id]
        names.append(str(im.get("file_name", image_id)))
        for box, lab, roles in _persons(im, anns_of[image_id], person_cat, tables, vcoco_file):
            p_img.append(i)
            p_box.append(box)
            p_lab.append(lab)
            p_roles.append(roles)
    return VCOCOGroundTruth(
        actions=tuple(a for a, _ in actions),
        roles=tuple(r for _, r in actions),
        slots=slots,
        image_ids=np.asarray(ids, dtype=np.int64),
        file_names=tuple(names),
        person_img=np.asarray(p_img, dtype=np.int64),
        person_boxes=np.asarray(p_box, dtype=np.float64).reshape(-1, 4).astype(np.float32),
        labels=np.asarray(p_lab, dtype=np.int64).reshape(-1, len(actions)),
        role_boxes=np.asarray(p_roles, dtype=np.float64).reshape(-1, len(slots), 4).astype(
            np.float32),
    )


# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VsrlDetections:
    """Detections in vsrl_eval's layout: one row per predicted person (a detection dict).

    Attributes:
        image_ids: ``[D]`` int64 COCO image id.
        person_boxes: ``[D, 4]`` float32.
        agent_scores: ``[D, A]`` float32, NaN where the detection has no score for the action.
        role_scores: ``[D, S]`` float32 per ground-truth slot, NaN where absent.
        role_boxes: ``[D, S, 4]`` float32 predicted role boxes (zeros or NaN = "no object").
    """

    image_ids: np.ndarray
    person_boxes: np.ndarray
    agent_scores: np.ndarray
    role_scores: np.ndarray
    role_boxes: np.ndarray


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy scalars/arrays only: no code runs from the file."""

    ALLOWED = {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
               ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray",
                                                            "_reconstruct"),
               ("numpy", "dtype"), ("numpy", "ndarray")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_vsrl_detections(path: str | Path, gt: VCOCOGroundTruth) -> VsrlDetections:
    """Read a vsrl_eval detections pickle (GEN-VLKT's ``generate_vcoco_official.py`` output).

    Each entry: ``image_id``, ``person_box [4]``, ``<action>_agent`` score and
    ``<action>_<role>`` = ``[x1, y1, x2, y2, score]``. A missing key is NaN (vsrl_eval would
    raise ``KeyError``); NaN scores are "no detection", as in vsrl_eval.

    Raises:
        PredictionFileError: naming the file, the entry and the key at fault.
    """
    path = Path(path)
    if not path.is_file():
        raise PredictionFileError(f"{path}: no such predictions file")
    try:
        dets = _SafeUnpickler(io.BytesIO(path.read_bytes())).load()
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError,
            IndexError, KeyError, MemoryError, RecursionError) as err:
        raise PredictionFileError(f"{path}: not a readable detections pickle ({err})") from None
    return vsrl_detections(dets, gt, str(path))


def vsrl_detections(dets: Any, gt: VCOCOGroundTruth, where: str) -> VsrlDetections:
    """vsrl_eval detection dicts (see :func:`read_vsrl_detections`) as arrays; errors name
    ``where`` and the entry."""
    path = where
    if not isinstance(dets, list):
        raise PredictionFileError(f"{path}: expected a list of detection dicts")
    agent_keys = [f"{a}_agent" for a in gt.actions]
    role_keys = [f"{gt.actions[a]}_{gt.roles[a][r]}" for a, r in gt.slots]
    try:
        img = np.array([d["image_id"] for d in dets], dtype=np.int64)
        person = np.array([d["person_box"] for d in dets], dtype=np.float32).reshape(-1, 4)
        agent = _columns(dets, agent_keys, np.nan).reshape(-1, len(agent_keys))
        role = _columns(dets, role_keys, [np.nan] * 5).reshape(-1, len(role_keys), 5)
    except (KeyError, TypeError, ValueError) as err:
        bad = _first_bad_entry(dets)
        raise PredictionFileError(f"{path}: entry {bad[0]}: {bad[1]} ({err})") from None
    return VsrlDetections(img, person, agent, role[..., 4].copy(), role[..., :4].copy())


def _columns(dets: list[dict], keys: list[str], missing: Any) -> np.ndarray:
    """``[D, K, ...]`` float32 of ``d[key]``; absent keys are ``missing`` (C-speed when none is)."""
    if not keys:
        return np.zeros((len(dets), 0), dtype=np.float32)
    try:
        rows = list(map(itemgetter(*keys), dets))
    except KeyError:
        rows = [tuple(d.get(k, missing) for k in keys) for d in dets]
    if len(keys) == 1:
        rows = [(r,) for r in rows]
    return np.array(rows, dtype=np.float32)


def _first_bad_entry(dets: list) -> tuple[int, str]:
    for k, d in enumerate(dets):
        if not isinstance(d, dict):
            return k, "not a dict"
        for key in ("image_id", "person_box"):
            if key not in d:
                return k, f"missing key {key!r}"
        if np.asarray(d["person_box"]).shape != (4,):
            return k, "person_box must have 4 numbers"
        for key, v in d.items():
            if re.fullmatch(r".+_(obj|instr)", key) and np.asarray(v).shape != (5,):
                return k, f"{key!r} must be [x1, y1, x2, y2, score]"
    return -1, "malformed values"
