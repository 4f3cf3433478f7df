"""Joint image + annotation transforms: DETR's ``datasets/transforms.py`` for instances + pairs.

Every transform maps ``(image, HOITargets) -> (image, HOITargets)``; images are PIL images or
``[3, H, W]`` tensors until ``ToTensorNormalize``. Geometry touches ``boxes_xyxy`` only; when a
box vanishes (zero area after a crop) ``select_instances`` drops it together with every pair
that uses it, so pairs never point at the wrong instance.

torchvision.transforms.v2 was considered: it carries ``BoundingBoxes`` through a pytree, but its
``SanitizeBoundingBoxes`` filters labels only, not pair indices into the boxes, and its
``RandomShortestSize`` rounds output sizes differently from DETR's ``RandomResize``, which fixes
the test resolution of every published HICO-DET number. Randomness comes from torch's global
generator (seeded per data-loader worker, see ``openhoi.data.loader``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image
from torch import Tensor

from openhoi.config import DataConfig
from openhoi.structures import HOITargets

ImageLike = Image.Image | Tensor


class Transform(Protocol):
    def __call__(self, image: ImageLike, targets: HOITargets) -> tuple[ImageLike, HOITargets]:
        ...


def image_hw(image: ImageLike) -> tuple[int, int]:
    """(height, width) of a PIL image or a ``[..., H, W]`` tensor."""
    if isinstance(image, Tensor):
        return int(image.shape[-2]), int(image.shape[-1])
    return image.height, image.width


# ---- functional ------------------------------------------------------------------------------


def select_instances(targets: HOITargets, keep: Tensor) -> HOITargets:
    """Keep the boxes where ``keep`` (``[N]`` bool), drop every pair using a dropped box.

    A pair without object (object index -1) survives when its human does.
    """
    new_index = torch.cumsum(keep.long(), 0) - 1  # [N] position among kept boxes
    h, o = targets.pair_idx[:, 0], targets.pair_idx[:, 1]
    pair_keep = keep[h] & ((o < 0) | keep[o.clamp(min=0)])  # [M]
    h, o = h[pair_keep], o[pair_keep]
    o = torch.where(o >= 0, new_index[o.clamp(min=0)], o)
    entries = targets.hoi_entries
    if entries is not None:  # [E, 2] (pair row, verb): drop those of dropped pairs, renumber
        entries = entries[pair_keep[entries[:, 0]]]
        new_pair = torch.cumsum(pair_keep.long(), 0) - 1  # [M]
        entries = torch.stack([new_pair[entries[:, 0]], entries[:, 1]], dim=1).reshape(-1, 2)
    return replace(
        targets,
        boxes_xyxy=targets.boxes_xyxy[keep],
        labels=targets.labels[keep],
        pair_idx=torch.stack([new_index[h], o], dim=1).reshape(-1, 2),
        verbs=targets.verbs[pair_keep],
        hoi_entries=entries,
    )


def sanitize(targets: HOITargets) -> HOITargets:
    """Clip boxes to ``targets.size`` and drop zero-area boxes with their pairs."""
    height, width = targets.size
    boxes = targets.boxes_xyxy.clone()
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return select_instances(replace(targets, boxes_xyxy=boxes), keep)


def hflip(image: ImageLike, targets: HOITargets) -> tuple[ImageLike, HOITargets]:
    """Mirror left-right: x -> width - x, swapping x1 and x2."""
    _, width = image_hw(image)
    boxes = targets.boxes_xyxy[:, [2, 1, 0, 3]] * torch.tensor([-1.0, 1.0, -1.0, 1.0])
    boxes = boxes + torch.tensor([width, 0.0, width, 0.0])
    return F.hflip(image), replace(targets, boxes_xyxy=boxes)


def resize_shape(hw: tuple[int, int], size: int, max_size: int | None) -> tuple[int, int]:
    """DETR's output (height, width): shorter side ``size``, longer side at most ``max_size``."""
    h, w = hw
    if max_size is not None:
        lo, hi = float(min(h, w)), float(max(h, w))
        if hi / lo * size > max_size:
            size = int(round(max_size * lo / hi))
    if (w <= h and w == size) or (h <= w and h == size):
        return h, w
    if w < h:
        return int(size * h / w), size
    return size, int(size * w / h)


def resize(image: ImageLike, targets: HOITargets, size: int,
           max_size: int | None = None) -> tuple[ImageLike, HOITargets]:
    """Resize so the shorter side is ``size`` (longer side capped at ``max_size``)."""
    old_h, old_w = image_hw(image)
    new_h, new_w = resize_shape((old_h, old_w), size, max_size)
    if (new_h, new_w) == (old_h, old_w):
        return image, targets
    image = F.resize(image, [new_h, new_w])
    scale = torch.tensor([new_w / old_w, new_h / old_h, new_w / old_w, new_h / old_h])
    return image, replace(targets, boxes_xyxy=targets.boxes_xyxy * scale, size=(new_h, new_w))


def crop(image: ImageLike, targets: HOITargets, top: int, left: int, height: int,
         width: int) -> tuple[ImageLike, HOITargets]:
    """Cut the region (top, left, height, width); boxes left with zero area go, with their pairs."""
    image = F.crop(image, top, left, height, width)
    boxes = targets.boxes_xyxy - torch.tensor([left, top, left, top], dtype=torch.float32)
    return image, sanitize(replace(targets, boxes_xyxy=boxes, size=(height, width)))


