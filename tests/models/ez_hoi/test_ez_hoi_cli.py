"""The tiny EZ-HOI recipe trains on the synthetic zero-shot split through ``openhoi train``:
with its random detector as shipped, and from a detections file (here: the ground-truth boxes
written in the documented layout), evaluated with Unseen / Seen / Full mAP."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from openhoi.cli import main
from openhoi.data.synthetic import generate_synthetic
from openhoi.label_space import load_label_space


def _gt_detections(root: Path, out: Path) -> Path:
    space = load_label_space("synthetic")
    images = {}
    for split, folder in (("trainval_hico", "train2015"), ("test_hico", "test2015")):
        for rec in json.loads((root / "annotations" / f"{split}.json").read_text()):
            with Image.open(root / "images" / folder / rec["file_name"]) as im:
                w, h = im.size
            anns = rec["annotations"]
            images[rec["file_name"]] = {
                "size": [h, w], "boxes": [a["bbox"] for a in anns],
                "scores": [0.9] * len(anns),
                "labels": [space.object_index_of_id[a["category_id"]] for a in anns]}
    out.write_text(json.dumps({"format": "openhoi-detections", "version": 1,
                               "boxes": "xyxy_abs", "images": images}))
    return out


def test_tiny_recipe_trains_through_the_cli(tmp_path):
    data = tmp_path / "data"
    generate_synthetic(data, 12, seed=0)
    run = tmp_path / "run"
    base = ["train", "--config", "synthetic_tiny_ez_hoi", "--set", f"data.root={data}",
            "--device", "cpu", "--no-progress", "--set", "train.epochs=1"]
    assert main([*base, "--output", str(run)]) == 0
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert {"mAP", "mAP_unseen", "mAP_seen"} <= set(metrics)

    dets = _gt_detections(data, tmp_path / "dets.json")
    run2 = tmp_path / "run2"
    assert main([*base, "--output", str(run2), "--set", "model.instances.source=file",
                 "--set", f"model.instances.detections_file={dets}",
                 "--set", "data.flip_prob=0.0"]) == 0
    metrics = json.loads((run2 / "test_metrics.json").read_text())
    assert metrics["num_detections"] > 0 and metrics["mAP"] > 0
