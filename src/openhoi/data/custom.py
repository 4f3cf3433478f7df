"""Your own HOI dataset: the CSV interchange format, its converter, and the on-disk layout.

The layout is HICO-DET's (``openhoi.data.hicodet``; GEN-VLKT and HOICLIP read it too), with
the dataset's own label space next to it::

    <root>/label_space.json            `openhoi label-space build` output (your classes)
    <root>/annotations/trainval_hico.json, test_hico.json, corre_hico.npy
    <root>/images/train2015/..., images/test2015/...

Annotation ids in the json files are the ids of *your* label space (``objects[].id``,
``verbs[].id``), never HICO-DET's. The interchange format is a CSV with a header and one row
per (image, human box, object box, object, verb); boxes are absolute pixels, x1 y1 x2 y2::

    image,verb,object,human_x1,human_y1,human_x2,human_y2,object_x1,object_y1,object_x2,object_y2
    kitchen/001.jpg,pour,teapot,10,20,110,220,90,100,140,150
    kitchen/001.jpg,hold,teapot,10,20,110,220,90,100,140,150     # a second verb, same pair
    lake/007.jpg,wave,,30,15,90,200,,,,                           # a verb without object
    empty/003.jpg,,,,,,,,,,                                       # an image without HOI

Rows with the same image and the same box (and class) share the box; several verbs of one pair
are several rows. An exact repeat of a row is dropped (it would count twice in evaluation).
Other columns are ignored. ``docs/custom_dataset.md`` walks the whole path.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from openhoi.data.annotations import DatasetLayout, out_of_image
from openhoi.data.hicodet import CORRESPONDENCE_FILE, SPLITS, hicodet_layout
from openhoi.data.label_space_builder import (
    AnnotationSource,
    EntryTable,
    check_entries,
    entry_interactions,
    read_source,
)
from openhoi.errors import DataError
from openhoi.label_space import LabelSpace

log = logging.getLogger(__name__)

LABEL_SPACE_FILE = "label_space.json"
HUMAN_BOX = ("human_x1", "human_y1", "human_x2", "human_y2")
OBJECT_BOX = ("object_x1", "object_y1", "object_x2", "object_y2")
CSV_COLUMNS = ("image", "verb", "object", *HUMAN_BOX, *OBJECT_BOX)


def custom_layout(root: str | Path, split: str) -> DatasetLayout:
    """HICO-DET's layout; pairs may have no object (verbs without object)."""
    layout = hicodet_layout(root, split)  # type: ignore[arg-type]
    return DatasetLayout(layout.annotation_file, layout.image_dirs, layout.correspondence_file,
                         allow_no_object=True)


def custom_label_space_path(root: str | Path) -> Path:
    """Where a custom dataset keeps its label space when ``data.label_space`` is not set."""
    return Path(root) / LABEL_SPACE_FILE


# ---- CSV -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Row:
    line: int
    image: str
    verb: str
    object: str
    human_box: tuple[float, ...] | None
    object_box: tuple[float, ...] | None


def _box(row: dict[str, str], cols: tuple[str, ...], where: str) -> tuple[float, ...] | None:
    values = [row.get(c, "") for c in cols]
    if not any(values):
        return None
    if not all(values):
        missing = [c for c, v in zip(cols, values) if not v]
        raise DataError(f"{where}: box columns {missing} are empty (give all four or none)")
    try:
        box = tuple(float(v) for v in values)
    except ValueError:
        raise DataError(f"{where}: box {dict(zip(cols, values))} is not four numbers") from None
    if not np.all(np.isfinite(box)) or box[2] < box[0] or box[3] < box[1]:
        raise DataError(f"{where}: box {list(box)} needs finite x1 <= x2 and y1 <= y2")
    return box


