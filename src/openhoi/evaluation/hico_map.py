"""HICO-DET mAP: Full / Rare / Non-rare, Unseen / Seen, Default and Known-Object settings.

Two protocols, selected by ``protocol``. Each rule names its source; "GEN-VLKT" is
``datasets/hico_eval_triplet.py`` of YueLiao/gen-vlkt (identical rules in HOICLIP's
``datasets/datasets_gen/hico_eval_triplet.py``), "MATLAB" is ywchao/ho-rcnn
``evaluation/eval_one.m`` + ``VOCevaldet_bboxpair.m``, fed by HOICLIP's
``tools/covert_annot_for_official_eval.py`` (= PPDM ``src/lib/eval/trans_for_eval_hico.py``)
and PPDM's ``Generate_detection.m``.

Rules shared by both protocols
  C1  A ground-truth instance is one annotation entry (human, object, verb) whose (verb,
      object) is an interaction class, in file order, **repeats included**: an entry listed
      twice is two instances (``HOIAnnotations.hoi_entries`` / ``HOITargets.hoi_entries``;
      targets without entries give one per positive of ``verbs``). [GEN-VLKT: the test split of
      ``datasets/hico.py`` makes ``target['hois']`` one (subject_id, object_id, verb) per
      ``hoi_annotation`` entry, unmerged (the train split merges pairs), and
      ``hico_eval_triplet.py`` does ``sum_gts[triplet] += 1`` per entry; MATLAB ``eval_one.m``
      makes one ground-truth row per ``connection`` row of each visible HOI and
      ``VOCevaldet_bboxpair.m`` adds every row to ``npos``.] A box listed twice under two ids
      gives distinct instances too.
  C2  A detection is (human box, object box, interaction, score); the object label is implied
      by the interaction. [GEN-VLKT compares ``category_id`` only; MATLAB evaluates per class]
  C3  Its candidates are the ground-truth instances of the same image and interaction. Overlap
      with a candidate = min(IoU_human, IoU_object); the best candidate is the one of maximal
      overlap, the first in file (entry) order on ties, not the first pair. [GEN-VLKT ``if
      min_overlap_gt > max_overlap`` over ``gt_hois`` in entry order; MATLAB ``if min_ov >
      ov_max`` over ``gt(i).bb`` rows in connection order] Consequence: two instances with the
      same boxes (an entry listed twice, or a box listed twice under two ids) tie for every
      detection, so the second is never anyone's best and can never be matched, a positive
      that only lowers recall. [GEN-VLKT marks ``vis_tag[gt_hois.index(max_gt_hoi)]``:
      ``list.index`` returns the first equal entry, which is also the one chosen]
  C4  It matches iff the best overlap >= 0.5. [GEN-VLKT keeps boxes with IoU >= 0.5 in
      ``compute_iou_mat``; MATLAB ``ov_max >= min_overlap``]
  C5  Detections are taken by descending score; a matching detection is a true positive iff
      its best candidate is not yet taken, else a false positive (it does not fall back to the
      second best). Non-matching detections are false positives. [GEN-VLKT ``vis_tag``; MATLAB
      ``gt(i).det``]
  C6  Per class, rec = cum_tp / num_gt, prec = cum_tp / (cum_tp + cum_fp) over detections
      ranked by score; AP = sum over 11 thresholds t of max(prec[rec >= t]) / 11.
  C7  Rare = fewer than 10 training instances, from ``LabelSpace.rare_interactions`` [GEN-VLKT
      ``set_rare_hois`` counts trainval_hico.json; MATLAB ``num_inst < 10`` over
      ``bbox_train``]. Zero-shot: Unseen = ``LabelSpace.zero_shot[split]``, Seen = the rest
      [GEN-VLKT reuses its rare/non-rare slots for unseen/seen].
  C8  Ties (equal scores) are broken deterministically: image order (the ground-truth images in
      the order given, then images only in the predictions, by name), then position in the
      image's prediction list. GEN-VLKT sorts an image's detections with a stable sort (same
      order) but ranks a class with ``np.argsort(-score)`` (introsort: unspecified tie order);
      MATLAB's ``sort`` is stable over images in ``list_test`` order, as here when the
      ground truth is in that order (test_hico.json is), but HOICLIP's converter stores each
      class in ``np.argsort(score)[::-1]`` order. Only exactly equal scores are affected.

``python`` (default; what GEN-VLKT / HOICLIP report during training)
  P1  Boxes are float32 and IoU is :func:`~openhoi.evaluation.overlaps.iou_gen_vlkt`: "+1"
      areas, an intersection is empty when max(x1) >= min(x2) or max(y1) >= min(y2).
  P2  Only classes with test ground truth are evaluated; detections of other classes are
      dropped. [``if triplet not in self.gt_triplets: continue``]
  P3  Detections on test images without ground-truth pairs are false positives. [``else``
      branch of ``evaluate``] Images absent from the ground truth are ignored (GEN-VLKT never
      sees them) and counted in ``num_images_ignored``.
  P4  Recall thresholds ``np.arange(0., 1.1, 0.1)``; see :func:`~openhoi.evaluation.ap.
      voc11_thresholds` (0.6 and 0.7 are a hair above the decimals).
  P5  mAP = mean over P2's classes; Rare / Non-rare / Unseen / Seen = mean over those classes in
      each split. Mean max recall is reported too.

``official`` (the HICO-DET MATLAB evaluation; the papers' headline numbers)
  O1  Everything is compared in ``anno_bbox.mat``'s one-based frame, where the MATLAB code
      compares. Detection coordinates are rounded half away from zero (``round`` in
      ``Generate_detection.m``) and then shifted by +1 (``det_bb = det_bb + 1`` in
      ``eval_one.m``, "zero-based to one-based"). Ground truth from a json file is shifted by +1
      too: PPDM's ``test_hico.json`` (used by GEN-VLKT, HOICLIP...) stores every
      ``anno_bbox.mat`` box minus one (HICO_train2015_00000001: [207, 32, 426, 299] in
      ``trainval_hico.json``, [208, 33, 427, 300] in ``anno_bbox.mat``). Ground truth read from
      ``anno_bbox.mat`` itself (:func:`~openhoi.evaluation.hico_files.read_hico_bbox_mat`) is
      held in the same zero-based frame as the json, so the shift restores the mat's numbers
      exactly (integers). Shifting both sides, rather than neither, keeps MATLAB's arithmetic
      operation for operation: the overlaps are the same doubles.
  O2  At most 19,999 detections per class, the highest scored (``save_HICO``:
      ``range(min(len(idx), 19999))`` over scores x 1000).
  O3  IoU is :func:`~openhoi.evaluation.overlaps.iou_matlab`: "+1" areas, empty iff
      ``iw <= 0 or ih <= 0`` (a one-pixel-wide intersection counts).
  O4  Every test image counts: detections on images without ground truth are false positives,
      including images absent from the ground-truth file (MATLAB scores every image of
      ``list_test``, all 9,658) — reported as ``num_images_without_gt``.
  O5  Recall thresholds are MATLAB's ``0:0.1:1``.
  O6  mAP = mean over **all** interaction classes; a class without test ground truth has AP 0
      (recall is NaN, no threshold is reached). Rare / Non-rare / Unseen / Seen likewise over
      all classes of each split.
  O7  Known-Object (``*_ko`` keys): for a class with object o, only detections on images whose
      labels contain o count; the ground truth is unchanged. [``eval_one.m``, ``ko``: ``iid =
      find(any(anno_im(nid, :) == 1, 1))``, nid = every HOI of object o.] MATLAB reads the
      image labels from anno.mat; by default an image "contains" o when it has a ground-truth
      pair with object o. Pass ``known_objects`` (e.g. from
      :func:`~openhoi.evaluation.hico_files.read_hico_known_objects`) for anno.mat's labels,
      which also count HOIs whose boxes are invisible; ``read_hico_bbox_mat`` gives the objects
      of every HOI of ``anno_bbox.mat``, invisible ones included, the nearest stand-in.

Ground truth from json or from ``anno_bbox.mat``
  - The MATLAB code reads ``anno_bbox.mat``; from test_hico.json each ``hoi_annotation`` entry
    stands for one ``connection`` row, in the file's order (C1, C3), boxes minus one (O1).
    :func:`~openhoi.evaluation.hico_files.read_hico_bbox_mat` reads the mat itself
    (``openhoi evaluate --anno-bbox-mat``), with its two rules a json cannot express: invisible
    HOIs give no instance, and of two HOI structs with the same id in one image only the last
    one's rows count (``gt_all{hoi_id, i} = boxes``).

Not reproduced, by construction of the inputs
  - ``HOITargets`` built without ``hoi_entries`` carry merged pairs only: one instance per
    positive verb, in pair order. Evaluate from the data reader's records (or targets made by
    ``HOIRecord.to_targets``) to count repeated entries.
  - Float sums: the mean over classes uses ``np.mean`` in class order (GEN-VLKT sums in
    first-seen order, MATLAB with ``mean``), which can differ in the last bit of a double.
"""


