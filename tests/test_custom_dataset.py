"""Your own dataset end to end through the CLI, with classes in neither HICO-DET nor V-COCO.

The test writes interchange-CSV annotations over drawn pictures (people pouring from teapots,
tuning violins, paddling kayaks, waving), then runs the documented path: `label-space build`
-> `convert-annotations` -> `data-report` -> `verb-repr` -> `train` -> `evaluate` ->
`predict --draw`, and
checks that CLIP was prompted with the custom names.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from openhoi.cli import main
from openhoi.data.synthetic import make_pair
from openhoi.data.synthetic_scene import SKIN, background, human, random_color
from openhoi.label_space import load_label_space
from openhoi.models.clip.clip_knowledge import ClipKnowledge

# custom (verb, object) -> the synthetic pose that draws it
GEOMETRY = {("pour", "teapot"): ("drink_with", "cup"), ("hold", "teapot"): ("hold", "cup"),
            ("tune", "violin"): ("hold", "kite"), ("paddle", "kayak"): ("sit_on", "chair")}
TRAIN = ["pour"] * 12 + ["paddle"] * 11 + ["tune"] * 5 + ["hold"] * 4 + ["wave"] * 4
TEST = ["pour", "paddle", "tune", "hold", "wave", "pour", "paddle", "tune"]
OBJECT_OF = {"pour": "teapot", "hold": "teapot", "tune": "violin", "paddle": "kayak",
             "wave": None}
HEADER = ["image", "verb", "object", "human_x1", "human_y1", "human_x2", "human_y2",
          "object_x1", "object_y1", "object_x2", "object_y2"]
SIZE = (96, 128)  # height, width


def _box(ent, width: int, height: int) -> list[int]:
    b = ent.box()
    x1, y1 = np.floor(b[:2]).astype(int)
    x2, y2 = np.ceil(b[2:]).astype(int)
    return [max(int(x1), 0), max(int(y1), 0), min(int(x2), width), min(int(y2), height)]


def _scene(rng: np.random.Generator, verbs: list[str], path: Path) -> list[list]:
    """Draw one picture with a pair per verb, side by side; its CSV rows."""
    height, width = SIZE
    pixels, _ = background(rng, height, width)
    image = Image.fromarray(pixels)
    canvas = ImageDraw.Draw(image)
    rows = []
    col = width / len(verbs)
    for k, verb in enumerate(verbs):
        obj = OBJECT_OF[verb]
        hp = 0.55 * height
        if obj is None:
            person = human(hp, 1, "raise", random_color(rng), SKIN[k])
            ents = [person]
        else:
            person, thing, _ = make_pair(rng, *GEOMETRY[(verb, obj)], hp)
            ents = [person, thing]
        ext = np.array([e.extent() for e in ents])
        lo, hi = ext[:, :2].min(0), ext[:, 2:].max(0)
        dx = k * col + (col - (hi[0] - lo[0])) / 2 - lo[0]
        dy = height - 3 - hi[1]
        for e in ents:
            e.shift(dx, dy)
            e.draw(canvas)
        h_box = _box(person, width, height)
        o_box = _box(ents[1], width, height) if obj else [""] * 4
        rows.append([path.name, verb, obj or "", *h_box, *o_box])
        if verb == "pour":  # the pouring hand holds the teapot: a second verb on the pair
            rows.append([path.name, "hold", obj, *h_box, *o_box])
    image.save(path, quality=92)
    return rows


def _write_split(rng: np.random.Generator, verbs: list[str], folder: Path, csv_path: Path,
                 prefix: str) -> None:
    rows = []
    for k in range(0, len(verbs), 2):
        rows += _scene(rng, verbs[k:k + 2], folder / f"{prefix}_{k // 2:03d}.jpg")
    empty = folder / f"{prefix}_empty.jpg"  # an image without any HOI
    Image.fromarray(background(rng, *SIZE)[0]).save(empty)
    rows.append([empty.name] + [""] * 10)
    with csv_path.open("w", newline="") as f:
        csv.writer(f).writerows([HEADER, *rows])


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_own_dataset_build_convert_train_evaluate_predict(tmp_path, capsys, monkeypatch,
                                                          one_thread):
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    photos.mkdir()
    _write_split(rng, TRAIN, photos, tmp_path / "train.csv", "train")
    _write_split(rng, TEST, photos, tmp_path / "test.csv", "test")
    (tmp_path / "objects.txt").write_text("person\nteapot\nviolin\nkayak\n")
    (tmp_path / "verbs.txt").write_text("pour\ntune\npaddle\nhold\nwave\n")
    root = tmp_path / "kitchen"

    # 1. label space from the class lists and the training counts
    space_file = tmp_path / "label_space.json"
    assert main(["label-space", "build", "--train", str(tmp_path / "train.csv"),
                 "--objects", str(tmp_path / "objects.txt"),
                 "--verbs", str(tmp_path / "verbs.txt"), "--no-object-verbs", "wave",
                 "--zero-shot", "uo=violin", "--name", "kitchen", "--out", str(space_file)]) == 0
    space = load_label_space(space_file)
    names = {f"{space.verbs[v]} {space.objects[o] if o >= 0 else '-'}": i
             for i, (v, o) in enumerate(space.interactions)}
    assert set(names) == {"pour teapot", "hold teapot", "tune violin", "paddle kayak", "wave -"}
    counts = space.extra["train_counts"]
    assert counts[names["pour teapot"]] == 12 and counts[names["hold teapot"]] == 16
    assert counts[names["tune violin"]] == 5 and counts[names["wave -"]] == 4
    assert {space.interactions[i] for i in space.rare_interactions} == {
        space.interactions[names["tune violin"]], space.interactions[names["wave -"]]}
    assert space.zero_shot["uo"].unseen_interactions == (names["tune violin"],)

    # 2. CSV -> HICO-DET json layout with the kitchen's own ids
    assert main(["convert-annotations", "--label-space", str(space_file),
                 "--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv"),
                 "--images", str(photos), "--out", str(root)]) == 0
    entries = json.loads((root / "annotations" / "trainval_hico.json").read_text())
    assert len(entries) == len(TRAIN) // 2 + 1 and entries[-1]["hoi_annotation"] == []
    first = entries[0]
    verb_ids = {h["category_id"] for h in first["hoi_annotation"]}
    assert verb_ids == {space.verb_ids[space.verbs.index("pour")],
                        space.verb_ids[space.verbs.index("hold")]}
    assert (root / "images" / "test2015" / "test_empty.jpg").is_file()

    # 3. the data report finds the gaps
    capsys.readouterr()
    assert main(["data-report", str(root), "--json", str(tmp_path / "report.json"),
                 "--plot", str(tmp_path / "report.png")]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["splits"]["train"]["images_without_hoi"] == 1
    assert report["splits"]["train"]["boxes_outside"] == 0
    assert report["duplicates"]["across_splits"] == 0
    assert (tmp_path / "report.png").stat().st_size > 0

    # 4. train a tiny model on it; CLIP is prompted with the custom names
    prompts: list[str] = []
    encode = ClipKnowledge.encode_text

    def spy(self, texts, *args, **kwargs):
        prompts.extend(texts)
        return encode(self, texts, *args, **kwargs)

    monkeypatch.setattr(ClipKnowledge, "encode_text", spy)
    verbs = tmp_path / "verbs.safetensors"  # HOICLIP's E_v from the kitchen's own pairs
    assert main(["verb-repr", "--dataset", "custom", "--data-root", str(root), "--clip-arch",
                 "openhoi-tiny", "--workers", "0", "--no-progress", "--out", str(verbs)]) == 0
    run = tmp_path / "run"
    sets = ["data.dataset=custom", f"data.root={root}", "data.train_scales=[96]",
            "data.test_scale=96", "data.max_size=128", "train.epochs=1", "train.batch_size=4",
            "train.lr_drop=1", "model.interaction.verb_repr_init=file"]
    assert main(["train", "--config", "synthetic_tiny", "--output", str(run), "--no-progress",
                 "--device", "cpu", "--verb-repr", str(verbs),
                 *[a for s in sets for a in ("--set", s)]]) == 0
    assert "a photo of a person pouring a teapot" in prompts
    assert "a photo of a person paddling a kayak" in prompts
    assert "a photo of a person waving" in prompts and "a photo of a violin" in prompts
    assert not any(word in p for p in prompts for word in ("horse", "ball", "kite", "cup"))
    checkpoint = run / "model.safetensors"

    # 5. HICO-DET-style evaluation on the kitchen's classes, rare / non-rare from its counts
    capsys.readouterr()
    assert main(["evaluate", "--dataset", "custom", "--checkpoint", str(checkpoint),
                 "--output", str(tmp_path / "eval.json"), "--device", "cpu",
                 "--plot", str(tmp_path / "ap.png")]) == 0
    printed = capsys.readouterr().out
    assert "HICO-DET-style mAP" in printed and "Rare" in printed
    res = json.loads((tmp_path / "eval.json").read_text())
    assert res["mAP"] is not None and res["mAP_rare"] is not None
    assert res["mAP_non_rare"] is not None
    assert res["num_gt"] == 9  # pairs with an object: pour (+hold) x2, paddle x2, tune x2, hold

    # 6. predict with pictures: triplets are named in the kitchen's classes
    draw = tmp_path / "pictures"
    out = tmp_path / "predictions.jsonl"
    assert main(["predict", str(root / "images" / "test2015"), "--checkpoint", str(checkpoint),
                 "--draw", str(draw), "--out", str(out), "--device", "cpu"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == len(TEST) // 2 + 1
    assert len(list(draw.glob("*.jpg"))) == len(records)
    triplets = [t for r in records for t in r["triplets"]]
    # objectless triplets (wave) name no object
    assert triplets and {t["object"] for t in triplets} <= {"teapot", "violin", "kayak", ""}
    assert {t["verb"] for t in triplets} <= set(space.verbs)