def read_csv_rows(path: str | Path) -> list[_Row]:
    """The rows of an interchange CSV, checked for shape (every row names its line)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: annotation CSV not found")
    reader = csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines())
    fields = [f.strip() for f in reader.fieldnames or []]
    missing = [c for c in CSV_COLUMNS if c not in fields]
    if missing:
        raise DataError(f"{path}: header lacks columns {missing} (expected {','.join(CSV_COLUMNS)}"
                        ")")
    rows = []
    for k, raw in enumerate(reader):
        line = k + 2
        row = {(key or "").strip(): (v or "").strip() for key, v in raw.items() if key}
        where = f"{path} line {line}"
        if not row["image"]:
            raise DataError(f"{where}: column 'image' is empty")
        h, o = _box(row, HUMAN_BOX, where), _box(row, OBJECT_BOX, where)
        verb, obj = row["verb"], row["object"]
        if (obj == "") != (o is None):
            raise DataError(f"{where}: give both the object class and its box, or neither")
        if verb and h is None:
            raise DataError(f"{where}: verb {verb!r} without a human box")
        if not verb and (h is not None or obj):
            raise DataError(f"{where}: boxes without a verb (an image without HOI leaves every "
                            "column but 'image' empty)")
        rows.append(_Row(line, row["image"], verb, obj, h, o))
    return rows


def csv_class_names(paths: list[Path], human: str) -> tuple[list[str], list[str]]:
    """Object names (the human class first, then alphabetical) and verb names (alphabetical)
    used in interchange CSVs: the default class lists of ``openhoi label-space build``."""
    rows = [r for p in paths for r in read_csv_rows(p)]
    objects = sorted({r.object for r in rows if r.object} - {human})
    return [human, *objects], sorted({r.verb for r in rows if r.verb})


def flat_file_name(image: str) -> str:
    """``kitchen/001.jpg`` -> ``kitchen__001.jpg``: the layout keeps one folder per split."""
    return "__".join(Path(image).parts)


def _box_id(entry: dict[str, Any], boxes: dict[tuple, int], name: str,
            box: tuple[float, ...] | None, column: str, object_ids: Mapping[str, int],
            where: str, tolerance: float) -> int:
    """Index of (name, box) in the image's ``annotations`` (added when new); -1 for no box."""
    if box is None:
        return -1
    if name not in object_ids:
        what = "the human class" if column == "human" else "column 'object':"
        raise DataError(f"{where}: {what} {name!r} is not an object class")
    if "height" in entry and out_of_image(np.array([box]), np.array([entry["height"]]),
                                          np.array([entry["width"]]), tolerance)[0]:
        raise DataError(f"{where}: {column} box {list(box)} lies outside the "
                        f"{entry['width']}x{entry['height']} image")
    if (name, box) not in boxes:
        boxes[(name, box)] = len(entry["annotations"])
        entry["annotations"].append({"bbox": list(box), "category_id": object_ids[name]})
    return boxes[(name, box)]


@dataclass(frozen=True)
class CsvAnnotations:
    """An interchange CSV read into json-layout images (``csv_to_source``)."""

    source: AnnotationSource
    image_names: list[str]
    """The CSV ``image`` value of each image, in order."""
    duplicates: int
    """Exact duplicate rows dropped."""


def csv_to_source(path: str | Path, object_ids: Mapping[str, int], verb_ids: Mapping[str, int],
                  human: str, size_of: Callable[[str], tuple[int, int]] | None = None,
                  box_tolerance: float = 0.02) -> CsvAnnotations:
    """An interchange CSV as json-layout images (``file_name`` flattened).

    Args:
        object_ids, verb_ids: class name -> annotation id (a label space's, or the lists').
        human: the human class name.
        size_of: image name -> (height, width); when given, entries carry the size and boxes
            beyond ``box_tolerance`` outside the image are an error naming the line.

    Returns:
        the source, its images' CSV names and the number of exact duplicate rows dropped.
    """
    images: dict[str, dict[str, Any]] = {}
    lines: dict[str, list[int]] = {}
    box_index: dict[str, dict[tuple, int]] = {}
    seen_rows: set[tuple] = set()
    duplicates = 0
    for r in read_csv_rows(path):
        where = f"{path} line {r.line}"
        if r.image not in images:
            entry: dict[str, Any] = {"file_name": flat_file_name(r.image), "annotations": [],
                                     "hoi_annotation": []}
            if size_of is not None:
                entry["height"], entry["width"] = size_of(r.image)
            images[r.image], lines[r.image], box_index[r.image] = entry, [], {}
        entry = images[r.image]
        if not r.verb:
            continue
        key = (r.image, r.verb, r.object, r.human_box, r.object_box)
        if key in seen_rows:
            duplicates += 1
            continue
        seen_rows.add(key)
        if r.verb not in verb_ids:
            raise DataError(f"{where}: column 'verb': {r.verb!r} is not a verb class")
        ids = [_box_id(entry, box_index[r.image], name, box, column, object_ids, where,
                       box_tolerance)
               for name, box, column in ((human, r.human_box, "human"),
                                         (r.object, r.object_box, "object"))]
        entry["hoi_annotation"].append({"subject_id": ids[0], "object_id": ids[1],
                                        "category_id": verb_ids[r.verb]})
        lines[r.image].append(r.line)
    names = [e["file_name"] for e in images.values()]
    if len(set(names)) != len(names):
        clash = sorted({n for n in names if names.count(n) > 1})[0]
        raise DataError(f"{path}: two images flatten to the same file name {clash!r}")
    source = AnnotationSource(str(path), list(images.values()), list(lines.values()))
    return CsvAnnotations(source, list(images), duplicates)


