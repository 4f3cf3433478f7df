"""Hand-made HICO-DET-layout files for the data tests (imported by the test modules)."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image


def hico_entry(file_name: str, boxes: list[tuple[list[float], int]],
               hois: list[tuple[int, int, int]], **extra) -> dict:
    """One image entry of trainval_hico.json: boxes as (bbox, COCO category id), hois as
    (subject_id, object_id, verb id)."""
    return {
        "file_name": file_name,
        **extra,
        "annotations": [{"bbox": b, "category_id": c} for b, c in boxes],
        "hoi_annotation": [{"subject_id": s, "object_id": o, "category_id": v}
                           for s, o, v in hois],
    }


def write_hico(root: Path, train: list[dict], test: list[dict] | None = None,
               image_size: tuple[int, int] = (60, 80)) -> Path:
    """A HICO-DET layout under ``root`` with a (height, width) JPEG for every entry."""
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for split, ann, folder in (("train", "trainval_hico.json", "train2015"),
                               ("test", "test_hico.json", "test2015")):
        entries = train if split == "train" else (test or [])
        (root / "annotations" / ann).write_text(json.dumps(entries))
        (root / "images" / folder).mkdir(parents=True, exist_ok=True)
        for e in entries:
            if isinstance(e, dict) and isinstance(e.get("file_name"), str):
                h, w = image_size
                Image.new("RGB", (w, h), (120, 60, 30)).save(root / "images" / folder /
                                                             e["file_name"])
    return root
