"""Small V-COCO test sets written in the official file formats (COCO instances, vcoco json,
split ids) and vsrl_eval-style detections."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np

from openhoi.label_space import load_label_space

VCOCO = load_label_space("vcoco")
ACTIONS = [(a["name"], a["roles"]) for a in VCOCO.extra["vcoco_official"]["actions"]]
CATS = [{"id": 1, "name": "person"}, {"id": 37, "name": "sports ball"}, {"id": 47, "name": "cup"}]


def write_files(tmp_path, images, anns, vsrl):
    """images: [(id, w, h)]; anns: [(ann_id, image_id, cat, [x, y, w, h], area, ignore?)];
    vsrl: {ann_id: {action index: [role ann ids or 0] or None (label 0)}} for annotated people.
    """
    coco = {"images": [{"id": i, "width": w, "height": h, "file_name": f"COCO_val2014_{i:012d}.jpg"}
                       for i, w, h in images],
            "categories": CATS,
            "annotations": [{"id": a, "image_id": i, "category_id": c, "bbox": b, "area": ar,
                             "iscrowd": 0, **({"ignore": 1} if ig else {})}
                            for a, i, c, b, ar, ig in anns]}
    ann_ids = sorted(vsrl)
    img_of = {a: i for a, i, *_ in anns}
    entries = []
    for k, (name, roles) in enumerate(ACTIONS):
        label, rids = [], [[a for a in ann_ids]] + [[] for _ in roles[1:]]
        for a in ann_ids:
            spec = vsrl[a].get(k)
            label.append(0 if spec is None else 1)
            for r in range(1, len(roles)):
                rids[r].append(0 if spec is None else spec[r - 1])
        entries.append({"action_name": name, "role_name": roles, "ann_id": ann_ids,
                        "image_id": [img_of[a] for a in ann_ids], "label": label,
                        "role_object_id": [x for col in rids for x in col]})
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    (tmp_path / "vcoco.json").write_text(json.dumps(entries))
    (tmp_path / "test.ids").write_text("\n".join(str(i) for i, _, _ in images) + "\n")
    return tmp_path / "coco.json", tmp_path / "vcoco.json", tmp_path / "test.ids"


def random_case(rng: np.random.Generator, num_images: int = 12):
    images, anns, vsrl, dets = [], [], {}, []
    next_id = 1000
    for k in range(num_images):
        image_id = 100 + k
        w, h = int(rng.integers(200, 640)), int(rng.integers(200, 480))
        images.append((image_id, w, h))
        objs = []
        for _ in range(int(rng.integers(0, 5))):
            cat = int(rng.choice([1, 1, 37, 47]))
            x, y = float(rng.uniform(-5, w - 20)), float(rng.uniform(-5, h - 20))
            bw, bh = float(rng.uniform(1, 150)), float(rng.uniform(1, 150))
            ignore = rng.random() < 0.05
            area = 0.0 if rng.random() < 0.03 else bw * bh
            anns.append((next_id, image_id, cat, [x, y, bw, bh], area, ignore))
            objs.append((next_id, cat, [x, y, x + bw - 1, y + bh - 1], ignore or area == 0))
            next_id += 1
        objects = [o for o in objs if o[1] != 1 and not o[3]]
        for ann_id, cat, _box, bad in objs:
            if cat != 1 or bad or rng.random() < 0.25:
                continue  # persons left out of V-COCO
            spec = {}
            for a, (_, roles) in enumerate(ACTIONS):
                if rng.random() < 0.15:
                    spec[a] = [int(rng.choice([o[0] for o in objects])) if objects and
                               rng.random() < 0.7 else 0 for _ in roles[1:]]
            vsrl[ann_id] = spec
        for _ in range(int(rng.integers(0, 6))):
            src = objs[int(rng.integers(0, len(objs)))][2] if objs and rng.random() < 0.8 else \
                [float(v) for v in rng.uniform(0, 200, 4)]
            person = [v + float(rng.normal(0, 4)) for v in src]
            det = {"image_id": image_id, "person_box": person}
            for name, roles in ACTIONS:
                if rng.random() < 0.9:
                    det[f"{name}_agent"] = float(np.round(rng.random(), 1 if rng.random() < .3
                                                          else 6))
                for role in roles[1:]:
                    if rng.random() < 0.1:
                        continue
                    kind = rng.random()
                    if kind < 0.15:
                        box = [0.0, 0.0, 0.0, 0.0]
                    elif kind < 0.3:
                        box = [math.nan] * 4
                    elif objects and kind < 0.8:
                        ob = objects[int(rng.integers(0, len(objects)))][2]
                        box = [v + float(rng.normal(0, 3)) for v in ob]
                    else:
                        box = [float(v) for v in rng.uniform(0, 200, 4)]
                    det[f"{name}_{role}"] = box + [float(rng.random())]
            dets.append(det)
    dets.append({"image_id": 99999, "person_box": [0, 0, 9, 9]})  # not a test image
    return images, anns, vsrl, dets


def write_pickle(path, dets):
    path.write_bytes(pickle.dumps(dets, protocol=2))
    return path