from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from openhoi.data.label_arrays import interaction_object
from openhoi.data.records import HOIAnnotations
from openhoi.errors import OpenHOIError, PredictionFileError
from openhoi.evaluation.ap import descending_order, grouped_voc11_ap, voc11_thresholds
from openhoi.evaluation.flat import FlatDetections, FlatGroundTruth
from openhoi.evaluation.matching import first_in_group, join_on_key, segment_first_argmax
from openhoi.evaluation.overlaps import iou_gen_vlkt, iou_matlab, round_half_away
from openhoi.evaluation.prediction_arrays import PredictionArrays
from openhoi.label_space import LabelSpace, interaction_names

if TYPE_CHECKING:
    from openhoi.structures import HOIPredictions, HOITargets

log = logging.getLogger(__name__)

Protocol = Literal["python", "official"]
PROTOCOLS: tuple[str, ...] = ("python", "official")
IOU_THRESHOLD = 0.5  # C4
OFFICIAL_MAX_DETS_PER_CLASS = 19999  # O2
OFFICIAL_SCORE_SCALE = 1000.0  # O2: scores are stored x 1000 (order-preserving)


def match_triplets(det: FlatDetections, order: np.ndarray, gt: FlatGroundTruth,
                   num_classes: int, protocol: Protocol) -> np.ndarray:
    """True-positive flag of every detection under rules C3-C5 (vectorised).

    Args:
        det: detections with image indices into ``gt.image_ids`` (or beyond, for images
            without ground truth, which have no candidates).
        order: ``[D]`` detections by descending score, then image, then position; within an
            image this is C5's processing order.
        gt: the ground truth.
        num_classes: number of interaction classes (builds the (image, class) key).
        protocol: selects the IoU (P1 / O1, O3).

    Returns:
        ``[D]`` bool.
    """
    gt_key = gt.img * num_classes + gt.cls
    gt_order = np.argsort(gt_key, kind="stable")  # keeps annotation order within a key (C3)
    det_of, gt_of = join_on_key(gt_key[gt_order], det.img * num_classes + det.cls)
    gt_of = gt_order[gt_of]
    h = det.boxes[det.h_idx[det_of]]
    o = det.boxes[det.o_idx[det_of]]
    if protocol == "python":
        iou_h = iou_gen_vlkt(gt.h_boxes[gt_of], h)
        iou_o = iou_gen_vlkt(gt.o_boxes[gt_of], o)
    else:  # O1: both sides in anno_bbox.mat's one-based frame
        iou_h = iou_matlab(round_half_away(h.astype(np.float64)) + 1.0,
                           gt.h_boxes[gt_of].astype(np.float64) + 1.0)
        iou_o = iou_matlab(round_half_away(o.astype(np.float64)) + 1.0,
                           gt.o_boxes[gt_of].astype(np.float64) + 1.0)
    best_ov, best_pos = segment_first_argmax(np.minimum(iou_h, iou_o), det_of, len(det))
    matched = best_ov >= IOU_THRESHOLD
    if not gt_of.size:  # no detection has a candidate
        return np.zeros(len(det), dtype=bool)
    best_gt = np.where(matched, gt_of[np.maximum(best_pos, 0)], -1)
    return matched & first_in_group(best_gt, order)


