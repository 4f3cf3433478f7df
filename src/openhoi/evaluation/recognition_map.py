"""Image-level HOI recognition mAP (HICO protocol), with DEFR's Full and Few@1/5/10 means.

Source: ywchao/hico_benchmark ``evaluation/eval_vo.m`` + ``utils/eval_pr_score_label.m``
(default setting), the protocol DEFR (Jin et al., 2022) reports with.

  R1  Labels per (image, class): 1 positive, -1 negative, 0 ambiguous, NaN unknown. Ambiguous
      images are left out of that class's ranking; unknown ones are negatives (hico_benchmark
      turns the test set's NaN into -2, "sampled negative", and scores them as -1).
  R2  Per class, images are ranked by descending score (MATLAB ``sort(..., 'descend')``,
      stable: ties keep image order); rec = cum_tp / num_pos, prec = cum_tp / rank.
  R3  AP = 11-point interpolated, MATLAB thresholds ``0:0.1:1`` (see ``ap.voc11_thresholds``);
      a class without positives has AP 0.
  R4  mAP = mean over all classes. Few@k = mean over the classes with at most k positive
      training images (DEFR); the counts are given (e.g. from anno.mat's ``anno_train``).
  R5  A labelled image that was never scored is ranked last (score -inf): its positives are
      misses. Scores of images without labels are ignored.

Labels come from anno.mat (:func:`~openhoi.evaluation.hico_files.read_hico_classification`)
or, lacking it, from detection ground truth (:meth:`HOIRecognitionEvaluator.from_targets`:
an interaction is positive when a ground-truth pair has it, negative otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from openhoi.data.records import HOIAnnotations
from openhoi.errors import OpenHOIError
from openhoi.evaluation.ap import precision_recall, voc11_ap, voc11_thresholds
from openhoi.evaluation.flat import FlatGroundTruth
from openhoi.evaluation.prediction_arrays import PredictionArrays
from openhoi.label_space import LabelSpace, interaction_names

if TYPE_CHECKING:
    import torch

    from openhoi.structures import HOIPredictions, HOITargets, RecognitionPredictions

FEW_SHOT = (1, 5, 10)


class HOIRecognitionEvaluator:
    """Recognition evaluator: ``reset()``, ``process(predictions)``, ``evaluate()``.

    Args:
        image_ids: ``[N]`` labelled images.
        labels: ``[N, I]`` float, 1 / 0 / -1 / NaN (R1).
        label_space: the classes (names in the per-class output).
        train_counts: ``[I]`` positive training images per class, for Few@k (optional).
    """

    def __init__(self, image_ids: Sequence[str], labels: np.ndarray | torch.Tensor,
                 label_space: LabelSpace, train_counts: Sequence[int] | None = None) -> None:
        labels = np.asarray(labels, dtype=np.float64)
        if labels.shape != (len(image_ids), label_space.num_interactions):
            raise OpenHOIError(f"recognition labels have shape {labels.shape}, expected "
                               f"({len(image_ids)}, {label_space.num_interactions})")
        if train_counts is not None and len(train_counts) != label_space.num_interactions:
            raise OpenHOIError(f"train_counts has {len(train_counts)} entries, expected "
                               f"{label_space.num_interactions}")
        self.image_ids = list(image_ids)
        self.index = {n: k for k, n in enumerate(self.image_ids)}
        self.labels = np.where(np.isnan(labels), -1.0, labels)  # R1: unknown -> negative
        self.space = label_space
        self.train_counts = None if train_counts is None else np.asarray(train_counts)
        self.reset()

    @classmethod
    def from_targets(cls, targets: Sequence[HOITargets] | HOIAnnotations, label_space: LabelSpace,
                     train_counts: Sequence[int] | None = None) -> HOIRecognitionEvaluator:
        """Labels from detection ground truth (``HOITargets`` or the data reader's records):
        positive iff some pair has the interaction, else negative."""
        gt = (FlatGroundTruth.from_annotations(targets, label_space)
              if isinstance(targets, HOIAnnotations) else
              FlatGroundTruth.from_targets(targets, label_space))
        labels = -np.ones((gt.num_images, label_space.num_interactions))
        labels[gt.img, gt.cls] = 1.0
        return cls(gt.image_ids, labels, label_space, train_counts)

    def reset(self) -> None:
        self.scores = np.full(self.labels.shape, -np.inf)
        self._seen = np.zeros(len(self.image_ids), dtype=bool)

    def process(self, predictions: Sequence[RecognitionPredictions | HOIPredictions]) -> None:
        """Store the predictions of some images (the engine's evaluator interface):
        ``RecognitionPredictions`` give image-level scores; a detector's ``HOIPredictions``
        give, per class, their best triplet score (else 0)."""
        import torch

        from openhoi.structures import HOIPredictions

        detections = [p for p in predictions if isinstance(p, HOIPredictions)]
        scored = [p for p in predictions if not isinstance(p, HOIPredictions)]
        if scored:
            self.process_scores([p.image_id for p in scored],
                                torch.stack([p.scores.detach().cpu().float() for p in scored]))
        if detections:
            self.process_detections(detections)

    def process_scores(self, image_ids: Sequence[str], scores: np.ndarray | torch.Tensor
                       ) -> None:
        """Store ``[B, I]`` image-level scores of ``image_ids`` (the first score of an image is
        kept; unlabelled images are ignored, R5)."""
        if hasattr(scores, "detach"):  # a torch tensor
            scores = scores.detach().cpu().float().numpy()
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(image_ids), self.space.num_interactions):
            raise OpenHOIError(f"scores have shape {scores.shape}, expected "
                               f"({len(image_ids)}, {self.space.num_interactions})")
        if not np.isfinite(scores).all():
            bad = int(np.flatnonzero(~np.isfinite(scores).all(1))[0])
            raise OpenHOIError(f"scores of image {image_ids[bad]!r} are not all finite")
        rows = np.array([self.index.get(n, -1) for n in image_ids], dtype=np.int64)
        new = (rows >= 0) & ~self._seen[np.maximum(rows, 0)]
        self.scores[rows[new]] = scores[new]
        self._seen[rows[new]] = True

    def process_detections(self, predictions: Sequence[HOIPredictions] | PredictionArrays
                           ) -> None:
        """Image-level scores of a detector: per class, the best triplet score (else 0)."""
        if not isinstance(predictions, PredictionArrays):
            predictions = PredictionArrays.from_predictions(predictions)
        s = np.zeros((len(predictions), self.space.num_interactions))
        rec = np.repeat(np.arange(len(predictions)), predictions.triplet_counts)
        inter = predictions.interactions
        if ((inter < 0) | (inter >= self.space.num_interactions)).any():
            k = int(rec[np.flatnonzero((inter < 0) | (inter >= self.space.num_interactions))[0]])
            raise OpenHOIError(f"predictions of image {predictions.image_ids[k]!r}: interactions "
                               f"must be in [0, {self.space.num_interactions})")
        np.maximum.at(s, (rec, inter), predictions.scores.astype(np.float64))
        self.process_scores(list(predictions.image_ids), s)

    def evaluate(self) -> dict[str, Any]:
        """``mAP`` (Full) and ``mAP_few@k``, fractions; per-class AP and positives."""
        thresholds = voc11_thresholds("matlab")
        num_classes = self.space.num_interactions
        ap = np.zeros(num_classes)
        num_pos = (self.labels == 1).sum(0)
        for c in range(num_classes):  # one iteration per class (600), vectorised inside
            keep = np.flatnonzero(self.labels[:, c] != 0)  # R1: ambiguous left out
            order = keep[np.argsort(-self.scores[keep, c], kind="stable")]  # R2
            rec, prec = precision_recall(self.labels[order, c] == 1, int(num_pos[c]))
            ap[c] = voc11_ap(rec, prec, thresholds)  # R3
        out: dict[str, Any] = {"mAP": float(np.mean(ap))}
        if self.train_counts is not None:
            for k in FEW_SHOT:
                few = self.train_counts <= k
                out[f"mAP_few@{k}"] = float(np.mean(ap[few])) if few.any() else None
        out["num_images"] = len(self.image_ids)
        out["num_images_scored"] = int(self._seen.sum())
        out["per_class"] = {"interaction": interaction_names(self.space), "ap": ap.tolist(),
                            "num_pos": num_pos.tolist(),
                            "train_count": None if self.train_counts is None else
                            self.train_counts.tolist()}
        return out
