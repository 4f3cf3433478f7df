"""Open vocabulary for DEFR through the CLI: `recognize --interactions/--objects` (new classes
from the model's text encoder, trained ones unchanged), and ViLD's objects reaching DEFR's
detection path: `detect-instances --objects` -> named detections -> `recognize --detections
--interactions --objects` -> triplets of new interactions with new objects."""

import json

import pytest
import torch

from openhoi import checkpoint as ckpt_io
from openhoi.cli import main
from openhoi.config import load_config
from openhoi.label_space import load_label_space
from openhoi.models.build import build_model_parts
from openhoi.models.defr.build import build_defr
from openhoi.open_vocab import object_vocabulary_entries, open_vocab_label_space

DEFR = ["model.backbone.image_size=32"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("defrov")
    data = root / "data"
    assert main(["make-synthetic", "--semantic", "--out", str(data), "--images", "8",
                 "--seed", "2"]) == 0
    space = load_label_space("synthetic_semantic")
    images = sorted((data / "images" / "test2015").glob("*.jpg"))[:2]

    def save(model, cfg, name):
        path = root / name
        ckpt_io.save_checkpoint(path, ckpt_io.make_checkpoint(model=model, config=cfg,
                                                              label_space=space))
        return path

    cfg = load_config("synthetic_defr", DEFR + ["data.label_space=synthetic_semantic"])
    torch.manual_seed(0)
    defr = save(build_defr(cfg.model, space).model, cfg, "defr.pt")
    rand = load_config("synthetic_defr_rand_lse", DEFR + ["data.label_space=synthetic_semantic"])
    defr_rand = save(build_defr(rand.model, space).model, rand, "defr_rand.pt")
    vild_cfg = load_config("synthetic_semantic_vild")
    torch.manual_seed(0)
    vild = save(build_model_parts(vild_cfg, space, torch.device("cpu")).model, vild_cfg,
                "vild.pt")
    return root, images, space, defr, defr_rand, vild


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_recognize_interactions_scores_the_new_classes(bench, tmp_path, capsys):
    root, images, space, defr, defr_rand, _ = bench
    trained = tmp_path / "trained.jsonl"
    assert main(["recognize", str(images[0]), "--checkpoint", str(defr), "--out", str(trained),
                 "--top-k", str(space.num_interactions), "--device", "cpu"]) == 0
    out = tmp_path / "open.jsonl"
    assert main(["recognize", str(images[0]), "--checkpoint", str(defr), "--out", str(out),
                 "--interactions", "feed giraffe, hold cup", "--objects", "zebra",
                 "--top-k", "100", "--device", "cpu"]) == 0
    (rec,) = _lines(out)
    got = {(x["verb"], x["object"]): x["score"] for x in rec["interactions"]}
    # listed interactions, plus one per trained verb for the new object zebra
    assert set(got) == {("feed", "giraffe"), ("hold", "cup")} | {(v, "zebra")
                                                                 for v in space.verbs}
    # a trained class keeps its trained row: the same score as without --interactions
    (base,) = _lines(trained)
    hold_cup = next(x for x in base["interactions"] if (x["verb"], x["object"]) == ("hold", "cup"))
    assert got[("hold", "cup")] == pytest.approx(hold_cup["score"], abs=1e-6)
    # random rows have no text to extend: a clear error, exit 2
    assert main(["recognize", str(images[0]), "--checkpoint", str(defr_rand),
                 "--interactions", "feed giraffe", "--device", "cpu"]) == 2
    assert "init=random" in capsys.readouterr().err
    assert main(["recognize", str(images[0]), "--checkpoint", str(defr),
                 "--interactions", "", "--device", "cpu"]) == 2


def test_vild_objects_feed_defr_triplets_of_new_interactions(bench, tmp_path, capsys):
    root, images, space, defr, _, vild = bench
    dets = tmp_path / "dets.json"
    assert main(["detect-instances", *map(str, images), "--checkpoint", str(vild),
                 "--objects", "giraffe,cup", "--out", str(dets), "--device", "cpu"]) == 0
    data = json.loads(dets.read_text())
    assert data["objects"] == ["person", "giraffe", "cup"]  # the retargeted head's classes
    labels = {n for e in data["images"].values() for n in e["labels"]}
    assert labels <= {0, 1, 2} and 1 in labels  # the new object is detected
    out = tmp_path / "triplets.jsonl"
    # the recognizer's classes in another order than the file's: labels map by name
    entries, objects = ["hold cup", "feed giraffe"], ["cup", "giraffe"]
    assert main(["recognize", *map(str, images), "--checkpoint", str(defr), "--detections",
                 str(dets), "--interactions", ",".join(entries), "--objects", ",".join(objects),
                 "--box-score-thresh", "0", "--out", str(out), "--device", "cpu"]) == 0
    header, *records = _lines(out)
    new = open_vocab_label_space(object_vocabulary_entries(objects, space, entries), space)
    assert header["label_space"] == new.fingerprint
    names = [(new.verbs[v], new.objects[o]) for v, o in new.interactions]
    assert names == [("hold", "cup"), ("feed", "giraffe")]
    seen = set()
    for r in records:
        file_names = {}  # box -> the file's class names of that box
        for box, label in zip(*(data["images"][r["image_id"]][k] for k in ("boxes", "labels"))):
            file_names.setdefault(tuple(box), set()).add(data["objects"][label])
        for box, label in zip(r["boxes_xyxy"], r["labels"]):
            assert new.objects[label] in file_names[tuple(round(v, 2) for v in box)]
        for (h, o), i in zip(r["pair_idx"], r["interactions"]):
            assert r["labels"][h] == new.human_label
            assert new.objects[r["labels"][o]] == names[i][1]  # the detection's object class
            seen.add(names[i])
    assert ("feed", "giraffe") in seen  # a new interaction with a new object
    # --objects is for openhoi detectors; a DETR file is closed-vocabulary
    assert main(["detect-instances", str(images[0]), "--detr", str(dets), "--objects", "x",
                 "--out", str(tmp_path / "d.json")]) == 2
    assert "--objects" in capsys.readouterr().err
