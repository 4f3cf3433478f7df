"""``HOIDetectionDataset``: annotation records + images on disk -> ``(image, HOITargets)``.

Images are opened lazily in ``__getitem__``; at construction only the image folders are listed
once, so a missing image fails at start-up, not hours into training. Boxes are checked against
the real image size when the image is opened: small overshoots are clipped, absurd ones are
``DataError``s (or dropped with their pairs under ``skip_invalid``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from openhoi.config import DataConfig
from openhoi.data.annotations import SKIP_HINT, DatasetLayout, out_of_image, read_hoi_annotations
from openhoi.data.custom import custom_label_space_path, custom_layout
from openhoi.data.hicodet import hicodet_layout
from openhoi.data.image_io import load_image
from openhoi.data.records import HOIAnnotations
from openhoi.data.transforms import Transform, build_transforms, select_instances
from openhoi.data.vcoco import vcoco_layout
from openhoi.errors import DataError
from openhoi.label_space import LabelSpace, load_label_space
from openhoi.structures import HOITargets

logger = logging.getLogger(__name__)

Split = Literal["train", "test"]

LAYOUTS: dict[str, Callable[[str | Path, Split], DatasetLayout]] = {
    "hicodet": hicodet_layout,
    "synthetic": hicodet_layout,
    "vcoco": vcoco_layout,
    "custom": custom_layout,
}

_IMAGE_ERRORS = (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError)


def read_image(path: str | Path) -> Image.Image:
    """Decode a dataset image as RGB with the decoder prediction uses
    (``openhoi.data.image_io.load_image``: 16-bit scaled, transparency on white); an
    unreadable or corrupt file is a ``DataError`` naming it.

    No EXIF rotation is applied: benchmark boxes are in the stored pixels, as GEN-VLKT/HOICLIP
    read them.
    """
    return load_image(path, apply_exif=False)


def read_image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) from the image header only (no decoding)."""
    try:
        with Image.open(path) as img:
            return img.height, img.width
    except _IMAGE_ERRORS as err:
        raise DataError(f"{path}: cannot read image ({err})") from None


def resolve_image_paths(annotations: HOIAnnotations, image_dirs: Sequence[Path],
                        skip_invalid: bool = False) -> tuple[HOIAnnotations, np.ndarray]:
    """Find every image file (listing each folder once) -> (annotations, ``[I]`` str paths).

    Missing images are a ``DataError`` naming the first one, or dropped under ``skip_invalid``.
    """
    existing = [d for d in image_dirs if d.is_dir()]
    if not existing:
        raise DataError(f"image folder {image_dirs[0]} not found (needed by "
                        f"{annotations.source})")
    found: dict[str, str] = {}
    for folder in reversed(existing):  # earlier folders win
        found.update((name, str(folder / name)) for name in os.listdir(folder))
    paths = [found.get(str(name), "") for name in annotations.file_names]
    missing = np.array([p == "" for p in paths], dtype=bool)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        msg = (f"{annotations.source}: image {int(annotations.indices[i])} "
               f"({annotations.file_names[i]}): field 'file_name': no such file in "
               f"{', '.join(str(d) for d in existing)}")
        if not skip_invalid:
            raise DataError(msg + SKIP_HINT)
        logger.warning("%s: skipped %d of %d images whose file is missing (first: %s)",
                       annotations.source, int(missing.sum()), len(annotations),
                       annotations.file_names[i])
        keep = np.flatnonzero(~missing)
        return annotations.select(keep), np.array(paths, dtype=str)[keep]
    return annotations, np.array(paths, dtype=str)


