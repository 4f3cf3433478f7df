"""V-COCO on disk, in the layout of GEN-VLKT / HOICLIP (HOI-A format JSON).

    <root>/                          e.g. v-coco
      annotations/trainval_vcoco.json  train+val splits (5,400 images)
      annotations/test_vcoco.json      test split (4,946 images)
      annotations/corre_vcoco.npy      [29, 80] verb-object prior
      images/train2014/COCO_train2014_000000000009.jpg ...
      images/val2014/COCO_val2014_000000000042.jpg ...

The JSON files come from GEN-VLKT ``tools/convert_vcoco_annotations.py``: COCO boxes converted
to xyxy, verb ids 0..28 over role verbs (``hit_instr``, ``hit_obj``, ``run``...), no ``img_id``
and no ``hoi_category_id``, and ``object_id = -1`` for a role without an object. GEN-VLKT
``datasets/vcoco.py::build`` reads train images from ``train2014`` and test images from
``val2014``; images are looked up in the split's folder first, then in the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from openhoi.data.annotations import DatasetLayout, read_hoi_annotations
from openhoi.data.records import HOIAnnotations
from openhoi.errors import DataError
from openhoi.label_space import LabelSpace

Split = Literal["train", "test"]

SPLITS: dict[str, tuple[str, str]] = {
    "train": ("trainval_vcoco.json", "train2014"),
    "test": ("test_vcoco.json", "val2014"),
}
CORRESPONDENCE_FILE = "corre_vcoco.npy"


def vcoco_layout(root: str | Path, split: Split) -> DatasetLayout:
    """Paths of a V-COCO split under ``root`` (nothing is checked here)."""
    if split not in SPLITS:
        raise DataError(f"V-COCO has no split {split!r}; use one of {sorted(SPLITS)}")
    root = Path(root)
    ann, images = SPLITS[split]
    other = next(folder for s, (_, folder) in SPLITS.items() if s != split)
    return DatasetLayout(
        annotation_file=root / "annotations" / ann,
        image_dirs=(root / "images" / images, root / "images" / other),
        correspondence_file=root / "annotations" / CORRESPONDENCE_FILE,
        allow_no_object=True,
    )


def read_vcoco(root: str | Path, split: Split, label_space: LabelSpace, *,
               skip_invalid: bool = False, box_tolerance: float = 0.02) -> HOIAnnotations:
    """Read the annotations of a V-COCO split (see ``read_hoi_annotations``)."""
    layout = vcoco_layout(root, split)
    return read_hoi_annotations(layout.annotation_file, label_space, allow_no_object=True,
                                skip_invalid=skip_invalid, box_tolerance=box_tolerance)
