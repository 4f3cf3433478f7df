"""ViLD-image's targets: CLIP image embeddings of the training objects' crops, cached on disk.

Every object box of an annotated pair of the training split (the pairs a run trains on, so a
zero-shot split's unseen pairs are not cropped) is enlarged by the crop rule's factor about
its centre, clipped to the image, squashed to CLIP's input size and encoded once. ViLD crops
proposals offline the same way (1x and 1.5x; ``configs/vild_config.py``); a DETR has no fixed
proposals, so the crops are the ground-truth objects its queries are matched to.

The cache file's name is a key over CLIP (architecture, weights hash, precision), the crop
rule and the dataset (label space, every image id and cropped box), so a matching file is
reused and any change writes a new one (``cached_crop_embeddings``).

During training ``CropLookup`` finds each pair's embedding from ``HOITargets.image_id`` and
its object box mapped back to the stored pixels (undoing the resize, with or without the
horizontal flip; IoU >= 0.9 with a cached box of the same image); pairs whose box a random
crop changed are not distilled.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from torchvision.ops import box_iou

from openhoi.errors import DataError
from openhoi.models.clip.clip_files import load_tensor_file, save_tensor_file
from openhoi.structures import HOITargets

log = logging.getLogger(__name__)

CROPS_FORMAT = "openhoi.vild_crops/1"
LoadFn = Callable[[int], tuple[Image.Image, HOITargets]]


@dataclass
class CropEmbeddings:
    """CLIP embeddings of ``K`` object crops.

    Attributes:
        image_ids: the images, in dataset order.
        image_idx: ``[K]`` index into ``image_ids``.
        boxes_xyxy: ``[K, 4]`` the object boxes in the stored image's pixels (before the rule).
        embeddings: ``[K, E]`` CLIP image embeddings (not normalised).
        metadata: what produced them (``key``, ``arch``, ``weights_sha256``, ``crop_rule``...).
    """

    image_ids: list[str]
    image_idx: Tensor
    boxes_xyxy: Tensor
    embeddings: Tensor
    metadata: dict[str, Any]


def crop_rule(scale: float, image_size: int) -> str:
    """The crop rule as text (part of the cache key)."""
    return f"object box x{scale:g} about its centre, clipped, squashed to {image_size} px"


def enlarge_boxes(boxes_xyxy: Tensor, scale: float, width: int, height: int) -> Tensor:
    """``[K, 4]`` boxes scaled by ``scale`` about their centres, clipped to the image."""
    centre = (boxes_xyxy[:, :2] + boxes_xyxy[:, 2:]) / 2
    half = (boxes_xyxy[:, 2:] - boxes_xyxy[:, :2]) * scale / 2
    out = torch.cat([centre - half, centre + half], 1)
    out[:, 0::2] = out[:, 0::2].clamp(0, width)
    out[:, 1::2] = out[:, 1::2].clamp(0, height)
    return out


def pair_object_boxes(targets: HOITargets) -> Tensor:
    """``[K, 4]`` distinct object boxes of the image's pairs (pairs without one skipped)."""
    o_idx = targets.pair_idx[:, 1]
    o_idx = torch.unique(o_idx[o_idx >= 0])
    return targets.boxes_xyxy[o_idx].float()


def dataset_key(arch: str, weights_sha256: str, precision: str, rule: str, label_space: str,
                boxes: Sequence[tuple[str, list[list[float]]]]) -> str:
    """16 hex digits over CLIP, the crop rule and the dataset's cropped boxes."""
    h = hashlib.sha256(json.dumps([arch, weights_sha256, precision, rule, label_space],
                                  sort_keys=True).encode())
    for image_id, bxs in boxes:
        h.update(image_id.encode())
        h.update(json.dumps([[round(v, 2) for v in b] for b in bxs]).encode())
    return h.hexdigest()[:16]


def weights_id(clip: Any) -> str:
    """The weight file's sha256, or (random-init CLIP, no file) a sha256 of the image tower's
    tensors, so that two different random CLIPs never share a cache."""
    if clip.weights_sha256:
        return str(clip.weights_sha256)
    h = hashlib.sha256()
    for name, t in sorted(clip.model.visual.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().numpy().tobytes())
    return "tensors:" + h.hexdigest()


def _transform(clip: Any) -> Callable[[Image.Image], Tensor]:
    import open_clip

    return open_clip.image_transform(clip.image_size, is_train=False, mean=clip.clip_mean,
                                     std=clip.clip_std, resize_mode="squash",
                                     interpolation="bicubic")


@torch.no_grad()
def encode_crops(clip: Any, load: LoadFn, num_images: int, scale: float,
                 batch_size: int = 64) -> tuple[list[str], Tensor, Tensor, Tensor]:
    """Crop and encode every pair object of ``num_images`` images: ``(image_ids, image_idx
    [K], boxes [K, 4], embeddings [K, E])``."""
    transform = _transform(clip)
    device = clip.visual_projection.device
    ids: list[str] = []
    idx, boxes, crops, feats = [], [], [], []

    def flush() -> None:
        if crops:
            feats.append(clip.encode_image(torch.stack(crops).to(device)).global_feature.cpu())
            crops.clear()

    for i in range(num_images):
        image, targets = load(i)
        ids.append(targets.image_id)
        obj = pair_object_boxes(targets)
        w, h = image.size
        for box in enlarge_boxes(obj, scale, w, h).tolist():
            if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                box = [0, 0, w, h]  # a degenerate box: the whole image
            crops.append(transform(image.convert("RGB").crop(tuple(box))))
            if len(crops) >= batch_size:
                flush()
        idx.append(torch.full((len(obj),), i, dtype=torch.long))
        boxes.append(obj)
    flush()
    if not feats:
        raise DataError("ViLD crops: the training split has no pair with an object")
    return ids, torch.cat(idx), torch.cat(boxes), torch.cat(feats).float()


