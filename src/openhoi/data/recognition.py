"""Image-level HOI labels and the recognition dataset (detection-free models such as DEFR).

Labels are ``[N, I]`` float arrays over the label space's interactions: 1 positive, -1 negative,
0 ambiguous (ignored by the LSE-Sign/BCE losses and by the metric). Sources:

- HICO's classification release (``hico_20150920/anno.mat``, ``images/{train,test}2015``):
  ``anno_train``/``anno_test`` hold 1 / -1 / 0 / NaN. NaN ("unknown": the image was not
  annotated for that class's object) becomes -1, negative. This is DEFR's practice: its
  ``dataloader.py`` builds one-hot targets with ``targets == 1`` (NaN -> 0, negative) and a
  ``certain`` mask ``targets != 0`` (NaN -> certain), so NaN is a scored negative in training
  and in its mAP; hico_benchmark's ``eval_vo.m`` likewise scores NaN (as -2) as negative.
- HICO-DET-layout json (HICO-DET itself, the synthetic benchmark): an interaction is positive
  when some annotated pair has it, negative otherwise (no ambiguous labels).

``train_counts`` (positive training images per class) define Few@1/5/10 (DEFR ``utils.py``
``few_idx``: classes with at most k training images).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms import v2 as T

from openhoi.config import DataConfig
from openhoi.data.dataset import read_image, read_split
from openhoi.data.records import HOIAnnotations
from openhoi.data.subsets import hold_out
from openhoi.errors import DataError
from openhoi.label_space import LabelSpace
from openhoi.structures import ImageBatch, ImageLabels

HICO_ANNO_FILE = "anno.mat"


@dataclass(frozen=True)
class ImageLevelSplit:
    """Image-level labels of one split.

    Attributes:
        image_ids: ``[N]`` file names.
        image_paths: ``[N]`` paths of the files.
        labels: ``[N, I]`` float32, 1 / -1 / 0 (ambiguous).
    """

    image_ids: list[str]
    image_paths: list[str]
    labels: np.ndarray

    def select(self, idx: Sequence[int] | np.ndarray) -> ImageLevelSplit:
        idx = np.asarray(idx, dtype=np.int64)
        return ImageLevelSplit([self.image_ids[i] for i in idx],
                               [self.image_paths[i] for i in idx], self.labels[idx])

    @property
    def train_counts(self) -> np.ndarray:
        """``[I]`` int64 positive images per class (Few@k when this is the training split)."""
        return (self.labels == 1).sum(0).astype(np.int64)


def labels_from_annotations(annotations: HOIAnnotations, space: LabelSpace) -> np.ndarray:
    """``[N, I]`` labels from detection annotations: 1 where a pair has the interaction, -1
    elsewhere."""
    labels = -np.ones((len(annotations), space.num_interactions), dtype=np.float32)
    for i, rec in enumerate(annotations):
        if rec.pair_idx.shape[0] == 0:
            continue
        obj = np.where(rec.pair_idx[:, 1] >= 0, rec.labels[rec.pair_idx[:, 1].clip(min=0)], -1)
        multi_hot = space.pair_interactions(torch.as_tensor(rec.verbs),
                                            torch.as_tensor(obj))  # [M, I]
        labels[i, (multi_hot > 0).any(0).numpy()] = 1.0
    return labels


def read_hico_split(root: str | Path, split: str, space: LabelSpace) -> ImageLevelSplit:
    """One split of HICO's classification release: ``root/anno.mat`` + ``root/images/``.

    Raises:
        DataError: missing file or folder, a label other than 1/-1/0/NaN, or a missing image,
            naming the file.
    """
    from openhoi.evaluation.hico_files import _load

    root = Path(root)
    names, labels = _load(root / HICO_ANNO_FILE, space, split)
    finite = labels[np.isfinite(labels)]
    bad = ~np.isin(finite, (1.0, -1.0, 0.0))
    if bad.any():
        raise DataError(f"{root / HICO_ANNO_FILE}: anno_{split} holds {float(finite[bad][0])}; "
                        "expected 1, -1, 0 or NaN")
    labels = np.where(np.isnan(labels), -1.0, labels).astype(np.float32)  # NaN -> negative
    folder = root / "images" / f"{split}2015"
    if not folder.is_dir():
        raise DataError(f"image folder {folder} not found (needed by {root / HICO_ANNO_FILE})")
    paths = [str(folder / n) for n in names]
    missing = [n for n, p in zip(names, paths) if not Path(p).is_file()]
    if missing:
        raise DataError(f"{root / HICO_ANNO_FILE}: list_{split}: {len(missing)} image(s) "
                        f"missing in {folder} (first: {missing[0]})")
    return ImageLevelSplit(names, paths, labels)


def read_image_level_split(cfg: DataConfig, split: str, space: LabelSpace) -> ImageLevelSplit:
    """Image-level labels of ``split`` for ``cfg.dataset`` (``hico``: anno.mat; ``hicodet`` /
    ``synthetic``: derived from the json)."""
    if cfg.dataset == "hico":
        if cfg.root is None:
            raise DataError("data.root is not set: give the hico_20150920 folder")
        return read_hico_split(cfg.root, split, space)
    if cfg.dataset == "vcoco":
        raise DataError("data.dataset=vcoco has no image-level recognition labels")
    annotations, paths = read_split(cfg, split, space)
    return ImageLevelSplit([str(n) for n in annotations.file_names], [str(p) for p in paths],
                           labels_from_annotations(annotations, space))


def cap_rare(data: ImageLevelSplit, rare: Sequence[int], cap: int) -> np.ndarray:
    """Positions kept when each ``rare`` class may show in at most ``cap`` images: an image is
    dropped when it is a positive of a rare class that already has ``cap`` kept images."""
    counts = dict.fromkeys(rare, 0)
    keep = []
    for i, row in enumerate(data.labels):
        hit = [c for c in rare if row[c] == 1]
        if any(counts[c] >= cap for c in hit):
            continue
        for c in hit:
            counts[c] += 1
        keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def few_shot(data: ImageLevelSplit, shots: int, seed: int) -> np.ndarray:
    """Positions of a k-shot training set (``data.shots``): for each class in order, its
    not-yet-kept positive images in a seeded random order are added until ``shots`` kept
    images show it. Sorted; the same ``(data, shots, seed)`` always gives the same set."""
    rng = np.random.default_rng(seed)
    positive = data.labels == 1  # [N, I]
    kept = np.zeros(len(positive), dtype=bool)
    for c in range(positive.shape[1]):
        missing = shots - int(positive[kept, c].sum())
        if missing <= 0:
            continue
        candidates = np.flatnonzero(positive[:, c] & ~kept)
        kept[rng.permutation(candidates)[:missing]] = True
    return np.flatnonzero(kept)


def recognition_transforms(size: int, mean: Sequence[float], std: Sequence[float], *,
                           train: bool, flip_prob: float = 0.5, brightness: float = 0.4,
                           contrast: float = 0.4, crop_scale: tuple[float, float] = (0.7, 1.0),
                           crop_ratio: tuple[float, float] = (0.7, 1.3)
                           ) -> Callable[[Image.Image], Tensor]:
    """DEFR's input pipeline (``dataloader.py``): train = flip, bicubic resize to a square,
    brightness and contrast jitter, random resized crop, normalise; test = resize, normalise."""
    tail = [T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Normalize(mean, std)]
    resize = T.Resize((size, size), interpolation=T.InterpolationMode.BICUBIC, antialias=True)
    if not train:
        return T.Compose([resize, *tail])
    return T.Compose([T.RandomHorizontalFlip(flip_prob), resize,
                      T.ColorJitter(brightness=brightness), T.ColorJitter(contrast=contrast),
                      T.RandomResizedCrop(size, scale=crop_scale, ratio=crop_ratio,
                                          interpolation=T.InterpolationMode.BICUBIC,
                                          antialias=True), *tail])


class RecognitionDataset(torch.utils.data.Dataset):
    """``dataset[i] = (image [3, S, S], ImageLabels)``."""

    def __init__(self, data: ImageLevelSplit,
                 transform: Callable[[Image.Image], Tensor] | None) -> None:
        self.data = data
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data.image_ids)

    def __getitem__(self, idx: int) -> tuple[Tensor | Image.Image, ImageLabels]:
        image = read_image(self.data.image_paths[idx])
        labels = ImageLabels(self.data.image_ids[idx], (image.height, image.width),
                             torch.from_numpy(self.data.labels[idx]).float())
        return (self.transform(image) if self.transform else image), labels


def recognition_collate(batch: Sequence[tuple[Tensor, ImageLabels]]
                        ) -> tuple[ImageBatch, list[ImageLabels]]:
    """Same-size images stacked into an ``ImageBatch`` (no padding, mask all False)."""
    images = torch.stack([b[0] for b in batch])  # [B, 3, S, S]
    b, _, h, w = images.shape
    sizes = torch.tensor([[h, w]] * b, dtype=torch.int64)
    return ImageBatch(images, torch.zeros(b, h, w, dtype=torch.bool), sizes), [x[1] for x in batch]


@dataclass
class RecognitionData:
    """Splits of a recognition run; ``train_counts`` from the (capped) training images."""

    train: ImageLevelSplit
    val: ImageLevelSplit | None
    test: ImageLevelSplit | None
    train_counts: np.ndarray
    summary: dict


def build_recognition_data(cfg: DataConfig, space: LabelSpace,
                           with_test: bool = True) -> RecognitionData:
    """Training split after ``rare_cap``, the ``val_size`` hold-out and the ``shots`` draw,
    and the test split."""
    if cfg.fraction != 1.0 or cfg.zero_shot is not None:
        raise DataError("data.fraction / data.zero_shot are detection subsets; recognition "
                        "runs support data.rare_cap, data.shots and data.val_size")
    full = read_image_level_split(cfg, "train", space)
    train = full
    if cfg.rare_cap is not None:
        rare = (space.rare_interactions if cfg.rare_cap_split is None
                else space.zero_shot_split(cfg.rare_cap_split).unseen_interactions)
        train = full.select(cap_rare(full, rare, cfg.rare_cap))
    val = None
    if cfg.val_size > 0:
        tr, va = hold_out(len(train.image_ids), cfg.val_size, cfg.val_seed)
        train, val = train.select(tr), train.select(va)
    if cfg.shots is not None:
        train = train.select(few_shot(train, cfg.shots, cfg.shots_seed))
    test = read_image_level_split(cfg, "test", space) if with_test else None
    counts = train.train_counts
    summary = {"train_images": len(train.image_ids),
               "val_images": 0 if val is None else len(val.image_ids),
               "test_images": 0 if test is None else len(test.image_ids),
               "shots": cfg.shots,
               "train_counts": counts.tolist()}
    return RecognitionData(train, val, test, counts, summary)