# ---- converter -------------------------------------------------------------------------------
def _set_interaction_ids(source: AnnotationSource, table: EntryTable, space: LabelSpace) -> None:
    """Write ``hoi_category_id`` = interaction index + 1 into every entry, as HICO-DET's files
    have it (openhoi's reader ignores it; other tools read it)."""
    inter = entry_interactions(table, space)
    for k, (img, pos) in enumerate(zip(table.image, table.position)):
        source.entries[img]["hoi_annotation"][pos]["hoi_category_id"] = int(inter[k]) + 1


def _place_image(src: Path, dst: Path, mode: str) -> None:
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    if mode == "symlink":
        dst.symlink_to(src.resolve())
        return
    if mode == "link":
        try:
            os.link(src, dst)
            return
        except OSError:
            pass  # another file system: copy
    shutil.copy2(src, dst)


@dataclass(frozen=True)
class SplitSummary:
    """What ``convert_csv`` wrote for one split."""

    split: str
    annotation_file: Path
    num_images: int
    num_entries: int
    duplicates_dropped: int


def convert_csv(splits: Mapping[str, str | Path], space: LabelSpace, images: str | Path,
                out: str | Path, *, image_mode: str = "link", box_tolerance: float = 0.02
                ) -> list[SplitSummary]:
    """Convert interchange CSVs into a dataset folder in the layout above.

    Args:
        splits: ``{"train": train.csv, "test": test.csv}`` (either may be absent).
        space: the dataset's label space (``openhoi label-space build``); it is copied to
            ``<out>/label_space.json`` and its ids are written into the json files.
        images: folder the CSV ``image`` column is relative to.
        out: dataset root to write.
        image_mode: ``link`` (hard link, else copy), ``copy`` or ``symlink``.
        box_tolerance: see ``DataConfig.box_tolerance``.

    Raises:
        DataError: naming the CSV line (or image) at fault; nothing is half-written for that
            split's json.
    """
    from PIL import Image

    if image_mode not in ("link", "copy", "symlink"):
        raise DataError(f"image mode {image_mode!r}: use link, copy or symlink")
    images, out = Path(images), Path(out)
    if not images.is_dir():
        raise DataError(f"image folder {images} not found")

    def size_of(name: str) -> tuple[int, int]:
        try:
            with Image.open(images / name) as img:
                return img.height, img.width
        except (OSError, ValueError) as err:
            raise DataError(f"{images / name}: cannot read image ({err})") from None

    object_ids = dict(zip(space.objects, space.object_ids))
    verb_ids = dict(zip(space.verbs, space.verb_ids))
    human = space.objects[space.human_label]
    summaries = []
    prepared = []
    for split, path in splits.items():
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; use {sorted(SPLITS)}")
        read = csv_to_source(path, object_ids, verb_ids, human, size_of, box_tolerance)
        ann, table = read_source(read.source, space)
        check_entries(read.source, ann, table, space)
        _set_interaction_ids(read.source, table, space)
        prepared.append((split, read, len(table.verb)))
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    for split, read, num_entries in prepared:
        ann_name, folder = SPLITS[split]
        image_dir = out / "images" / folder
        image_dir.mkdir(parents=True, exist_ok=True)
        for name, entry in zip(read.image_names, read.source.entries):
            _place_image(images / name, image_dir / entry["file_name"], image_mode)
        ann_file = out / "annotations" / ann_name
        ann_file.write_text(json.dumps(read.source.entries))
        summaries.append(SplitSummary(split, ann_file, len(read.source.entries), num_entries,
                                      read.duplicates))
        if read.duplicates:
            log.warning("%s: dropped %d exact duplicate rows", splits[split], read.duplicates)
    np.save(out / "annotations" / CORRESPONDENCE_FILE,
            space.correspondence.numpy().astype(np.float32))
    (out / LABEL_SPACE_FILE).write_text(json.dumps(space.to_json_dict(), indent=1))
    return summaries

