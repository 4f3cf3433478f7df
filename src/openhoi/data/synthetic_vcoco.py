"""The synthetic benchmark in the V-COCO layout, with V-COCO's official evaluation files.

``write_vcoco_layout(hico_root, out)`` turns a synthetic dataset written in the HICO-DET
layout (``openhoi.data.synthetic``) into what a V-COCO user has on disk, so that V-COCO
recipes train and evaluate end to end on CPU:

    <out>/annotations/trainval_vcoco.json      GEN-VLKT's V-COCO training annotations
    <out>/annotations/test_vcoco.json          (HOI-A json; verb ids 0-based, label space
                                               ``synthetic_vcoco``)
    <out>/annotations/corre_vcoco.npy          [V, O] verb-object prior
    <out>/images/train2014/*.jpg, images/val2014/*.jpg
    <out>/official/instances_vcoco_all_2014.json   COCO instances of the test images
    <out>/official/vcoco_test.json             per action: action_name, role_name, ann_id,
                                               image_id, label, role_object_id
    <out>/official/vcoco_test.ids              test image ids, one per line

The official files follow s-gupta/v-coco's layout (``role_object_id`` stored role-major, as
``vsrl_eval`` reshapes it to ``[len(role_name), N]``), so ``openhoi.evaluation.vcoco_files``
reads them as it reads the real ones. COCO boxes are ``[x1, y1, x2 - x1 + 1, y2 - y1 + 1]``:
``vsrl_eval``'s ``[x, y, x + w - 1, y + h - 1]`` then gives back the json's ``[x1, y1, x2,
y2]`` (clipped to ``W - 1``, ``H - 1`` as vsrl_eval clips). Pairs of the synthetic ``no
interaction`` class have no V-COCO action and are left out; every human is a V-COCO person.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from openhoi.data.annotations import read_json
from openhoi.data.hicodet import SPLITS as HICO_SPLITS
from openhoi.data.vcoco import CORRESPONDENCE_FILE
from openhoi.data.vcoco import SPLITS as VCOCO_SPLITS
from openhoi.label_space import LabelSpace, load_label_space

LABEL_SPACE = "synthetic_vcoco"
OFFICIAL_DIR = "official"
OFFICIAL_FILES = {"coco": "instances_vcoco_all_2014.json", "vcoco": "vcoco_test.json",
                  "ids": "vcoco_test.ids"}
"""The official evaluation inputs, under ``<out>/official/``."""


def _convert_entries(entries: list[dict], verb_of: dict[int, int]) -> list[dict]:
    """HICO-layout entries -> V-COCO layout entries (verb ids remapped, other pairs dropped)."""
    out = []
    for e in entries:
        hois = [{"subject_id": h["subject_id"], "object_id": h["object_id"],
                 "category_id": verb_of[h["category_id"]]}
                for h in e["hoi_annotation"] if h["category_id"] in verb_of]
        out.append({"file_name": e["file_name"], "annotations": e["annotations"],
                    "hoi_annotation": hois})
    return out


def _official_files(entries: list[dict], out: Path, space: LabelSpace) -> None:
    """COCO instances, per-action V-COCO annotations and split ids of the test entries."""
    from PIL import Image

    person_id = space.object_ids[space.human_label]
    categories = [{"id": person_id, "name": space.objects[space.human_label]}] + [
        {"id": i, "name": n} for i, n in zip(space.object_ids, space.objects) if i != person_id]
    meta = space.extra["vcoco_official"]
    action_of = {e["verb"]: e["action"] for e in meta["verb_action_role"]}
    actions = meta["actions"]
    images, anns, persons = [], [], []  # persons: (ann_id, image_id, {action: role ann id})
    next_ann = 1
    for k, e in enumerate(entries):
        image_id = k + 1
        with Image.open(out / "images" / VCOCO_SPLITS["test"][1] / e["file_name"]) as im:
            width, height = im.size
        images.append({"id": image_id, "file_name": e["file_name"], "width": width,
                       "height": height})
        ids = []
        for a in e["annotations"]:
            x1, y1, x2, y2 = a["bbox"]
            w, h = x2 - x1 + 1, y2 - y1 + 1
            anns.append({"id": next_ann, "image_id": image_id, "category_id": a["category_id"],
                         "bbox": [x1, y1, w, h], "area": w * h, "iscrowd": 0})
            ids.append(next_ann)
            next_ann += 1
        roles: dict[int, dict[str, int]] = {}
        for hoi in e["hoi_annotation"]:
            action = action_of[space.verbs[hoi["category_id"]]]
            roles.setdefault(hoi["subject_id"], {})[action] = ids[hoi["object_id"]]
        persons += [(ids[i], image_id, roles.get(i, {})) for i, a in enumerate(e["annotations"])
                    if a["category_id"] == person_id]
    vcoco = []
    for act in actions:
        name = act["name"]
        label = [int(name in r) for _, _, r in persons]
        agent = [p for p, _, _ in persons]
        role = [r.get(name, 0) for _, _, r in persons]  # 0: no role object
        vcoco.append({"action_name": name, "role_name": act["roles"], "ann_id": agent,
                      "image_id": [i for _, i, _ in persons], "label": label,
                      "role_object_id": agent + role})  # role-major, agent first
    official = out / OFFICIAL_DIR
    official.mkdir(parents=True, exist_ok=True)
    coco = {"images": images, "annotations": anns, "categories": categories}
    (official / OFFICIAL_FILES["coco"]).write_text(json.dumps(coco))
    (official / OFFICIAL_FILES["vcoco"]).write_text(json.dumps(vcoco))
    (official / OFFICIAL_FILES["ids"]).write_text("".join(f"{i['id']}\n" for i in images))


def write_vcoco_layout(hico_root: str | Path, out: str | Path) -> Path:
    """Write the synthetic dataset at ``hico_root`` (HICO-DET layout) in the V-COCO layout at
    ``out`` (images hard-linked where possible, else copied); returns ``out``."""
    hico_root, out = Path(hico_root), Path(out)
    space = load_label_space(LABEL_SPACE)
    synthetic = load_label_space("synthetic")
    vcoco_verb = {v: k for k, v in enumerate(space.verbs)}
    names = space.extra["synthetic_verbs"]  # synthetic verb -> V-COCO verb class
    verb_of = {synthetic.verb_ids[i]: vcoco_verb[names[v]]
               for i, v in enumerate(synthetic.verbs) if v in names}
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    test_entries = []
    for split in ("train", "test"):
        ann_name, src_folder = HICO_SPLITS[split]
        dst_name, dst_folder = VCOCO_SPLITS[split]
        entries = _convert_entries(read_json(hico_root / "annotations" / ann_name), verb_of)
        (out / "annotations" / dst_name).write_text(json.dumps(entries))
        dst = out / "images" / dst_folder
        dst.mkdir(parents=True, exist_ok=True)
        for e in entries:
            src = hico_root / "images" / src_folder / e["file_name"]
            try:
                os.link(src, dst / e["file_name"])
            except OSError:
                shutil.copyfile(src, dst / e["file_name"])
        if split == "test":
            test_entries = entries
    np.save(out / "annotations" / CORRESPONDENCE_FILE,
            space.correspondence.numpy().astype(np.float32))
    _official_files(test_entries, out, space)
    return out
