"""CLIP features of annotated pair regions: the data-side driver of ``openhoi verb-repr``.

For every annotated human-object pair, the human box, the object box and their union box are
cropped from the image on disk and encoded by CLIP's image tower (global feature V_g), as
HOICLIP's ``datasets/datasets_generate_feature/hico.py`` does: boxes clamped to the image,
``PIL.Image.crop`` (which rounds coordinates), then CLIP's own preprocessing (bicubic resize of
the short side, centre crop, CLIP normalisation). Unlike the reference, which reads the training
split through its random training augmentation (pairs whose boxes a random crop removed were
skipped) and accumulates with ``tensor[idx] += x`` (one write wins when an image repeats a
class), every pair of every image counts here, each once per verb.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from openhoi.errors import DataError
from openhoi.models.clip.clip_files import check_metadata, load_tensor_file, save_tensor_file
from openhoi.models.clip.clip_knowledge import ClipKnowledge
from openhoi.structures import HOITargets

log = logging.getLogger(__name__)

LoadFn = Callable[[int], tuple[Image.Image, HOITargets]]
"""``load(i) -> (PIL image as on disk, its targets in the same pixels)``."""


@dataclass
class PairRegionFeatures:
    """CLIP global features of the regions of ``P`` annotated human-object pairs.

    Attributes:
        hoi: ``[P, E]`` f(R_hoi), the union box of human and object.
        human: ``[P, E]`` f(R_h).
        obj: ``[P, E]`` f(R_o).
        verbs: ``[P, V]`` multi-hot verbs of each pair.
        obj_labels: ``[P]`` int64 object class of each pair.
        image_idx: ``[P]`` int64 index of the pair's image in the data split.
    """

    hoi: Tensor
    human: Tensor
    obj: Tensor
    verbs: Tensor
    obj_labels: Tensor
    image_idx: Tensor

    def __len__(self) -> int:
        return int(self.hoi.shape[0])

    def select(self, keep: Tensor) -> PairRegionFeatures:
        """The pairs where ``keep [P]`` (bool) is True."""
        return PairRegionFeatures(self.hoi[keep], self.human[keep], self.obj[keep],
                                  self.verbs[keep], self.obj_labels[keep], self.image_idx[keep])


def clip_image_transform(clip: ClipKnowledge) -> Callable[[Image.Image], Tensor]:
    """CLIP's evaluation transform for PIL images (OpenAI's ``_transform``, via open_clip)."""
    import open_clip

    mode = "squash" if clip.image_resize == "squash" else "shortest"
    return open_clip.image_transform(clip.image_size, is_train=False, mean=clip.clip_mean,
                                     std=clip.clip_std, resize_mode=mode,
                                     interpolation="bicubic")


def union_boxes_xyxy(h: Tensor, o: Tensor) -> Tensor:
    """``[P, 4]`` smallest boxes containing both ``h [P, 4]`` and ``o [P, 4]`` (xyxy)."""
    return torch.cat([torch.minimum(h[:, :2], o[:, :2]), torch.maximum(h[:, 2:], o[:, 2:])], 1)


def pair_region_crops(
    image: Image.Image,
    targets: HOITargets,
    transform: Callable[[Image.Image], Tensor],
) -> tuple[Tensor, Tensor]:
    """CLIP inputs of the (union, human, object) regions of every usable pair of one image.

    Pairs without an object (index -1) or with an empty box after clamping to the image are
    skipped.

    Returns:
        ``[P', 3, 3, S, S]`` crops (union, human, object per pair) and ``[P']`` the indices of
        the used pairs in ``targets.pair_idx``.
    """
    if targets.num_pairs == 0:
        return torch.zeros(0, 3, 3, 1, 1), torch.zeros(0, dtype=torch.long)
    w, h = image.size
    boxes = targets.boxes_xyxy.float().clone()
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)  # HOICLIP clamps boxes to the image
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    valid_box = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    h_idx, o_idx = targets.pair_idx[:, 0], targets.pair_idx[:, 1]
    usable = (o_idx >= 0) & valid_box[h_idx] & valid_box[o_idx.clamp(min=0)]
    used = usable.nonzero(as_tuple=True)[0]
    if len(used) == 0:
        return torch.zeros(0, 3, 3, 1, 1), used
    hb, ob = boxes[h_idx[used]], boxes[o_idx[used]]
    regions = torch.stack([union_boxes_xyxy(hb, ob), hb, ob], dim=1)  # [P', 3, 4]
    crops = [transform(image.crop(tuple(box.tolist()))) for box in regions.reshape(-1, 4)]
    return torch.stack(crops).unflatten(0, (len(used), 3)), used  # [P', 3, 3, S, S]


class _CropDataset(torch.utils.data.Dataset):
    """Per image: its pair crops and labels, so workers do decoding and cropping."""

    def __init__(self, load: LoadFn, num_images: int,
                 transform: Callable[[Image.Image], Tensor]) -> None:
        self.load, self.num_images, self.transform = load, num_images, transform

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, idx: int) -> dict[str, Any]:
        image, targets = self.load(idx)
        crops, used = pair_region_crops(image.convert("RGB"), targets, self.transform)
        return {"crops": crops, "verbs": targets.verbs[used].float(),
                "obj_labels": targets.labels[targets.pair_idx[used, 1]].long(),
                "image_idx": torch.full((len(used),), idx, dtype=torch.long)}


def _batches(loader: Any, batch_size: int) -> Iterator[list[dict[str, Any]]]:
    """Group per-image items until they hold at least ``batch_size`` pairs."""
    group, size = [], 0
    for item in loader:
        group.append(item)
        size += len(item["verbs"])
        if size >= batch_size:
            yield group
            group, size = [], 0
    if group:
        yield group


@torch.no_grad()
def extract_pair_features(
    clip: ClipKnowledge,
    load: LoadFn,
    num_images: int,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = True,
) -> PairRegionFeatures:
    """Encode the union, human and object regions of every annotated pair of a split.

    Args:
        clip: the CLIP to use (its global feature V_g is f(R)).
        load: ``load(i) -> (PIL image, targets)`` for ``i < num_images``; targets in the image's
            own pixels (e.g. ``HOIDetectionDataset.load``).
        num_images: images in the split.
        batch_size: pairs per CLIP forward (each pair gives three crops).
        num_workers: DataLoader workers decoding and cropping images.
        progress: show a tqdm progress bar over images.

    Returns:
        ``PairRegionFeatures`` of every usable pair, in image order.
    """
    from tqdm import tqdm

    data = _CropDataset(load, num_images, clip_image_transform(clip))
    loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=num_workers)
    device = clip.visual_projection.device
    parts: dict[str, list[Tensor]] = {k: [] for k in
                                      ("hoi", "human", "obj", "verbs", "obj_labels", "image_idx")}
    bar = tqdm(total=num_images, unit="img", desc="CLIP regions", disable=not progress)
    for group in _batches(loader, batch_size):
        crops = torch.cat([g["crops"] for g in group if len(g["verbs"])] or
                          [torch.zeros(0, 3, 3, clip.image_size, clip.image_size)])
        feats = clip.encode_image(crops.flatten(0, 1).to(device)).global_feature  # [3P, E]
        feats = feats.cpu().unflatten(0, (-1, 3))  # [P, 3, E]
        parts["hoi"].append(feats[:, 0])
        parts["human"].append(feats[:, 1])
        parts["obj"].append(feats[:, 2])
        for key in ("verbs", "obj_labels", "image_idx"):
            parts[key].append(torch.cat([g[key] for g in group]))
        bar.update(len(group))
    bar.close()
    if not parts["hoi"]:
        raise DataError("the split has no images to encode")
    out = PairRegionFeatures(**{k: torch.cat(v) for k, v in parts.items()})
    log.info("encoded %d pairs of %d images", len(out), num_images)
    return out


# ---- cache -----------------------------------------------------------------------------------
PAIR_FEATURES_FORMAT = "openhoi.pair_region_features/1"
_FIELDS = ("hoi", "human", "obj", "verbs", "obj_labels", "image_idx")


def save_pair_features(path: str | Path, feats: PairRegionFeatures,
                       metadata: dict[str, Any]) -> None:
    """Cache region features with what produced them (arch, weights sha256, annotation file...)."""
    save_tensor_file(path, PAIR_FEATURES_FORMAT, {k: getattr(feats, k) for k in _FIELDS},
                     metadata)


def load_pair_features(path: str | Path, **expected: Any) -> PairRegionFeatures:
    """Read cached region features; ``expected`` metadata fields must match (``None``: any)."""
    tensors, meta = load_tensor_file(path, PAIR_FEATURES_FORMAT, _FIELDS)
    check_metadata(path, meta, expected)
    return PairRegionFeatures(**tensors)