class HOIDetectionDataset(torch.utils.data.Dataset):
    """Images + annotations of one split; ``dataset[i] = (image [3, H, W], HOITargets)``.

    Args:
        annotations: records of the split (``read_hoi_annotations``).
        image_paths: ``[I]`` path of each record's image (``resolve_image_paths``).
        transforms: joint transforms applied to (PIL image, targets); None returns the PIL
            image and clipped targets in original pixels.
        box_tolerance: see ``DataConfig.box_tolerance``.
        skip_invalid: an unreadable image is replaced by the next readable one and boxes far
            outside the image are dropped with their pairs (both logged) instead of raising.
    """

    def __init__(self, annotations: HOIAnnotations, image_paths: Sequence[str] | np.ndarray,
                 transforms: Transform | None = None, *, box_tolerance: float = 0.02,
                 skip_invalid: bool = False):
        if len(image_paths) != len(annotations):
            raise ValueError(f"{len(image_paths)} image paths for {len(annotations)} records")
        self.annotations = annotations
        self.image_paths = np.asarray(image_paths, dtype=str)
        self.transforms = transforms
        self.box_tolerance = box_tolerance
        self.skip_invalid = skip_invalid

    def __len__(self) -> int:
        return len(self.annotations)

    def aspect_ratios(self) -> np.ndarray:
        """``[I]`` width / height of each image: the annotation file's size where it states
        one, else the image header (``read_image_size``, no decoding). An unreadable image
        raises ``DataError`` naming it, or with ``skip_invalid`` gets ratio 1 (loading replaces
        it later, with the warning)."""
        out = np.empty(len(self), dtype=np.float64)
        for i, (h, w) in enumerate(self.annotations.sizes.tolist()):  # -1: not stated
            if h <= 0 or w <= 0:
                try:
                    h, w = read_image_size(self.image_paths[i])
                except DataError as err:
                    if not self.skip_invalid:
                        raise DataError(f"{err}{SKIP_HINT}") from None
                    h = w = 1
            out[i] = w / h
        return out

    def _checked_targets(self, idx: int, size: tuple[int, int], clip: bool) -> HOITargets:
        """Targets of record ``idx`` for an image of ``size``, bounds-checked (and clipped)."""
        record = self.annotations[idx]
        targets = record.to_targets(size)
        height, width = size
        n = len(record.labels)
        bad = out_of_image(record.boxes_xyxy, np.full(n, height), np.full(n, width),
                           self.box_tolerance)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            msg = (f"{self.annotations.source}: image {record.index} ({record.file_name}): "
                   f"field 'annotations[{j}].bbox': bbox outside the {width}x{height} image: "
                   f"{record.boxes_xyxy[j].tolist()}")
            if not self.skip_invalid:
                raise DataError(msg + SKIP_HINT)
            logger.warning("%s; dropped %d such boxes and their pairs", msg, int(bad.sum()))
            targets = select_instances(targets, torch.from_numpy(~bad))
        if clip:
            boxes = targets.boxes_xyxy
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        return targets

    def load(self, idx: int) -> tuple[Image.Image, HOITargets]:
        """Image ``idx`` (PIL, RGB) and its targets clipped to it, before any transform."""
        image = read_image(self.image_paths[idx])
        return image, self._checked_targets(idx, (image.height, image.width), clip=True)

    def __getitem__(self, idx: int) -> tuple[Tensor | Image.Image, HOITargets]:
        tries = min(len(self), 10) if self.skip_invalid else 1
        for k in range(tries):
            try:
                image, targets = self.load((idx + k) % len(self))
                break
            except DataError as err:
                if not self.skip_invalid:
                    raise DataError(f"{err}{SKIP_HINT}") from None
                if k == tries - 1:
                    raise
                logger.warning("%s; using image %d instead", err, (idx + k + 1) % len(self))
        if self.transforms is not None:
            image, targets = self.transforms(image, targets)
        return image, targets

    def ground_truth(self, idx: int) -> HOITargets:
        """Targets of image ``idx`` in the pixels of the file, unclipped (for evaluation);
        the size comes from the image header."""
        size = read_image_size(self.image_paths[idx])
        return self._checked_targets(idx, size, clip=False)


def resolve_label_space(cfg: DataConfig) -> LabelSpace:
    """``cfg.label_space`` or the dataset's own label space (``<root>/label_space.json`` for
    a custom dataset)."""
    if cfg.label_space is None and cfg.dataset == "custom":
        if cfg.root is None:
            raise DataError("data.dataset=custom needs data.label_space or data.root (whose "
                            "label_space.json is used)")
        path = custom_label_space_path(cfg.root)
        if not path.is_file():
            raise DataError(f"{path} not found: write it with `openhoi label-space build` (or "
                            "`openhoi convert-annotations`), or set data.label_space")
        return load_label_space(path)
    return load_label_space(cfg.label_space or cfg.dataset)


def read_split(cfg: DataConfig, split: Split, label_space: LabelSpace) -> tuple[
        HOIAnnotations, np.ndarray]:
    """Annotations of a split with their image paths (validated per ``cfg``)."""
    if cfg.root is None:
        raise DataError("data.root is not set: give the dataset folder in the recipe, with "
                        "--set data.root=DIR, or through OPENHOI_DATA")
    if not Path(cfg.root).is_dir():
        raise DataError(f"dataset root {cfg.root} not found (data.root)")
    layout = LAYOUTS[cfg.dataset](cfg.root, split)
    annotations = read_hoi_annotations(
        layout.annotation_file, label_space, allow_no_object=layout.allow_no_object,
        skip_invalid=cfg.skip_invalid, box_tolerance=cfg.box_tolerance)
    return resolve_image_paths(annotations, layout.image_dirs, cfg.skip_invalid)


def build_dataset(cfg: DataConfig, split: Split, label_space: LabelSpace,
                  transforms: Transform | None | Literal["default"] = "default"
                  ) -> HOIDetectionDataset:
    """The dataset of a split with the config's transforms (train: augmentation; test: resize).

    Training drops images without pairs when ``cfg.train_skip_empty`` (GEN-VLKT behaviour).
    """
    annotations, paths = read_split(cfg, split, label_space)
    if split == "train" and cfg.train_skip_empty:
        keep = np.flatnonzero(annotations.num_pairs > 0)
        annotations, paths = annotations.select(keep), paths[keep]
    if transforms == "default":
        transforms = build_transforms(cfg, train=split == "train")
    return HOIDetectionDataset(annotations, paths, transforms, box_tolerance=cfg.box_tolerance,
                               skip_invalid=cfg.skip_invalid)


def load_ground_truth(cfg: DataConfig, split: Split, label_space: LabelSpace
                      ) -> list[HOITargets]:
    """Ground truth of every image of a split in original pixels, no transforms, unclipped.

    Image sizes are read from the image headers. Images without pairs are kept (they count
    for false positives in HICO-DET evaluation).
    """
    annotations, paths = read_split(cfg, split, label_space)
    dataset = HOIDetectionDataset(annotations, paths, None, box_tolerance=cfg.box_tolerance,
                                  skip_invalid=cfg.skip_invalid)
    return [dataset.ground_truth(i) for i in range(len(dataset))]

