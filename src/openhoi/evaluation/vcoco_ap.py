"""V-COCO agent AP and role AP (scenarios 1 and 2), the official ``vsrl_eval`` protocol.

Source: s-gupta/v-coco ``vsrl_eval.py`` (``_do_agent_eval``, ``_do_role_eval``, ``voc_ap``,
``get_overlap``), run on ``instances_vcoco_all_2014.json`` + ``vcoco_test.json`` +
``vcoco_test.ids`` (ground truth: :func:`~openhoi.evaluation.vcoco_files.read_vcoco_ground_truth`).
A detection is one predicted person with, per action, an agent score and, per (action, role),
a role box and score (:class:`~openhoi.evaluation.vcoco_files.VsrlDetections`).

  V1  Detections of images outside the split are not evaluated.
  V2  Each detection is matched to the ground-truth person (all COCO persons of the image, not
      only V-COCO's) of highest IoU (:func:`~openhoi.evaluation.overlaps.iou_vsrl`, float32,
      "+1" areas), the first on ties (``argmax``). If that person is not annotated in V-COCO
      (all labels -1), the detection is **ignored**: neither TP nor FP.
  V3  Per action (agent AP) or (action, role) (role AP), the detections with a non-NaN score
      are taken by descending score within each image. A detection qualifies iff the matched
      person has the action, IoU >= 0.5 and, for role AP, the role overlap >= 0.5. A qualifying
      detection is a TP iff its person was not already covered, else an FP; all others are FPs.
  V4  Role overlap: the IoU of the predicted and annotated role boxes. When the person has no
      annotated role object (occluded / absent), scenario 1 counts the role as correct only if
      the predicted role box is all zeros or all NaN; scenario 2 always counts it as correct.
  V5  ``num_pos`` of an action = annotated persons with the action (both APs use it). Recall
      and precision are float32 (``np.cumsum`` of float32 flags; numpy 1.x arithmetic).
  V6  AP = area under the monotone precision envelope with sentinels (0, 0) and (1, 0)
      (VOC2010), stored as float32. Role AP = ``nanmean`` over the (action, role) pairs;
      agent AP = ``nansum`` over actions / number of actions.
  V7  Ties: descending score, then image order (split file), then detection order (C8 of
      ``hico_map``); vsrl_eval uses ``argsort()[::-1]`` (unstable). Differences from vsrl_eval,
      where it fails: a detection in an image without any ground-truth person is an FP
      (vsrl_eval raises on ``argmax`` of nothing); an action without positives has AP NaN
      (vsrl_eval's assertion fails); a missing detection key is NaN (vsrl_eval: ``KeyError``).

Speed: vsrl_eval rescans the whole detection list for every image and every action
(quadratic); here each detection is matched once and every (action, role) is vectorised.

``HOIPredictions`` in the ``vcoco`` label space (GEN-VLKT's 29 verb classes) become detections
as GEN-VLKT's ``generate_vcoco_official.py`` builds them: one detection per (human, object) pair;
a verb class ``<action>_<role>`` gives that role's score and the object box (NaN for an
objectless interaction); an action's agent score is the maximum of its roles' scores (the verb
score for agent-only actions); several triplets for one slot keep the highest score.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from openhoi.data.label_arrays import interaction_object, interaction_verb
from openhoi.errors import OpenHOIError, PredictionFileError
from openhoi.evaluation.ap import descending_order
from openhoi.evaluation.matching import first_in_group, join_on_key, segment_first_argmax
from openhoi.evaluation.overlaps import iou_vsrl
from openhoi.evaluation.prediction_arrays import PredictionArrays
from openhoi.evaluation.vcoco_files import VCOCOGroundTruth, VsrlDetections
from openhoi.label_space import LabelSpace

if TYPE_CHECKING:
    from openhoi.structures import HOIPredictions

log = logging.getLogger(__name__)
IOU_THRESHOLD = 0.5


def vsrl_ap(tp: np.ndarray, num_pos: int) -> np.float32:
    """AP of ranked detections as ``vsrl_eval`` computes it (V5, V6); NaN without positives.

    vsrl_eval builds float32 ``rec``/``prec`` over every detection, then sums
    ``(r[i+1] - r[i]) * envelope[i+1]`` (float64) where recall changes. Recall changes only at
    true positives (plus a final step to 1 whose envelope is the sentinel 0), and the envelope
    there is the running maximum over later true positives (a false positive never has higher
    precision than the true positive before it). So the same terms, in the same order, come
    from the true positives alone, and ``np.sum`` of them is bit-identical.
    """
    if num_pos == 0:
        return np.float32(np.nan)
    pos = np.flatnonzero(tp)  # [T] ranks of the true positives
    k = np.arange(1, pos.size + 1, dtype=np.float32)  # cumulative TPs there (exact in float32)
    rec = (k / np.float32(num_pos)).astype(np.float64)
    prec = (k / (pos + 1).astype(np.float32)).astype(np.float64)  # tp + fp = rank + 1 >= 1
    envelope = np.maximum.accumulate(prec[::-1])[::-1]
    terms = (rec - np.r_[0.0, rec[:-1]]) * envelope
    if tp.size and (rec.size == 0 or rec[-1] != 1.0):
        terms = np.r_[terms, (1.0 - (rec[-1] if rec.size else 0.0)) * 0.0]
    return np.float32(np.sum(terms))


def _ranked(score: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Valid detections by descending score; ties by image, then input order (V3, V7)."""
    idx = np.flatnonzero(valid)
    return idx[descending_order(score[idx])]


