"""Builders of ground truth / predictions for the evaluator tests, in both our and loop form."""

from __future__ import annotations

import numpy as np
import torch

from openhoi.label_space import LabelSpace
from openhoi.structures import HOIPredictions, HOITargets


def targets(image_id: str, boxes, labels, hois, space: LabelSpace,
            entries: bool = True) -> HOITargets:
    """HOITargets from boxes and ``[(h, o, interaction), ...]``, the annotation entries in file
    order (repeats allowed): pairs merge in first-seen order with multi-hot verbs, and
    ``hoi_entries`` keeps every entry (left None with ``entries=False``)."""
    pairs: list[tuple[int, int]] = []
    verbs = []
    rows = []
    for h, o, c in hois:
        if (h, o) not in pairs:
            pairs.append((h, o))
            verbs.append(torch.zeros(space.num_verbs))
        verb = space.interactions[c][0]
        verbs[pairs.index((h, o))][verb] = 1.0
        rows.append((pairs.index((h, o)), verb))
    return HOITargets(
        boxes_xyxy=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        labels=torch.tensor(labels, dtype=torch.long),
        pair_idx=torch.tensor(pairs, dtype=torch.long).reshape(-1, 2),
        verbs=torch.stack(verbs) if verbs else torch.zeros(0, space.num_verbs),
        image_id=image_id,
        size=(480, 640),
        orig_size=(480, 640),
        hoi_entries=torch.tensor(rows, dtype=torch.long).reshape(-1, 2) if entries else None,
    )


def annotation_json(ref_gts, space: LabelSpace) -> list[dict]:
    """The loop-form ground truth as a test_hico.json-style list (entries in the same order;
    boxes in no entry are labelled person)."""
    out = []
    for name, boxes, hois in ref_gts:
        labels = {}
        for h, o, c in hois:
            labels[h] = space.human_label
            labels[o] = space.interactions[c][1]
        out.append({
            "file_name": name,
            "annotations": [{"bbox": b, "category_id": space.object_ids[labels.get(k, 0)]}
                            for k, b in enumerate(boxes)],
            "hoi_annotation": [{"subject_id": h, "object_id": o,
                                "category_id": space.verb_ids[space.interactions[c][0]]}
                               for h, o, c in hois]})
    return out


def predictions(image_id: str, boxes, triplets) -> HOIPredictions:
    """HOIPredictions from boxes and ``[(h, o, interaction, score), ...]``."""
    return HOIPredictions(
        boxes_xyxy=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        labels=torch.zeros(len(boxes), dtype=torch.long),
        pair_idx=torch.tensor([t[:2] for t in triplets], dtype=torch.long).reshape(-1, 2),
        interactions=torch.tensor([t[2] for t in triplets], dtype=torch.long),
        scores=torch.tensor([t[3] for t in triplets], dtype=torch.float32),
        image_id=image_id,
    )


def _jitter(box, rng, scale):
    x1, y1, x2, y2 = box
    w, h = x2 - x1 + 1, y2 - y1 + 1
    d = rng.normal(0, scale, 4) * np.array([w, h, w, h])
    return [x1 + d[0], y1 + d[1], x2 + d[2], y2 + d[3]]


