"""Data-path speed: annotation reading at HICO-DET scale, record access, image loading with the
train/test transforms, and synthetic-data generation. Prints a table.

    bash scripts/env.sh python benchmarks/bench_data.py [--images 38118]

The annotation file is generated with HICO-DET's size and shape (38,118 images, ~3.1 HOIs per
image, 80 COCO object ids, 117 verb ids) so no dataset download is needed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from openhoi.config import DataConfig
from openhoi.data.annotations import read_hoi_annotations
from openhoi.data.dataset import HOIDetectionDataset
from openhoi.data.synthetic import generate_synthetic
from openhoi.data.transforms import build_transforms
from openhoi.label_space import LabelSpace, label_space_from_dict

COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
NUM_VERBS = 117


def hico_sized_space() -> LabelSpace:
    """A label space shaped like HICO-DET's (80 objects, 117 verbs, every combination)."""
    objects = [{"name": "person" if i == 1 else f"object{i}", "id": i} for i in COCO_IDS]
    verbs = [{"name": f"verb{v}", "id": v} for v in range(1, NUM_VERBS + 1)]
    inters = [{"verb": v["name"], "object": o["name"]} for v in verbs[:8] for o in objects]
    return label_space_from_dict({"name": "bench", "objects": objects, "verbs": verbs,
                                  "interactions": inters, "human_object": "person"})


def hico_sized_annotations(num_images: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    entries = []
    for k in range(num_images):
        n_hoi = 1 + int(rng.poisson(2.1))
        boxes, hois, humans, objects = [], [], [], []
        for _ in range(n_hoi):
            if not humans or rng.uniform() < 0.4:
                humans.append(len(boxes))
                boxes.append({"bbox": [int(v) for v in rng.integers(0, 640, 4)],
                              "category_id": 1})
            if not objects or rng.uniform() < 0.6:
                objects.append(len(boxes))
                boxes.append({"bbox": [int(v) for v in rng.integers(0, 640, 4)],
                              "category_id": int(rng.choice(COCO_IDS))})
            hois.append({"subject_id": int(rng.choice(humans)),
                         "object_id": int(rng.choice(objects)),
                         "category_id": int(rng.integers(1, NUM_VERBS + 1)),
                         "hoi_category_id": int(rng.integers(1, 601))})
        for b in boxes:  # xyxy with x1 <= x2
            x1, y1, x2, y2 = b["bbox"]
            b["bbox"] = [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]
        entries.append({"file_name": f"HICO_train2015_{k + 1:08d}.jpg", "img_id": k + 1,
                         "annotations": boxes, "hoi_annotation": hois})
    return entries


def timed(fn: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=38118)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows: list[tuple[str, str, str]] = []
    space = hico_sized_space()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "trainval_hico.json"
        path.write_text(json.dumps(hico_sized_annotations(args.images)))
        mb = path.stat().st_size / 2**20
        t_json, _ = timed(lambda: json.loads(path.read_bytes()))
        t_read, ann = timed(lambda: read_hoi_annotations(path, space))
        n_hoi = int(ann.pair_verbs.sum())
        rows.append((f"json.loads ({mb:.0f} MB, {args.images} images)", f"{t_json:.2f} s", ""))
        rows.append(("read_hoi_annotations (json + validate + merge)", f"{t_read:.2f} s",
                     f"{args.images / t_read:,.0f} images/s; {len(ann.pair_idx):,} pairs, "
                     f"{n_hoi:,} (pair, verb)"))
        t_sel, _ = timed(lambda: ann.select(np.flatnonzero(ann.num_pairs > 0)))
        rows.append(("HOIAnnotations.select (all images)", f"{t_sel * 1e3:.0f} ms", ""))
        n = 2000
        t_rec, _ = timed(lambda: [ann[i].to_targets((480, 640)) for i in range(n)])
        rows.append(("record -> HOITargets", f"{t_rec / n * 1e6:.0f} us/image", ""))

        img_dir = tmp / "images"
        img_dir.mkdir()
        rng = np.random.default_rng(0)
        names = []
        for k in range(16):
            names.append(f"{k}.jpg")
            pixels = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(img_dir / names[-1], quality=90)
        sub = ann.select(np.arange(16))
        paths = [str(img_dir / nm) for nm in names]
        from openhoi.data.dataset import read_image_size

        t_hdr, _ = timed(lambda: [read_image_size(q) for q in paths])
        rows.append(("read_image_size (JPEG header only)", f"{t_hdr / len(paths) * 1e6:.0f} us"
                     "/image", "ground truth of the test split"))
        for split in ("train", "test"):
            ds = HOIDetectionDataset(sub, paths, build_transforms(DataConfig(), split == "train"),
                                     box_tolerance=1e9)
            torch.manual_seed(0)
            t_item, _ = timed(lambda ds=ds: [ds[i] for i in range(len(ds))], repeat=2)
            rows.append((f"dataset[i], 640x480 JPEG, {split} transforms",
                         f"{t_item / len(ds) * 1e3:.1f} ms/image", "1 thread"))

        t_syn, _ = timed(lambda: generate_synthetic(tmp / "syn", 200, seed=0, overwrite=True),
                         repeat=1)
        rows.append(("generate_synthetic (200 images)", f"{t_syn:.2f} s",
                     f"{200 / t_syn:.0f} images/s"))

    width = max(len(r[0]) for r in rows)
    print(f"{'step':{width}s}  {'time':>16s}  notes")
    for step, t, note in rows:
        print(f"{step:{width}s}  {t:>16s}  {note}")


if __name__ == "__main__":
    main()
