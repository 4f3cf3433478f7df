"""Which training annotations a run sees: low-data fraction, zero-shot removal of unseen
classes, and the validation hold-out used for model selection.

Applied in this order to the training split's records (``HOIAnnotations``):

1. ``data.fraction < 1``: the label space's low-data subset of the training images
   (``openhoi.data.splits.low_data_subset``, seed from the label space's ``low_data`` entry).
2. ``data.zero_shot``: GEN-VLKT/HOICLIP's rule (``datasets/hico.py``, ``HICODetection.
   __init__`` for ``img_set == 'train'``): every (human, object) pair that carries an unseen
   interaction is removed with *all* its verbs (``skip_pair``), then every image left without
   a pair. Boxes stay (the reference keeps ``annotations`` and only filters
   ``hoi_annotation``; only pairs are supervised). For unseen-object and unseen-verb splits
   the unseen interactions are those of the unseen objects / verbs (the label space lists
   them), as in the reference's ``hico_unseen_index``.
3. ``data.val_size > 0``: that many images, drawn with ``data.val_seed``, are held out of
   training as the validation set that selects the best checkpoint. They come from what
   steps 1-2 left, so model selection sees neither test images nor unseen-class labels.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from openhoi.config import DataConfig
from openhoi.data.records import HOIAnnotations
from openhoi.data.splits import low_data_subset
from openhoi.errors import ConfigError
from openhoi.label_space import LabelSpace

log = logging.getLogger(__name__)


def unseen_pairs(annotations: HOIAnnotations, label_space: LabelSpace,
                 unseen_interactions: tuple[int, ...]) -> np.ndarray:
    """``[sum M]`` bool: pairs with at least one verb whose (verb, object) is unseen."""
    unseen = np.zeros(label_space.num_interactions + 1, dtype=bool)  # last entry: "no class"
    unseen[list(unseen_interactions)] = True
    obj = annotations.pair_object_labels()  # [P], -1 without object
    table = label_space.interaction_table.numpy()  # [V, O], -1 where invalid
    inter = table[:, np.maximum(obj, 0)]  # [V, P]
    inter = np.where((obj >= 0)[None, :], inter, -1)
    return (annotations.pair_verbs.T.astype(bool) & unseen[inter]).any(0)  # [P]


def drop_pairs(annotations: HOIAnnotations, drop: np.ndarray) -> HOIAnnotations:
    """``annotations`` without the pairs flagged in ``drop`` (``[sum M]`` bool); boxes stay."""
    image_of_pair = np.repeat(np.arange(len(annotations)), annotations.num_pairs)
    keep = ~drop
    counts = np.bincount(image_of_pair[keep], minlength=len(annotations))
    offsets = np.zeros(len(annotations) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    # The file's entries follow their pairs: entries of dropped pairs go, the rest are
    # renumbered to the kept pairs' new local rows.
    n_img = len(annotations)
    image_of_entry = np.repeat(np.arange(n_img), np.diff(annotations.entry_offsets))
    entry_pair = annotations.pair_offsets[image_of_entry] + annotations.hoi_entries[:, 0]
    entry_keep = keep[entry_pair] if entry_pair.size else np.zeros(0, dtype=bool)
    new_global = np.cumsum(keep) - 1  # [P] global row among kept pairs
    local = new_global[entry_pair[entry_keep]] - offsets[image_of_entry[entry_keep]]
    entry_offsets = np.zeros(n_img + 1, dtype=np.int64)
    np.cumsum(np.bincount(image_of_entry[entry_keep], minlength=n_img), out=entry_offsets[1:])
    entries = np.stack([local, annotations.hoi_entries[entry_keep, 1]], 1).astype(np.int64)
    return dataclasses.replace(annotations, pair_offsets=offsets,
                               pair_idx=annotations.pair_idx[keep],
                               pair_verbs=annotations.pair_verbs[keep],
                               entry_offsets=entry_offsets, hoi_entries=entries.reshape(-1, 2))


def remove_unseen(annotations: HOIAnnotations, label_space: LabelSpace,
                  split: str) -> tuple[HOIAnnotations, np.ndarray]:
    """Zero-shot training annotations (rule 2 of the module docstring).

    Returns:
        The filtered annotations and ``[K]`` the kept images' positions in ``annotations``.
    """
    zs = label_space.zero_shot_split(split)
    drop = unseen_pairs(annotations, label_space, zs.unseen_interactions)
    filtered = drop_pairs(annotations, drop)
    emptied = (filtered.num_pairs == 0) & (annotations.num_pairs > 0)
    kept = np.flatnonzero(~emptied)
    log.info("zero-shot %s: removed %d of %d training pairs and %d images left without one",
             split, int(drop.sum()), len(drop), int(emptied.sum()))
    return filtered.select(kept), kept


def low_data(annotations: HOIAnnotations, label_space: LabelSpace,
             fraction: float) -> np.ndarray:
    """Positions of the images of the ``fraction`` low-data subset (rule 1)."""
    spec = label_space.extra.get("low_data") or {}
    allowed = spec.get("fractions")
    if allowed and not any(abs(fraction - f) < 1e-9 for f in allowed):
        raise ConfigError(f"data.fraction={fraction} is not a low-data setting of label space "
                          f"{label_space.name!r}: use one of {allowed}")
    ids = [str(n) for n in annotations.file_names]
    kept = set(low_data_subset(ids, fraction, seed=int(spec.get("seed", 0))))
    return np.array([i for i, n in enumerate(ids) if n in kept], dtype=np.int64)


def hold_out(num_images: int, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)`` sorted positions: ``val_size`` images drawn with ``seed`` (rule 3)."""
    if val_size >= num_images:
        raise ConfigError(f"data.val_size={val_size} leaves no training image (the training "
                          f"set has {num_images} after the low-data and zero-shot filters)")
    perm = np.random.default_rng(seed).permutation(num_images)
    return np.sort(perm[val_size:]), np.sort(perm[:val_size])