def cached_crop_embeddings(cache_dir: str | Path, clip: Any, dataset: Any, scale: float,
                           label_space: str, precision: str = "fp32",
                           batch_size: int = 64) -> tuple[Path, bool]:
    """The cache file for ``dataset``'s crops (``(path, built)``): reused when its key
    matches, else computed and written.

    Args:
        dataset: ``len()``, ``ground_truth(i)`` (targets from the annotation and the image
            header: the key, no decoding) and ``load(i)`` (image and targets: the crops), as
            ``HOIDetectionDataset`` without transforms.
    """
    rule = crop_rule(scale, clip.image_size)
    num_images = len(dataset)
    boxes = []
    for i in range(num_images):
        targets = dataset.ground_truth(i)
        boxes.append((targets.image_id, pair_object_boxes(targets).tolist()))
    wid = weights_id(clip)
    key = dataset_key(clip.arch, wid, precision, rule, label_space, boxes)
    path = Path(cache_dir) / f"vild_crops_{key}.safetensors"
    if path.is_file():
        meta = load_crop_embeddings(path).metadata
        if meta.get("key") == key:
            log.info("ViLD crop embeddings reused from %s", path)
            return path, False
    ids, idx, bxs, emb = encode_crops(clip, dataset.load, num_images, scale, batch_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_tensor_file(path, CROPS_FORMAT, {"image_idx": idx, "boxes_xyxy": bxs,
                                          "embeddings": emb},
                     {"key": key, "arch": clip.arch, "weights_sha256": wid,
                      "precision": precision, "crop_rule": rule, "crop_scale": scale,
                      "label_space": label_space, "image_ids": ids,
                      "embed_dim": int(emb.shape[1])})
    log.info("ViLD crop embeddings of %d objects in %d images written to %s", len(idx),
             num_images, path)
    return path, True


def load_crop_embeddings(path: str | Path) -> CropEmbeddings:
    tensors, meta = load_tensor_file(path, CROPS_FORMAT, ("image_idx", "boxes_xyxy",
                                                          "embeddings"))
    return CropEmbeddings(list(meta["image_ids"]), tensors["image_idx"].long(),
                          tensors["boxes_xyxy"].float(), tensors["embeddings"].float(), meta)


class CropLookup:
    """``targets -> [{"crop_embed": [M, E], "crop_valid": [M]}]`` (the criterion's
    ``pair_extras``), reading the cache file on first use.

    Args:
        path: an ``openhoi vild-crops`` file.
        min_iou: a pair's object box must overlap a cached box of its image this much.
    """

    def __init__(self, path: str | Path, min_iou: float = 0.9) -> None:
        self.path = Path(path)
        self.min_iou = min_iou
        self._by_image: dict[str, tuple[Tensor, Tensor]] | None = None
        self.embed_dim: int | None = None

    def _load(self) -> dict[str, tuple[Tensor, Tensor]]:
        if self._by_image is None:
            crops = load_crop_embeddings(self.path)
            self.embed_dim = int(crops.embeddings.shape[1])
            order = torch.argsort(crops.image_idx, stable=True)
            idx, boxes, emb = crops.image_idx[order], crops.boxes_xyxy[order], \
                crops.embeddings[order]
            counts = torch.bincount(idx, minlength=len(crops.image_ids)).tolist()
            self._by_image = {}
            start = 0
            for image_id, n in zip(crops.image_ids, counts):
                self._by_image[image_id] = (boxes[start:start + n], emb[start:start + n])
                start += n
        return self._by_image

    def __call__(self, targets: Sequence[HOITargets]) -> list[dict[str, Tensor]]:
        table = self._load()
        out = []
        for t in targets:
            m = t.num_pairs
            embed = torch.zeros(m, self.embed_dim or 1)
            valid = torch.zeros(m, dtype=torch.bool)
            entry = table.get(t.image_id)
            if entry is not None and m and len(entry[0]):
                cached, feats = entry
                _, o = t.pair_boxes_xyxy()  # [M, 4] current pixels
                (h, w), (oh, ow) = t.size, t.orig_size
                back = o.float().cpu() * torch.tensor([ow / w, oh / h, ow / w, oh / h])
                flipped = back[:, [2, 1, 0, 3]] * torch.tensor([-1, 1, -1, 1]) + \
                    torch.tensor([ow, 0, ow, 0])
                iou = torch.maximum(box_iou(back, cached), box_iou(flipped, cached))  # [M, K]
                best, k = iou.max(1)
                valid = (best >= self.min_iou) & (t.pair_idx[:, 1].cpu() >= 0)
                embed = feats[k]
            out.append({"crop_embed": embed, "crop_valid": valid})
        return out