def _ap(order: np.ndarray, qualifies: np.ndarray, person: np.ndarray, num_pos: int
        ) -> np.float32:
    """V3: a qualifying detection is a TP iff it is the first, in ``order``, on its person."""
    tp = qualifies & first_in_group(np.where(qualifies, person, -1), order)
    return vsrl_ap(tp[order], num_pos)


def evaluate_vsrl(gt: VCOCOGroundTruth, det: VsrlDetections) -> dict[str, Any]:
    """Agent AP and role AP (both scenarios) of ``det`` against ``gt`` (rules V1-V7)."""
    sorter = np.argsort(gt.image_ids)
    at = np.minimum(np.searchsorted(gt.image_ids, det.image_ids, sorter=sorter),
                    max(len(sorter) - 1, 0))
    found = (gt.image_ids[sorter[at]] == det.image_ids) if len(sorter) else np.zeros(
        len(det.image_ids), dtype=bool)
    det_img = np.where(found, sorter[at] if len(sorter) else 0, -1)
    keep = np.flatnonzero(det_img >= 0)  # V1
    keep = keep[np.argsort(det_img[keep], kind="stable")]  # image order, then input order
    img = det_img[keep]
    person_box = det.person_boxes[keep]
    if not np.isfinite(person_box).all():
        raise PredictionFileError("V-COCO detections: person boxes must be finite")
    det_of, gt_of = join_on_key(gt.person_img, img)  # V2
    ov = iou_vsrl(gt.person_boxes[gt_of], person_box[det_of]).astype(np.float64)
    # np.argmax / np.max semantics: the first NaN wins and makes the maximum NaN.
    nan = np.isnan(ov)
    ov = np.where(nan, np.inf, np.minimum(ov, np.finfo(np.float64).max))
    ov_max, first = segment_first_argmax(ov, det_of, len(keep))
    person = np.where(first >= 0, gt_of[np.maximum(first, 0)], -1)
    has_person = person >= 0
    ignored = has_person & (gt.labels[np.maximum(person, 0)] == -1).all(1)
    hit = has_person & (ov_max >= IOU_THRESHOLD) & (ov_max != np.inf)
    labels = np.where(has_person[:, None], gt.labels[np.maximum(person, 0)], 0)
    num_pos = gt.num_pos
    agent_scores, role_scores = det.agent_scores[keep], det.role_scores[keep]
    role_boxes = det.role_boxes[keep]
    agent = np.full(len(gt.actions), np.nan, dtype=np.float32)
    for a in range(len(gt.actions)):
        score = agent_scores[:, a]
        valid = ~np.isnan(score) & ~ignored
        agent[a] = _ap(_ranked(score, valid), valid & hit & (labels[:, a] == 1), person,
                       int(num_pos[a]))
    role = np.full((len(gt.actions), max(len(r) for r in gt.roles) - 1, 2), np.nan, np.float32)
    for s, (a, r) in enumerate(gt.slots):
        score = role_scores[:, s]
        valid = ~np.isnan(score) & ~ignored
        base = np.flatnonzero(valid & hit & (labels[:, a] == 1))  # may qualify: check the role
        box = role_boxes[base, s]
        gt_box = gt.role_boxes[person[base], s]
        no_role = (gt_box == -1).all(1)
        empty = (box == 0.0).all(1) | np.isnan(box).all(1)
        iou_ok = iou_vsrl(gt_box, box) >= IOU_THRESHOLD
        order = _ranked(score, valid)  # shared by both scenarios
        for k, ok in enumerate((np.where(no_role, empty, iou_ok), no_role | iou_ok)):  # V4
            qualifies = np.zeros(len(score), dtype=bool)
            qualifies[base[ok]] = True
            role[a, r - 1, k] = _ap(order, qualifies, person, int(num_pos[a]))
    return _summary(gt, agent, role, num_pos, len(keep), int(ignored.sum()))