def random_case(seed: int, space: LabelSpace, num_images: int = 40, num_extra: int = 3):
    """A random test set: returns (targets, predictions, loop-form gts, loop-form preds, extra).

    Ground truth: integer boxes, 0-4 pairs per image (some images without pairs), several
    pairs sharing a human, and what real annotation files contain: entries listed twice,
    entries of one pair interleaved with other pairs, and boxes listed twice under two ids.
    Predictions: jittered ground-truth pairs with right and wrong classes, random boxes, exact
    score ties, half-pixel coordinates, duplicate triplets, and a few images that are not in
    the ground truth.
    """
    rng = np.random.default_rng(seed)
    obj_of = [o for _, o in space.interactions]
    human = space.human_label
    objects = [o for o in range(space.num_objects) if o != human]
    tgts, preds, ref_gts, ref_preds = [], [], [], {}
    names = [f"img_{seed}_{k:04d}.jpg" for k in range(num_images)]
    extra = [f"extra_{seed}_{k}.jpg" for k in range(num_extra)]
    for k, name in enumerate(names + extra):
        in_gt = k < num_images
        num_h = int(rng.integers(1, 3))
        num_o = int(rng.integers(0, 4))
        xy = rng.integers(0, 500, (num_h + num_o, 2))
        wh = rng.integers(5, 200, (num_h + num_o, 2))
        boxes = np.concatenate([xy, xy + wh], 1).astype(float).tolist()
        labels = [human] * num_h + [int(rng.choice(objects)) for _ in range(num_o)]
        hois = []
        for o in range(num_h, num_h + num_o):
            h = int(rng.integers(0, num_h))
            classes = [c for c in range(space.num_interactions) if obj_of[c] == labels[o]]
            for c in sorted(rng.choice(classes, int(rng.integers(1, 3)), replace=False)):
                hois.append((h, o, int(c)))
        if hois and rng.random() < 0.4:  # a box listed again under a new id, with its entries
            h, o, _ = hois[int(rng.integers(0, len(hois)))]
            copy_h = rng.random() < 0.5
            boxes.append(list(boxes[h if copy_h else o]))
            labels.append(labels[h if copy_h else o])
            new = len(boxes) - 1
            hois += [(new if copy_h else hh, oo if copy_h else new, c)
                     for hh, oo, c in hois if (hh, oo) == (h, o)]
        if hois and rng.random() < 0.5:  # an object next to another, same human and classes:
            h, o, _ = hois[int(rng.integers(0, len(hois)))]  # a detection whose human box is
            d = rng.integers(1, 6, 4)  # the worse fit overlaps both pairs equally (C3 ties)
            boxes.append([boxes[o][0] + d[0], boxes[o][1] + d[1], boxes[o][2] + d[2],
                          boxes[o][3] + d[3]])
            labels.append(labels[o])
            hois += [(hh, len(boxes) - 1, c) for hh, oo, c in hois if (hh, oo) == (h, o)]
        for _ in range(int(rng.integers(0, 3)) if hois else 0):  # entries listed twice
            hois.insert(int(rng.integers(0, len(hois) + 1)), hois[int(rng.integers(0, len(hois)))])
        if rng.random() < 0.5:  # pairs interleaved: file order is not pair order
            hois = [hois[j] for j in rng.permutation(len(hois))]
        if in_gt:
            tgts.append(targets(name, boxes, labels, hois, space))
            ref_gts.append((name, boxes, hois))
        p_boxes = [_jitter(b, rng, float(rng.choice([0.0, 0.02, 0.1, 0.3]))) for b in boxes]
        p_boxes += [list(map(float, b)) for b in rng.uniform(0, 600, (3, 4))]
        if rng.random() < 0.3:  # half-pixel coordinates exercise MATLAB's round
            p_boxes = [[np.floor(v) + 0.5 for v in b] for b in p_boxes]
        p_boxes = [[float(np.float32(v)) for v in b] for b in p_boxes]
        trip = []
        for _ in range(int(rng.integers(0, 25))):
            if hois and rng.random() < 0.6:
                h, o, c = hois[int(rng.integers(0, len(hois)))]
                if rng.random() < 0.3:
                    c = int(rng.integers(0, space.num_interactions))
            else:
                h, o = int(rng.integers(0, len(p_boxes))), int(rng.integers(0, len(p_boxes)))
                c = int(rng.integers(0, space.num_interactions))
            score = float(np.float32(rng.random()))
            if rng.random() < 0.2:
                score = float(np.float32(round(score, 1)))  # exact ties, within and across images
            trip.append((h, o, c, score))
        if trip and rng.random() < 0.3:
            trip.append(trip[0])  # a duplicated triplet
        if rng.random() < 0.9:  # some ground-truth images get no predictions at all
            preds.append(predictions(name, p_boxes, trip))
            ref_preds[name] = (p_boxes, trip)
    return tgts, preds, ref_gts, ref_preds, extra
