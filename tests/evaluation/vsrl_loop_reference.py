"""A loop implementation of V-COCO's ``vsrl_eval`` protocol, for the tests.

Written from the rules (``openhoi.evaluation.vcoco_ap``) in the reference's shape: it builds its
own per-image ground truth from the three official files with plain loops, then, per action
(and role), per image, scans the detections of that image in descending score order. Scalar
arithmetic reproduces numpy 1.x's. Ties are broken as openhoi documents (stable order).
"""

from __future__ import annotations

import json

import numpy as np

f32 = np.float32


def overlap(gt: list[float], pred: list[float]) -> float:
    """``get_overlap(gt[None], pred)[0]`` with numpy 1.x scalar promotion."""
    g = [f32(v) for v in gt]
    p = [f32(v) for v in pred]
    iw = max(f32(min(g[2], p[2]) - max(g[0], p[0]) + f32(1)), f32(0))
    ih = max(f32(min(g[3], p[3]) - max(g[1], p[1]) + f32(1)), f32(0))
    inter = f32(iw * ih)
    ref_area = f32((float(f32(p[2] - p[0])) + 1.0) * (float(f32(p[3] - p[1])) + 1.0))
    gt_area = f32(f32(g[2] - g[0] + f32(1)) * f32(g[3] - g[1] + f32(1)))
    with np.errstate(all="ignore"):
        return float(f32(inter / f32(f32(ref_area + gt_area) - inter)))


def build_db(coco_file, vcoco_file, ids_file):
    coco = json.load(open(coco_file))
    vcoco = json.load(open(vcoco_file))
    ids = [int(float(x)) for x in open(ids_file).read().split()]
    person_cat = coco["categories"][0]["id"]
    images = {im["id"]: im for im in coco["images"]}
    anns_of = {}
    for ann in coco["annotations"]:
        anns_of.setdefault(ann["image_id"], []).append(ann)
    row_of = [{a: k for k, a in enumerate(e["ann_id"])} for e in vcoco]
    db = []
    for image_id in ids:
        im = images[image_id]
        objs = []
        for ann in anns_of.get(image_id, []):
            if ann.get("ignore", 0) == 1:
                continue
            x1, y1, w, h = (float(v) for v in ann["bbox"])
            x2, y2 = x1 + max(0.0, w - 1.0), y1 + max(0.0, h - 1.0)
            x1, x2 = (min(im["width"] - 1.0, max(0.0, v)) for v in (x1, x2))
            y1, y2 = (min(im["height"] - 1.0, max(0.0, v)) for v in (y1, y2))
            if ann["area"] > 0 and x2 > x1 and y2 > y1:
                objs.append((ann["id"], ann["category_id"], [float(f32(v)) for v in
                                                             (x1, y1, x2, y2)]))
        persons = []
        for ann_id, cat, box in objs:
            if cat != person_cat:
                continue
            if ann_id not in row_of[0]:
                persons.append((box, None, None))
                continue
            labels, roles = [], []
            for entry, rows in zip(vcoco, row_of):
                n = len(entry["ann_id"])
                k = rows[ann_id]
                labels.append(entry["label"][k])
                rboxes = []
                for r in range(1, len(entry["role_name"])):
                    rid = entry["role_object_id"][r * n + k]
                    rboxes.append(next(b for a, _, b in objs if a == rid)
                                  if entry["label"][k] == 1 and rid != 0 else None)
                roles.append(rboxes)
            persons.append((box, labels, roles))
        db.append((image_id, persons))
    actions = [(e["action_name"], e["role_name"]) for e in vcoco]
    return db, actions


def voc_ap(tp_sorted, npos):
    if npos == 0:
        return float("nan")
    tp = np.cumsum(np.array(tp_sorted, dtype=np.float32))
    fp = np.cumsum(np.array([1 - t for t in tp_sorted], dtype=np.float32))
    rec = (tp / f32(npos)).astype(np.float64)
    prec = (tp / np.maximum(tp + fp, f32(np.finfo(np.float64).eps))).astype(np.float64)
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(f32(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])))


def evaluate(db, actions, dets):
    """Agent APs ``[A]`` and role APs ``{(a, r): (scenario 1, scenario 2)}``."""
    npos = [sum(1 for _, persons in db for _, lab, _ in persons if lab and lab[a] == 1)
            for a in range(len(actions))]
    by_image = {}
    for d in dets:  # vsrl_eval rescans all detections per image; bucketing once is the same
        by_image.setdefault(d["image_id"], []).append(d)
    agent, role = [], {}
    for a, (name, roles) in enumerate(actions):
        agent.append(_one(db, by_image, f"{name}_agent", a, None, None, npos[a]))
        for r in range(1, len(roles)):
            key = f"{name}_{roles[r]}"
            role[(a, r)] = tuple(_one(db, by_image, key, a, r, sc, npos[a]) for sc in (1, 2))
    return agent, role


def _one(db, by_image, key, a, r, scenario, npos):
    entries = []  # (score, image order, position, tp)
    for img_order, (image_id, persons) in enumerate(db):
        mine = list(enumerate(by_image.get(image_id, [])))
        scored = []
        for pos, d in mine:
            v = d.get(key, np.nan if r is None else [np.nan] * 5)
            score = float(f32(v if r is None else v[4]))
            if not np.isnan(score):
                scored.append((score, pos, d))
        scored.sort(key=lambda e: -e[0])  # stable: position breaks ties
        covered = [False] * len(persons)
        for score, pos, d in scored:
            if not persons:
                entries.append((score, img_order, pos, 0))
                continue
            ovs = [overlap(box, d["person_box"]) for box, _, _ in persons]
            jmax = int(np.argmax(ovs))
            ovmax = max(ovs)
            box, labels, roles = persons[jmax]
            if labels is None:
                continue  # matched a person V-COCO does not annotate: ignored
            ok = labels[a] == 1 and ovmax >= 0.5
            if ok and r is not None:
                pred = [float(f32(v)) for v in d[key][:4]]
                gt_role = roles[a][r - 1]
                if gt_role is None:
                    empty = all(v == 0.0 for v in pred) or all(np.isnan(v) for v in pred)
                    ok = empty if scenario == 1 else True
                else:
                    ok = overlap(gt_role, pred) >= 0.5
            tp = 1 if ok and not covered[jmax] else 0
            if ok:
                covered[jmax] = True
            entries.append((score, img_order, pos, tp))
    entries.sort(key=lambda e: (-e[0], e[1], e[2]))
    if not entries:
        return 0.0 if npos else float("nan")
    return voc_ap([e[3] for e in entries], npos)
