"""GEN-VLKT's / HOICLIP's V-COCO predictions as JSON (``PostProcessHOI`` records: per query a
list of 29 verb classes and scores) score exactly as the vsrl_eval pickle that
``generate_vcoco_official.py`` makes from the same records."""

import json

import numpy as np
import pytest
from vcoco_cases import VCOCO, random_case, write_files, write_pickle

from openhoi.cli import main

VERBS = list(VCOCO.verbs)  # GEN-VLKT's verb_classes, same order
MISSING = 80  # GEN-VLKT's missing_category_id


def generate(records, image_ids):
    """``generate()`` of GEN-VLKT's generate_vcoco_official.py, as written there."""
    detections = []
    for img_results, img_id in zip(records, image_ids):
        for hoi in img_results["hoi_prediction"]:
            detection = {"image_id": img_id,
                         "person_box": img_results["predictions"][hoi["subject_id"]]["bbox"]}
            if img_results["predictions"][hoi["object_id"]]["category_id"] == MISSING:
                object_box = [np.nan, np.nan, np.nan, np.nan]
            else:
                object_box = img_results["predictions"][hoi["object_id"]]["bbox"]
            cut_agent = hit_agent = eat_agent = 0
            for idx, score in zip(hoi["category_id"], hoi["score"]):
                verb_class = VERBS[idx]
                if len(verb_class.split("_")) == 1:
                    detection[f"{verb_class}_agent"] = score
                elif "cut_" in verb_class:
                    detection[verb_class] = object_box + [score]
                    cut_agent = score if score > cut_agent else cut_agent
                elif "hit_" in verb_class:
                    detection[verb_class] = object_box + [score]
                    hit_agent = score if score > hit_agent else hit_agent
                elif "eat_" in verb_class:
                    detection[verb_class] = object_box + [score]
                    eat_agent = score if score > eat_agent else eat_agent
                else:
                    detection[verb_class] = object_box + [score]
                    detection["{}_agent".format(
                        verb_class.replace("_obj", "").replace("_instr", ""))] = score
            detection["cut_agent"] = cut_agent
            detection["hit_agent"] = hit_agent
            detection["eat_agent"] = eat_agent
            detections.append(detection)
    return detections


def _records(rng, images, anns, queries=6):
    boxes_of = {}
    for _, i, _, (x, y, w, h), *_ in anns:
        boxes_of.setdefault(i, []).append([x, y, x + w - 1, y + h - 1])
    out = []
    for image_id, _, _ in images:
        src = boxes_of.get(image_id, [[0.0, 0.0, 50.0, 50.0]])
        subs = [[v + float(rng.normal(0, 3)) for v in src[int(rng.integers(len(src)))]]
                for _ in range(queries)]
        objs = [[v + float(rng.normal(0, 3)) for v in src[int(rng.integers(len(src)))]]
                for _ in range(queries)]
        cats = [0] * queries + [int(c) for c in rng.choice([3, 31, MISSING], queries)]
        out.append({"image_id": image_id,
                    "predictions": [{"bbox": b, "category_id": c} for b, c in
                                    zip(subs + objs, cats)],
                    "hoi_prediction": [{"subject_id": q, "object_id": queries + q,
                                        "category_id": list(range(len(VERBS))),
                                        "score": [float(s) for s in rng.random(len(VERBS))]}
                                       for q in range(queries)]})
    return out


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("wrap", ["list", "preds", "filename"])
def test_gen_vlkt_vcoco_json_equals_its_pickle(tmp_path, seed, wrap):
    rng = np.random.default_rng(seed)
    images, anns, vsrl, _ = random_case(rng)
    coco, vcoco, ids = write_files(tmp_path, images, anns, vsrl)
    records = _records(rng, images, anns)
    write_pickle(tmp_path / "d.pkl", generate(records, [i for i, _, _ in images]))
    doc = records
    if wrap == "preds":
        doc = {"preds": records}
    elif wrap == "filename":
        doc = [{**{k: v for k, v in r.items() if k != "image_id"},
                "filename": f"COCO_val2014_{r['image_id']:012d}.jpg"} for r in records]
    (tmp_path / "d.json").write_text(json.dumps(doc))
    res = {}
    for name in ("d.pkl", "d.json"):
        out = tmp_path / f"{name}.eval.json"
        assert main(["evaluate", "--dataset", "vcoco", "--coco", str(coco), "--vcoco",
                     str(vcoco), "--ids", str(ids), "--predictions", str(tmp_path / name),
                     "--output", str(out)]) == 0
        res[name] = json.loads(out.read_text())
    for key in ("AP_agent", "AP_role_scenario_1", "AP_role_scenario_2"):
        assert res["d.json"][key] == res["d.pkl"][key], key
    assert res["d.json"]["per_class"] == res["d.pkl"]["per_class"]
    assert res["d.json"]["AP_role_scenario_1"] is not None


def test_vcoco_json_fitting_no_layout_names_the_layouts(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images, anns, vsrl, _ = random_case(rng)
    coco, vcoco, ids = write_files(tmp_path, images, anns, vsrl)
    (tmp_path / "d.json").write_text(json.dumps({"detections": []}))
    assert main(["evaluate", "--dataset", "vcoco", "--coco", str(coco), "--vcoco", str(vcoco),
                 "--ids", str(ids), "--predictions", str(tmp_path / "d.json")]) == 2
    err = capsys.readouterr().err
    assert "fits no accepted layout" in err and "GEN-VLKT's per-query records" in err