def _summary(gt: VCOCOGroundTruth, agent: np.ndarray, role: np.ndarray, num_pos: np.ndarray,
             num_det: int, num_ignored: int) -> dict[str, Any]:
    def f(x: Any) -> float | None:
        return None if np.isnan(x) else float(x)

    def nanmean(x: np.ndarray) -> float | None:
        return f(np.nanmean(x)) if (~np.isnan(x)).any() else None

    slots = gt.slots
    return {
        "AP_role_scenario_1": nanmean(role[..., 0]),  # V6
        "AP_role_scenario_2": nanmean(role[..., 1]),
        "AP_agent": float(np.nansum(agent)) / len(gt.actions),
        "num_images": len(gt.image_ids),
        "num_detections": num_det,
        "num_detections_ignored": num_ignored,
        "per_class": {
            "agent": {"action": list(gt.actions), "ap": [f(v) for v in agent],
                      "num_pos": num_pos.tolist()},
            "role": {"action": [gt.actions[a] for a, _ in slots],
                     "role": [gt.roles[a][r] for a, r in slots],
                     "ap_scenario_1": [f(role[a, r - 1, 0]) for a, r in slots],
                     "ap_scenario_2": [f(role[a, r - 1, 1]) for a, r in slots],
                     "num_pos": [int(num_pos[a]) for a, _ in slots]},
        },
    }


def vsrl_from_predictions(predictions: Sequence[HOIPredictions] | PredictionArrays,
                          space: LabelSpace, gt: VCOCOGroundTruth) -> tuple[VsrlDetections, int]:
    """Detections of predictions in the ``vcoco`` label space (see the module docstring).

    Returns:
        The detections and the number of images not found in the ground truth (skipped).
    """
    if not isinstance(predictions, PredictionArrays):
        predictions = PredictionArrays.from_predictions(predictions)
    verb_action, verb_slot = _verb_maps(space, gt)
    image_of = {n: int(i) for n, i in zip(gt.file_names, gt.image_ids.tolist())}
    rows, skipped = [], 0
    b, t = predictions.box_offsets, predictions.triplet_offsets
    for k, name in enumerate(predictions.image_ids):
        if name not in image_of:
            skipped += 1
            continue
        rows.append((image_of[name], predictions.boxes_xyxy[b[k]:b[k + 1]],
                     predictions.pair_idx[t[k]:t[k + 1]].reshape(-1, 2),
                     predictions.interactions[t[k]:t[k + 1]].reshape(-1),
                     predictions.scores[t[k]:t[k + 1]].reshape(-1)))
    num_a, num_s = len(gt.actions), len(gt.slots)
    out = {"img": [], "person": [], "agent": [], "rscore": [], "rbox": []}
    obj_of = interaction_object(space)
    verb_of = interaction_verb(space)
    for image_id, boxes, pairs, inter, scores in rows:
        if (inter < 0).any() or (inter >= space.num_interactions).any() or not np.isfinite(
                scores).all():
            raise PredictionFileError(f"predictions for COCO image {image_id}: interactions "
                                      "out of range or non-finite scores")
        uniq, det = np.unique(pairs, axis=0, return_inverse=True)
        det = det.reshape(-1)
        agent = np.full((len(uniq), num_a), -np.inf, np.float32)
        np.maximum.at(agent, (det, verb_action[verb_of[inter]]), scores.astype(np.float32))
        rscore = np.full((len(uniq), num_s), np.nan, np.float32)
        rbox = np.zeros((len(uniq), num_s, 4), np.float32)
        slot = verb_slot[verb_of[inter]]
        # keep, per (detection, slot), the highest-scoring triplet (first on ties)
        order = np.lexsort((-scores, slot, det))
        first = np.r_[True, (det[order][1:] != det[order][:-1]) |
                      (slot[order][1:] != slot[order][:-1])]
        pick = order[first & (slot[order] >= 0)]
        rscore[det[pick], slot[pick]] = scores[pick]
        o = pairs[pick, 1]
        obj_box = boxes[np.maximum(o, 0)].astype(np.float32)
        no_obj = (obj_of[inter[pick]] < 0) | (o < 0)  # objectless class, or no object box
        rbox[det[pick], slot[pick]] = np.where(no_obj[:, None], np.nan, obj_box)
        out["img"].append(np.full(len(uniq), image_id))
        out["person"].append(boxes[uniq[:, 0]].astype(np.float32))
        out["agent"].append(np.where(np.isneginf(agent), np.nan, agent))
        out["rscore"].append(rscore)
        out["rbox"].append(rbox)
    if not rows:
        return VsrlDetections(np.zeros(0, np.int64), np.zeros((0, 4), np.float32),
                              np.zeros((0, num_a), np.float32), np.zeros((0, num_s), np.float32),
                              np.zeros((0, num_s, 4), np.float32)), skipped
    return VsrlDetections(np.concatenate(out["img"]).astype(np.int64),
                          np.concatenate(out["person"]), np.concatenate(out["agent"]),
                          np.concatenate(out["rscore"]), np.concatenate(out["rbox"])), skipped