# ---- random transforms -----------------------------------------------------------------------


def _coin(p: float) -> bool:
    return bool(torch.rand(()) < p)


def _randint(low: int, high: int) -> int:
    """Uniform integer in [low, high] (inclusive, like ``random.randint``)."""
    return int(torch.randint(low, high + 1, ()))


class Compose:
    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = list(transforms)

    def __call__(self, image: ImageLike, targets: HOITargets) -> tuple[ImageLike, HOITargets]:
        for t in self.transforms:
            image, targets = t(image, targets)
        return image, targets

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"Compose([{inner}])"


class Sanitize:
    """Clip boxes to the image and drop zero-area ones with their pairs (GEN-VLKT's ``keep``)."""

    def __call__(self, image: ImageLike, targets: HOITargets) -> tuple[ImageLike, HOITargets]:
        return image, sanitize(targets)

    def __repr__(self) -> str:
        return "Sanitize()"


class RandomHorizontalFlip:
    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, image: ImageLike, targets: HOITargets) -> tuple[ImageLike, HOITargets]:
        return hflip(image, targets) if _coin(self.p) else (image, targets)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class ColorJitter:
    """torchvision's ``ColorJitter`` on the image; targets are untouched."""

    def __init__(self, brightness: float, contrast: float, saturation: float, hue: float = 0.0):
        self.jitter = T.ColorJitter(brightness, contrast, saturation, hue)

    def __call__(self, image: ImageLike, targets: HOITargets) -> tuple[ImageLike, HOITargets]:
        return self.jitter(image), targets

    def __repr__(self) -> str:
        return repr(self.jitter)


class RandomResize:
    """Resize to a shorter side drawn from ``sizes`` (DETR ``RandomResize``)."""

    def __init__(self, sizes: Sequence[int], max_size: int | None = None):
        self.sizes = tuple(sizes)
        self.max_size = max_size

    def __call__(self, image: ImageLike, targets: HOITargets) -> tuple[ImageLike, HOITargets]:
        size = self.sizes[_randint(0, len(self.sizes) - 1)]
        return resize(image, targets, size, self.max_size)

    def __repr__(self) -> str:
        return f"RandomResize({list(self.sizes)}, max_size={self.max_size})"


class RandomSizeCrop:
    """Crop a random region with sides in [min_size, max_size] (DETR ``RandomSizeCrop``).

    Sides are also capped by the image (and ``min_size`` then by that cap), where DETR would
    raise on an image smaller than ``min_size``.
    """

    def __init__(self, min_size: int, max_size: int):
        self.min_size, self.max_size = min_size, max_size

    def __call__(self, image: ImageLike, targets: HOITargets) -> tuple[ImageLike, HOITargets]:
        img_h, img_w = image_hw(image)
        w_hi, h_hi = min(img_w, self.max_size), min(img_h, self.max_size)
        w = _randint(min(self.min_size, w_hi), w_hi)
        h = _randint(min(self.min_size, h_hi), h_hi)
        top, left = _randint(0, img_h - h), _randint(0, img_w - w)
        return crop(image, targets, top, left, h, w)

    def __repr__(self) -> str:
        return f"RandomSizeCrop({self.min_size}, {self.max_size})"


class RandomSelect:
    """Apply ``first`` with probability ``p``, else ``second`` (DETR ``RandomSelect``)."""

    def __init__(self, first: Transform, second: Transform, p: float = 0.5):
        self.first, self.second, self.p = first, second, p

    def __call__(self, image: ImageLike, targets: HOITargets) -> tuple[ImageLike, HOITargets]:
        return (self.first if _coin(self.p) else self.second)(image, targets)

    def __repr__(self) -> str:
        return f"RandomSelect({self.first!r}, {self.second!r}, p={self.p})"


class ToTensorNormalize:
    """PIL image -> ``[3, H, W]`` float32 in [0, 1], then ``(x - mean) / std`` per channel."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean, self.std = list(mean), list(std)

    def __call__(self, image: ImageLike, targets: HOITargets) -> tuple[Tensor, HOITargets]:
        tensor = image if isinstance(image, Tensor) else F.to_tensor(image)
        return F.normalize(tensor.float(), self.mean, self.std), targets

    def __repr__(self) -> str:
        return f"ToTensorNormalize(mean={self.mean}, std={self.std})"


def build_transforms(cfg: DataConfig, train: bool) -> Compose:
    """The GEN-VLKT/HOICLIP pipelines (``datasets/hico.py::make_hico_transforms``) from ``cfg``.

    Train: sanitize, flip, colour jitter, then either a multi-scale resize or resize -> random
    crop -> multi-scale resize; test: one resize (shorter side ``test_scale``). Both end in
    ``ToTensorNormalize``.
    """
    normalize = ToTensorNormalize(cfg.pixel_mean, cfg.pixel_std)
    if not train:
        return Compose([RandomResize([cfg.test_scale], cfg.max_size), normalize])
    multi_scale = RandomResize(cfg.train_scales, cfg.max_size)
    crop_branch = Compose([
        RandomResize(cfg.crop_scales),
        RandomSizeCrop(*cfg.crop_size),
        RandomResize(cfg.train_scales, cfg.max_size),
    ])
    return Compose([
        Sanitize(),
        RandomHorizontalFlip(cfg.flip_prob),
        ColorJitter(*cfg.color_jitter),
        RandomSelect(multi_scale, crop_branch, p=1.0 - cfg.crop_prob),
        normalize,
    ])
