"""V-COCO ground truth built from annotation targets instead of the official files: what
validation during training scores against (the held-out training images have no official
per-split files of their own).

Differences from ``read_vcoco_ground_truth`` (the official files, used for the test split):
persons are the human boxes of the annotation json (every human, each labelled; the official
files also hold COCO persons V-COCO does not annotate, which are ignored), boxes are the json's
xyxy as they are (vsrl_eval rebuilds them from COCO's xywh as ``x + w - 1``), and image ids are
the images' positions. Actions and roles come from the label space's ``vcoco_official``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from openhoi.errors import OpenHOIError
from openhoi.evaluation.vcoco_files import VCOCOGroundTruth
from openhoi.label_space import LabelSpace
from openhoi.structures import HOITargets


def vcoco_ground_truth_from_targets(targets: Sequence[HOITargets], space: LabelSpace
                                    ) -> VCOCOGroundTruth:
    """Persons, action labels and role boxes of ``targets`` (boxes in the pixels of the
    images on disk: ``targets`` come from ``HOIDetectionDataset.ground_truth``)."""
    official = space.extra.get("vcoco_official")
    if not official:
        raise OpenHOIError(f"label space {space.name!r} has no vcoco_official metadata; "
                           "V-COCO evaluation needs a V-COCO label space")
    actions = tuple(a["name"] for a in official["actions"])
    roles = tuple(tuple(a["roles"]) for a in official["actions"])
    slots = tuple((a, r) for a, rs in enumerate(roles) for r in range(1, len(rs)))
    by_verb = {e["verb"]: (actions.index(e["action"]), roles[actions.index(e["action"])]
                           .index(e["role"])) for e in official["verb_action_role"]}
    slot_of = {s: k for k, s in enumerate(slots)}
    verb_action_role = [by_verb[v] for v in space.verbs]
    p_img, p_box, p_lab, p_roles = [], [], [], []
    for i, t in enumerate(targets):
        boxes = t.boxes_xyxy.double().numpy()
        humans = np.flatnonzero(t.labels.numpy() == space.human_label)
        row_of = {int(h): k for k, h in enumerate(humans)}  # box index -> person row
        labels = np.zeros((len(humans), len(actions)), np.int64)
        role_boxes = np.full((len(humans), len(slots), 4), -1.0)
        for (h, o), verbs in zip(t.pair_idx.tolist(), t.verbs.numpy()):
            for v in np.flatnonzero(verbs > 0):
                a, r = verb_action_role[v]
                labels[row_of[h], a] = 1
                if r > 0 and o >= 0:
                    role_boxes[row_of[h], slot_of[(a, r)]] = boxes[o]
        p_img += [i] * len(humans)
        p_box += boxes[humans].tolist()
        p_lab.append(labels)
        p_roles.append(role_boxes)
    num_p = len(p_box)
    return VCOCOGroundTruth(
        actions=actions, roles=roles, slots=slots,
        image_ids=np.arange(len(targets), dtype=np.int64),
        file_names=tuple(t.image_id for t in targets),
        person_img=np.asarray(p_img, dtype=np.int64),
        person_boxes=np.asarray(p_box, dtype=np.float64).reshape(num_p, 4).astype(np.float32),
        labels=(np.concatenate(p_lab) if p_lab else np.zeros((0, len(actions)), np.int64)),
        role_boxes=(np.concatenate(p_roles) if p_roles else np.zeros((0, len(slots), 4))
                    ).astype(np.float32),
    )