def _verb_maps(space: LabelSpace, gt: VCOCOGroundTruth) -> tuple[np.ndarray, np.ndarray]:
    """Per verb class: its action index and its role slot (-1 for agent-only actions)."""
    table = space.extra.get("vcoco_official", {}).get("verb_action_role")
    if not table:
        raise OpenHOIError(f"label space {space.name!r} has no vcoco_official.verb_action_role; "
                           "V-COCO evaluation needs the vcoco label space")
    action_of = {a: k for k, a in enumerate(gt.actions)}
    slot_of = {(gt.actions[a], gt.roles[a][r]): k for k, (a, r) in enumerate(gt.slots)}
    by_verb = {e["verb"]: (e["action"], e["role"]) for e in table}
    verb_action = np.zeros(space.num_verbs, np.int64)
    verb_slot = np.full(space.num_verbs, -1, np.int64)
    for v, name in enumerate(space.verbs):
        action, role = by_verb[name]
        if action not in action_of:
            raise OpenHOIError(f"verb {name!r}: action {action!r} is not in the V-COCO file")
        verb_action[v] = action_of[action]
        if role != "agent":
            verb_slot[v] = slot_of[(action, role)]
    return verb_action, verb_slot


class VCOCOEvaluator:
    """V-COCO evaluator: ``reset()``, ``process(predictions)``, ``evaluate() -> dict``.

    Args:
        ground_truth: from :func:`~openhoi.evaluation.vcoco_files.read_vcoco_ground_truth`.
        label_space: the ``vcoco`` label space (needed for ``HOIPredictions``).
    """

    def __init__(self, ground_truth: VCOCOGroundTruth, label_space: LabelSpace | None = None):
        self.gt = ground_truth
        self.space = label_space
        self.reset()

    def reset(self) -> None:
        self._preds: list[PredictionArrays] = []
        self._vsrl: list[VsrlDetections] = []

    def process(self, predictions: Sequence[HOIPredictions] | PredictionArrays) -> None:
        """Store predictions keyed by ``image_id`` (COCO file name; the first one is kept)."""
        if self.space is None:
            raise OpenHOIError("VCOCOEvaluator needs label_space to read predictions")
        if not isinstance(predictions, PredictionArrays):
            predictions = PredictionArrays.from_predictions(predictions)
        self._preds.append(predictions)

    def process_vsrl(self, detections: VsrlDetections) -> None:
        """Add detections already in vsrl_eval's layout (e.g. a GEN-VLKT pickle)."""
        self._vsrl.append(detections)

    def evaluate(self) -> dict[str, Any]:
        """Agent AP, role AP (scenarios 1 and 2) and per-class APs, as fractions."""
        parts = list(self._vsrl)
        skipped = 0
        if self._preds:
            preds = PredictionArrays.concat(self._preds)
            _, first = np.unique(np.array(preds.image_ids, dtype=str), return_index=True)
            det, skipped = vsrl_from_predictions(preds.select(np.sort(first)), self.space,
                                                 self.gt)
            parts.append(det)
        if not parts:
            parts = [vsrl_from_predictions([], self.space, self.gt)[0]] if self.space else []
        if not parts:
            raise OpenHOIError("VCOCOEvaluator.evaluate: nothing was processed")
        det = VsrlDetections(*(np.concatenate([getattr(d, f) for d in parts]) for f in (
            "image_ids", "person_boxes", "agent_scores", "role_scores", "role_boxes")))
        out = evaluate_vsrl(self.gt, det)
        out["num_images_not_in_split"] = skipped
        if skipped:
            log.warning("%d predicted images are not V-COCO test images (ignored)", skipped)
        return out