@dataclass(frozen=True)
class TrainingSubsets:
    """The training and validation annotations of a run, and how they were obtained.

    Attributes:
        train: annotations trained on.
        train_idx: ``[N]`` positions of ``train``'s images in the input annotations.
        val: held-out validation annotations (None when ``val_size`` is 0).
        val_idx: ``[K]`` positions of ``val``'s images in the input annotations.
        summary: counts after every step and the validation image names (for ``run.json``).
    """

    train: HOIAnnotations
    train_idx: np.ndarray
    val: HOIAnnotations | None
    val_idx: np.ndarray
    summary: dict[str, Any]


def training_subsets(annotations: HOIAnnotations, label_space: LabelSpace,
                     cfg: DataConfig) -> TrainingSubsets:
    """Apply the low-data, zero-shot and validation rules of ``cfg`` (module docstring)."""
    def counts(a: HOIAnnotations) -> dict[str, int]:
        return {"images": len(a), "pairs": int(a.num_pairs.sum())}

    if cfg.shots is not None:  # a detector would silently train on every image
        raise ConfigError("data.shots is the k-shot draw of recognition runs; a detector's "
                        "low-data setting is data.fraction")
    summary: dict[str, Any] = {"input": counts(annotations)}
    pos = np.arange(len(annotations))
    current = annotations
    if cfg.fraction < 1.0:
        keep = low_data(current, label_space, cfg.fraction)
        current, pos = current.select(keep), pos[keep]
        summary["low_data"] = {"fraction": cfg.fraction, **counts(current)}
    if cfg.zero_shot is not None:
        current, keep = remove_unseen(current, label_space, cfg.zero_shot)
        pos = pos[keep]
        summary["zero_shot"] = {"split": cfg.zero_shot, **counts(current)}
    val = None
    val_pos = np.zeros(0, dtype=np.int64)
    if cfg.val_size > 0:
        train_keep, val_keep = hold_out(len(current), cfg.val_size, cfg.val_seed)
        val, val_pos = current.select(val_keep), pos[val_keep]
        current, pos = current.select(train_keep), pos[train_keep]
        summary["validation"] = {"seed": cfg.val_seed, **counts(val),
                                 "file_names": [str(n) for n in val.file_names]}
    summary["train"] = counts(current)
    return TrainingSubsets(current, pos, val, val_pos, summary)
