"""HICO-DET on disk, in the layout of PPDM / QPIC / GEN-VLKT / HOICLIP.

    <root>/                          e.g. hico_20160224_det
      annotations/trainval_hico.json   train split (38,118 images, 37,633 with boxes)
      annotations/test_hico.json       test split (9,658 images)
      annotations/corre_hico.npy       [117, 80] valid (verb, object) combinations
      images/train2015/HICO_train2015_00000001.jpg ...
      images/test2015/HICO_test2015_00000001.jpg ...

(GEN-VLKT ``datasets/hico.py::build`` and README "Data preparation".) The JSON format is
described in ``openhoi.data.annotations``. The synthetic benchmark uses the same layout.
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
    "train": ("trainval_hico.json", "train2015"),
    "test": ("test_hico.json", "test2015"),
}
CORRESPONDENCE_FILE = "corre_hico.npy"


def hicodet_layout(root: str | Path, split: Split) -> DatasetLayout:
    """Paths of a HICO-DET split under ``root`` (nothing is checked here)."""
    if split not in SPLITS:
        raise DataError(f"HICO-DET has no split {split!r}; use one of {sorted(SPLITS)}")
    root = Path(root)
    ann, images = SPLITS[split]
    return DatasetLayout(
        annotation_file=root / "annotations" / ann,
        image_dirs=(root / "images" / images,),
        correspondence_file=root / "annotations" / CORRESPONDENCE_FILE,
    )


def read_hicodet(root: str | Path, split: Split, label_space: LabelSpace, *,
                 skip_invalid: bool = False, box_tolerance: float = 0.02) -> HOIAnnotations:
    """Read the annotations of a HICO-DET split (see ``read_hoi_annotations``)."""
    layout = hicodet_layout(root, split)
    return read_hoi_annotations(layout.annotation_file, label_space, skip_invalid=skip_invalid,
                                box_tolerance=box_tolerance)
