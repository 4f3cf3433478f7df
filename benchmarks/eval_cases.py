"""Seeded synthetic evaluation cases at benchmark scale: HICO-DET and V-COCO (official files)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch

from openhoi.label_space import LabelSpace
from openhoi.structures import HOIPredictions, HOITargets


def _boxes(rng: np.random.Generator, n: int, hw: np.ndarray) -> np.ndarray:
    """``[n, 4]`` integer boxes inside an image of size ``hw``."""
    w = rng.integers(20, np.maximum(21, hw[1] // 2), n)
    h = rng.integers(20, np.maximum(21, hw[0] // 2), n)
    x = rng.integers(0, hw[1] - w)
    y = rng.integers(0, hw[0] - h)
    return np.stack([x, y, x + w, y + h], 1).astype(np.float64)


def make_hico_case(space: LabelSpace, num_images: int, seed: int = 0, queries: int = 64,
              top_k: int = 100) -> tuple[list[HOITargets], list[HOIPredictions]]:
    """Ground truth with a long-tailed class distribution and plausible model output.

    The annotation entries are not in pair order in half of the images, and 2% of them are
    listed twice, as annotation files can have them (drawn from their own generator, so the
    boxes and predictions do not depend on them).
    """
    rng = np.random.default_rng(seed)
    entry_rng = np.random.default_rng([seed, 1])
    obj_of = space.interaction_object.numpy()
    classes_of = [np.flatnonzero(obj_of == o) for o in range(space.num_objects)]
    objects = np.array([o for o in range(space.num_objects) if len(classes_of[o])])
    obj_weight = 1.0 / np.arange(1, len(objects) + 1) ** 0.8  # long tail over objects
    obj_weight /= obj_weight.sum()
    human = space.human_label
    targets, preds = [], []
    for k in range(num_images):
        hw = np.array([rng.integers(300, 640), rng.integers(400, 640)])
        n_h, n_o = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1])), int(rng.integers(1, 4))
        boxes = _boxes(rng, n_h + n_o, hw)
        labels = np.r_[np.full(n_h, human), rng.choice(objects, n_o, p=obj_weight)]
        pairs, pair_cls = [], []
        for o in range(n_h, n_h + n_o):
            cls = classes_of[labels[o]]
            take = rng.choice(cls, min(len(cls), int(rng.choice([1, 2, 3], p=[.5, .3, .2]))),
                              replace=False)
            pairs.append((int(rng.integers(0, n_h)), o))
            pair_cls.append(take)
        verbs = torch.zeros(len(pairs), space.num_verbs)
        for r, cls in enumerate(pair_cls):
            verbs[r, space.interaction_verb[torch.as_tensor(cls)]] = 1.0
        entries = [(r, int(space.interaction_verb[c])) for r, cls in enumerate(pair_cls)
                   for c in cls]
        entries += [e for e in entries if entry_rng.random() < 0.02]  # listed twice
        if entry_rng.random() < 0.5:
            entries = [entries[j] for j in entry_rng.permutation(len(entries))]
        name = f"HICO_test2015_{k + 1:08d}.jpg"
        size = (int(hw[0]), int(hw[1]))
        targets.append(HOITargets(torch.as_tensor(boxes, dtype=torch.float32),
                                  torch.as_tensor(labels), torch.as_tensor(pairs), verbs,
                                  name, size, size, hoi_entries=torch.as_tensor(entries)))
        # model output: queries copy ground-truth pairs with jitter, the rest are random
        src = rng.integers(0, len(pairs), queries)
        real = rng.random(queries) < 0.6
        h_box = np.where(real[:, None], boxes[[pairs[s][0] for s in src]], _boxes(rng, queries, hw))
        o_box = np.where(real[:, None], boxes[[pairs[s][1] for s in src]], _boxes(rng, queries, hw))
        h_box = h_box + rng.normal(0, 0.08, (queries, 4)) * 60
        o_box = o_box + rng.normal(0, 0.08, (queries, 4)) * 60
        q = rng.integers(0, queries, top_k)
        right = real[q] & (rng.random(top_k) < 0.5)
        cls = np.array([rng.choice(pair_cls[src[i]]) if r else rng.integers(space.num_interactions)
                        for i, r in zip(q, right)])
        scores = -np.sort(-rng.random(top_k) * np.where(right, 1.0, 0.6))
        preds.append(HOIPredictions(
            boxes_xyxy=torch.as_tensor(np.r_[h_box, o_box], dtype=torch.float32),
            labels=torch.zeros(2 * queries, dtype=torch.long),
            pair_idx=torch.as_tensor(np.stack([q, q + queries], 1)),
            interactions=torch.as_tensor(cls), scores=torch.as_tensor(scores, dtype=torch.float32),
            image_id=name))
    return targets, preds



def make_vcoco_case(space: LabelSpace, num_images: int, folder: Path, seed: int = 0,
                    dets_per_image: int = 64) -> tuple[Path, Path, Path, Path]:
    """V-COCO-shaped official files and a vsrl_eval detections pickle (GEN-VLKT's format: one
    dict per query pair with every action's agent score and every role's box + score).

    Returns:
        Paths of the COCO instances json, the V-COCO json, the split ids and the pickle.
    """
    rng = np.random.default_rng(seed)
    actions = [(a["name"], a["roles"]) for a in space.extra["vcoco_official"]["actions"]]
    role_keys = [(k, f"{n}_{r}") for k, (n, roles) in enumerate(actions) for r in roles[1:]]
    images, anns, rows, dets = [], [], [], []
    ann_id = 1
    for k in range(num_images):
        image_id = 1000 + k
        hw = np.array([rng.integers(300, 640), rng.integers(400, 640)])
        images.append({"id": image_id, "width": int(hw[1]), "height": int(hw[0]),
                       "file_name": f"COCO_val2014_{image_id:012d}.jpg"})
        n_p, n_o = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        boxes = _boxes(rng, n_p + n_o, hw)
        ids = list(range(ann_id, ann_id + n_p + n_o))
        ann_id += n_p + n_o
        for i, box in zip(ids, boxes):
            cat = 1 if i < ids[n_p] else int(rng.integers(2, 91))
            anns.append({"id": i, "image_id": image_id, "category_id": cat, "iscrowd": 0,
                         "bbox": [box[0], box[1], box[2] - box[0] + 1, box[3] - box[1] + 1],
                         "area": float((box[2] - box[0]) * (box[3] - box[1]))})
        for p in ids[:n_p]:
            if rng.random() < 0.8:  # the others are persons V-COCO does not annotate
                rows.append((image_id, p, rng.random(len(actions)) < 0.2,
                             rng.choice(ids[n_p:] + [0, 0], (len(actions), 2))))
        src = rng.integers(0, n_p, dets_per_image)
        obj = rng.integers(n_p, n_p + n_o, dets_per_image)
        jit = rng.normal(0, 6, (dets_per_image, 2, 4))
        for q in range(dets_per_image):
            person = (boxes[src[q]] + jit[q, 0]).tolist()
            role_box = (boxes[obj[q]] + jit[q, 1]).tolist()
            scores = rng.random(len(actions) + len(role_keys)).tolist()
            det = {"image_id": image_id, "person_box": person}
            det.update({f"{n}_agent": s for (n, _), s in zip(actions, scores)})
            det.update({key: role_box + [s] for (_, key), s in
                        zip(role_keys, scores[len(actions):])})
            dets.append(det)
    entries = []
    for a, (name, roles) in enumerate(actions):
        rids = [[p for _, p, _, _ in rows]] + [
            [int(r[a, j]) if lab[a] else 0 for _, _, lab, r in rows] for j in range(len(roles) - 1)]
        entries.append({"action_name": name, "role_name": roles,
                        "image_id": [i for i, _, _, _ in rows],
                        "ann_id": [p for _, p, _, _ in rows],
                        "label": [int(lab[a]) for _, _, lab, _ in rows],
                        "role_object_id": [x for col in rids for x in col]})
    folder.mkdir(parents=True, exist_ok=True)
    paths = (folder / "instances_vcoco.json", folder / "vcoco_test.json", folder / "test.ids",
             folder / "detections.pkl")
    paths[0].write_text(json.dumps({"images": images, "annotations": anns,
                                    "categories": [{"id": c} for c in range(1, 91)]}))
    paths[1].write_text(json.dumps(entries))
    paths[2].write_text("\n".join(str(im["id"]) for im in images))
    paths[3].write_bytes(pickle.dumps(dets, protocol=2))
    return paths