def class_aps(cls: np.ndarray, tp: np.ndarray, class_order: np.ndarray, mask: np.ndarray,
              num_gt: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class 11-point AP and max recall (C6) of the detections selected by ``mask``.

    Args:
        cls, tp: ``[D]`` class and true-positive flag of every detection.
        class_order: ``[D]`` permutation grouping classes, each ranked by score then C8.
        mask: ``[D]`` bool, the detections that count.
        num_gt: ``[C]`` ground-truth instances per class.
        thresholds: ``[11]`` recall thresholds.
    """
    order = class_order[mask[class_order]]
    return grouped_voc11_ap(cls[order], tp[order], num_gt, thresholds)


def rank_in_class(cls_sorted: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal values of a grouped array."""
    n = cls_sorted.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, cls_sorted[1:] != cls_sorted[:-1]])
    return np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))


class HICODetEvaluator:
    """HICO-DET evaluator: ``reset()``, ``process(predictions)``, ``evaluate() -> dict``.

    Args:
        targets: ground truth of every test image, boxes in original pixels: the data
            reader's ``HOIAnnotations`` (faster: already flat) or ``HOITargets``; instances are
            their annotation entries (C1).
        label_space: the benchmark's classes, rare split and zero-shot splits.
        protocol: ``python`` or ``official`` (see the module docstring).
        zero_shot: name of a zero-shot split of ``label_space``: adds Unseen / Seen mAP.
        known_objects: object indices each image is labelled with, by image id (Known-Object
            setting of the official protocol); default: the objects of its ground-truth pairs.
    """

    def __init__(
        self,
        targets: Sequence[HOITargets] | HOIAnnotations,
        label_space: LabelSpace,
        protocol: Protocol = "python",
        zero_shot: str | None = None,
        known_objects: Mapping[str, Iterable[int]] | None = None,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise OpenHOIError(f"unknown HICO-DET protocol {protocol!r}; use one of {PROTOCOLS}")
        self.space = label_space
        self.protocol: Protocol = protocol
        self.zero_shot = label_space.zero_shot_split(zero_shot) if zero_shot else None
        self.source = targets.source if isinstance(targets, HOIAnnotations) else "ground truth"
        self.gt = (FlatGroundTruth.from_annotations(targets, label_space)
                   if isinstance(targets, HOIAnnotations) else
                   FlatGroundTruth.from_targets(targets, label_space))
        self.image_index = {name: i for i, name in enumerate(self.gt.image_ids)}
        self.known_objects = (None if known_objects is None else
                              {name: sorted(set(objs)) for name, objs in known_objects.items()})
        self.reset()

    def reset(self) -> None:
        """Forget processed predictions."""
        self._parts: list[PredictionArrays] = []

    def process(self, predictions: Sequence[HOIPredictions] | PredictionArrays) -> None:
        """Store predictions: ``HOIPredictions`` (tensors on any device) or the flat
        ``PredictionArrays`` a file reader returns. Records are keyed by ``image_id``; a repeated
        image keeps its first record (counted in ``num_duplicate_images``)."""
        if not isinstance(predictions, PredictionArrays):
            predictions = PredictionArrays.from_predictions(predictions)
        self._parts.append(predictions)

    # ---------------------------------------------------------------------------------------
    def _detections(self) -> tuple[FlatDetections, list[str], dict[str, int]]:
        """All stored detections, checked; image indices follow C8's image order.

        Images absent from the ground truth get indices after the ground-truth images (by
        name); the python protocol does not count them (P3), the official does (O4).
        Returns the detections, the image names by index and the record counts.
        """
        preds = PredictionArrays.concat(self._parts)
        names = np.array(preds.image_ids, dtype=str) if len(preds) else np.zeros(0, str)
        uniq, first = np.unique(names, return_index=True)  # first record of each image
        gt_idx = np.array([self.image_index.get(n, -1) for n in uniq.tolist()], dtype=np.int64)
        extra = np.flatnonzero(gt_idx < 0)  # by name: np.unique sorts
        img_of_uniq = gt_idx.copy()
        img_of_uniq[extra] = self.gt.num_images + np.arange(len(extra))
        order = np.argsort(img_of_uniq, kind="stable")
        records = first[order]  # the first record of each image, in evaluator image order
        det = FlatDetections.from_arrays(preds.select(records), img_of_uniq[order])
        all_names = list(self.gt.image_ids) + uniq[extra].tolist()
        det.check(self.space.num_interactions, all_names)
        counts = {"predicted": int((gt_idx >= 0).sum()), "extra": len(extra),
                  "duplicates": len(preds) - len(uniq)}
        return det, all_names, counts

    def _known_matrix(self, names: Sequence[str]) -> np.ndarray:
        """``[num_images, O]`` bool: objects each image is labelled with (O7)."""
        known = np.zeros((len(names), self.space.num_objects), dtype=bool)
        if self.known_objects is None:
            known[: self.gt.num_images] = self.gt.objects_present
            return known
        for k, name in enumerate(names):
            known[k, self.known_objects.get(name, [])] = True
        return known

    def evaluate(self) -> dict[str, Any]:
        """Compute the metrics. Values are fractions in [0, 1]; means of empty sets are None.

        Returns:
            ``mAP``, ``mAP_rare``, ``mAP_non_rare`` (and ``mAP_unseen`` / ``mAP_seen`` with a
            zero-shot split), ``mean_max_recall``; for the official protocol the same keys with
            ``_ko`` for Known-Object; counts; ``per_class`` lists indexed by interaction.
        """
        if not self.gt.num_gt.any():
            raise OpenHOIError(f"{self.source}: none of its {self.gt.num_images} images has a "
                               "ground-truth HOI instance (field 'hoi_annotation'): nothing to "
                               "evaluate")
        det, names, counts = self._detections()
        if counts["predicted"] == 0 and counts["extra"]:
            raise PredictionFileError(
                f"none of the {counts['extra']} predicted images is in the ground truth "
                f"(e.g. {names[self.gt.num_images]!r}; ground truth has e.g. "
                f"{self.gt.image_ids[0] if self.gt.num_images else None!r}): predictions and "
                "annotations of different sets?")
        num_gt = self.gt.num_gt
        official = self.protocol == "official"
        score = det.score * OFFICIAL_SCORE_SCALE if official else det.score  # O2
        # Detections are in (image, position) order, so a stable sort by score alone breaks
        # ties by image, then position (C8); the class sort below is stable too.
        by_score = descending_order(score)
        cls_keys = det.cls[by_score]
        if len(num_gt) <= np.iinfo(np.int16).max:
            cls_keys = cls_keys.astype(np.int16)  # numpy's stable sort is a radix sort here
        class_order = by_score[np.argsort(cls_keys, kind="stable")]
        tp = match_triplets(det, by_score, self.gt, self.space.num_interactions, self.protocol)
        if official:
            count = np.zeros(len(det), dtype=bool)
            count[class_order[rank_in_class(det.cls[class_order]) <
                              OFFICIAL_MAX_DETS_PER_CLASS]] = True  # O2
            evaluated = np.ones(len(num_gt), dtype=bool)  # O6
        else:
            count = (det.img < self.gt.num_images) & (num_gt[det.cls] > 0)  # P2, P3
            evaluated = num_gt > 0
        thresholds = voc11_thresholds("matlab" if official else "numpy")
        ap, max_rec = class_aps(det.cls, tp, class_order, count, num_gt, thresholds)
        out: dict[str, Any] = {"protocol": self.protocol}
        out.update(self._summary(ap, max_rec, evaluated, suffix=""))
        rare = set(self.space.rare_interactions)
        per_class: dict[str, Any] = {
            "interaction": interaction_names(self.space),
            "num_gt": num_gt.tolist(),
            "rare": [i in rare for i in range(len(num_gt))],
            "ap": _nullable(ap, evaluated),
            "max_recall": _nullable(max_rec, evaluated),
        }
        if official:
            obj = interaction_object(self.space)
            ko = count & self._known_matrix(names)[det.img, obj[det.cls]]  # O7
            ap_ko, rec_ko = class_aps(det.cls, tp, class_order, ko, num_gt, thresholds)
            out.update(self._summary(ap_ko, rec_ko, evaluated, suffix="_ko"))
            per_class["ap_ko"] = ap_ko.tolist()
        out.update(self._counts(int(count.sum()), counts))
        out["per_class"] = per_class
        return out

    def _counts(self, num_detections: int, counts: dict[str, int]) -> dict[str, int]:
        extra = "num_images_ignored" if self.protocol == "python" else "num_images_without_gt"
        if counts["extra"]:
            log.warning("%d predicted images are not in the ground truth (%s)", counts["extra"],
                        "ignored" if self.protocol == "python" else "scored as test images "
                        "without ground truth")
        if counts["duplicates"]:
            log.warning("%d prediction records repeat an image already predicted (the first "
                        "record of each image is kept)", counts["duplicates"])
        return {
            "num_images": self.gt.num_images,
            "num_images_predicted": counts["predicted"],
            extra: counts["extra"],
            "num_duplicate_images": counts["duplicates"],
            "num_detections": num_detections,
            "num_gt": int(self.gt.num_gt.sum()),
        }

    def _summary(self, ap: np.ndarray, max_rec: np.ndarray, evaluated: np.ndarray,
                 suffix: str) -> dict[str, float | None]:
        rare = np.zeros(len(ap), dtype=bool)
        rare[list(self.space.rare_interactions)] = True
        out = {
            f"mAP{suffix}": _mean(ap, evaluated),
            f"mAP{suffix}_rare": _mean(ap, evaluated & rare),
            f"mAP{suffix}_non_rare": _mean(ap, evaluated & ~rare),
        }
        if self.zero_shot is not None:
            unseen = np.zeros(len(ap), dtype=bool)
            unseen[list(self.zero_shot.unseen_interactions)] = True
            out[f"mAP{suffix}_unseen"] = _mean(ap, evaluated & unseen)
            out[f"mAP{suffix}_seen"] = _mean(ap, evaluated & ~unseen)
        out[f"mean_max_recall{suffix}"] = _mean(max_rec, evaluated)
        return out


def _mean(values: np.ndarray, mask: np.ndarray) -> float | None:
    return float(np.mean(values[mask])) if mask.any() else None


def _nullable(values: np.ndarray, mask: np.ndarray) -> list[float | None]:
    return [float(v) if m else None for v, m in zip(values.tolist(), mask.tolist())]
