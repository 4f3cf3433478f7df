"""Build ``src/openhoi/label_spaces/{hicodet,vcoco}.json`` from the lists in label_lists.py.

    python tools/make_label_spaces.py          # rewrite both files; review and commit the diff
    python tools/make_label_spaces.py --check  # exit 1 if the shipped files differ from a rebuild

Prompt phrases follow GEN-VLKT's / HOICLIP's text labels (datasets/hico_text_label.py,
datasets/vcoco_text_label.py) so that ``LabelSpace.prompts("a photo of {}")`` reproduces them
verbatim; tools/check_label_spaces.py compares all of them against those files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import label_lists as L

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "openhoi" / "data" / "label_spaces"

GEN_VLKT = "github.com/YueLiao/gen-vlkt"
HOICLIP = "github.com/Artanic30/HOICLIP"
HICODET = "github.com/fredzzhang/hicodet"
VCOCO = "github.com/s-gupta/v-coco"


# ---- shared -------------------------------------------------------------------------------------
def coco_objects() -> list[dict]:
    rows = [line.split(" ", 1) for line in L.COCO_OBJECTS.strip().splitlines()]
    return [{"name": name, "id": int(cid)} for cid, name in rows]


def article(obj: str) -> str:
    return "an" if obj in L.AN_OBJECTS else "a"


# ---- HICO-DET -----------------------------------------------------------------------------------
def hico_phrase(verb: str, ing: str, obj: str) -> str:
    if verb == "no_interaction":
        return f"a person and {article(obj)} {obj}"
    return f"a person {ing} {article(obj)} {obj}"


def build_hicodet() -> dict:
    objects = coco_objects()
    verb_rows = [line.split("|") for line in L.HICO_VERBS.strip().splitlines()]
    verbs = [{"name": v, "id": i + 1, "ing": ing} for i, (v, ing) in enumerate(verb_rows)]
    ing = dict(verb_rows)
    interactions = []
    for line in L.HICO_INTERACTIONS.strip().replace("\n    ", " ").splitlines():
        obj, verb_list = line.split(": ")
        for verb in verb_list.split():
            interactions.append(
                {"verb": verb, "object": obj, "phrase": hico_phrase(verb, ing[verb], obj)})
    verb_names = [v["name"] for v in verbs]
    obj_names = [o["name"] for o in objects]
    uo_objects = [obj_names.index(o) for o in L.HICO_UO_OBJECTS]
    uv_verbs = [verb_names.index(v) for v in L.HICO_UV_VERBS]
    # UO / UV hold out every interaction of the unseen objects / verbs: check the typed lists.
    assert list(L.HICO_UO) == [i for i, x in enumerate(interactions)
                               if obj_names.index(x["object"]) in uo_objects]
    assert list(L.HICO_UV) == [i for i, x in enumerate(interactions)
                               if verb_names.index(x["verb"]) in uv_verbs]
    zero_shot = {
        "rf_uc": {"unseen_interactions": list(L.HICO_RF_UC)},
        "nf_uc": {"unseen_interactions": list(L.HICO_NF_UC)},
        "uo": {"unseen_objects": uo_objects, "unseen_interactions": list(L.HICO_UO)},
        "uv": {"unseen_verbs": uv_verbs, "unseen_interactions": list(L.HICO_UV)},
    }
    zero_shot.update({k: {"unseen_interactions": list(v)} for k, v in L.HICO_UC.items()})
    return {
        "name": "hicodet",
        "description": (
            "HICO-DET (Chao et al., WACV 2018): 80 COCO objects, 117 verbs, 600 interactions in "
            "the official order, the rare split and the zero-shot splits of GEN-VLKT / HOICLIP. "
            "Built by tools/make_label_spaces.py from tools/label_lists.py; schema in README.md."),
        "sources": {
            "objects": f"{GEN_VLKT} datasets/hico.py _valid_obj_ids (COCO category ids) with the "
                       "names of datasets/hico_text_label.py hico_obj_text_label",
            "verbs": f"official hico_list_vb order ({HICODET} instances_test2015.json 'verbs'); "
                     "id = hoi_annotation category_id of GEN-VLKT's trainval_hico.json (1-based, "
                     "_valid_verb_ids = 1..117); ing = the verb form of GEN-VLKT's prompts",
            "interactions": f"official hico_list_hoi order ({HICODET} 'correspondence'; equal to "
                            f"{GEN_VLKT} hico_text_label key order and {HOICLIP} "
                            "datasets/static_hico.py HOI_IDX_TO_ACT_IDX/OBJ_IDX); "
                            "hoi_category_id = index + 1",
            "phrase": f"{GEN_VLKT} datasets/hico_text_label.py hico_text_label (identical in "
                      f"{HOICLIP}), without the leading 'a photo of '",
            "rare": f"{HICODET} instances_test2015.json 'rare' (fewer than 10 training "
                    f"instances); equal to {HOICLIP} datasets/static_hico.py RARE_HOI_IDX",
            "zero_shot": f"{GEN_VLKT} / {HOICLIP} datasets/hico_text_label.py hico_unseen_index "
                         "(0-based): rf_uc = rare_first, nf_uc = non_rare_first, uo = "
                         "unseen_object, uv = unseen_verb, uc0..uc4 = HOICLIP's uc0..uc4",
            "official_object_order": f"{HICODET} instances_test2015.json 'objects' (hico_list_obj)",
            "low_data": "openhoi's seeded equivalent of HOICLIP's fractional-data setting "
                        "(openhoi.data.splits.low_data_subset); HOICLIP's own image lists "
                        "(trainval_hico_{5,15,25,50}%.json) are only on Google Drive",
        },
        "objects": objects,
        "human_object": "person",
        "verbs": verbs,
        "interactions": interactions,
        "rare": {"threshold": L.HICO_RARE_THRESHOLD, "interactions": list(L.HICO_RARE)},
        "zero_shot": zero_shot,
        "verb_roles": [],
        "official_object_order": list(L.HICO_OBJECT_ORDER),
        "low_data": {
            "unit": "image",
            "fractions": [0.01, 0.05, 0.15, 0.25, 0.5],
            "seed": 0,
            "nested": True,
            "procedure": "openhoi.data.splits.low_data_subset",
        },
    }


# ---- V-COCO -------------------------------------------------------------------------------------
def vcoco_actions() -> list[dict]:
    rows = [line.split() for line in L.VCOCO_ACTIONS.strip().splitlines()]
    return [{"name": r[0], "roles": r[1:]} for r in rows]


def vcoco_verb_classes(actions: list[dict]) -> list[dict]:
    """GEN-VLKT's tools/convert_vcoco_annotations.py: one class per (action, non-agent role)."""
    out = []
    for a in actions:
        if a["roles"] == ["agent"]:
            out.append({"verb": a["name"], "action": a["name"], "role": "agent"})
        else:
            out += [{"verb": f"{a['name']}_{r}", "action": a["name"], "role": r}
                    for r in a["roles"][1:]]
    return out


def vcoco_phrase(ing: str, obj: str | None) -> str:
    if obj is not None:
        return f"a person {ing} {article(obj)} {obj}"
    # GEN-VLKT writes "something" only after a preposition: "cutting with something", "holding".
    return f"a person {ing} something" if ing.split()[-1] in ("with", "at") else f"a person {ing}"


def build_vcoco() -> dict:
    actions = vcoco_actions()
    classes = vcoco_verb_classes(actions)
    verbs = [{"name": c["verb"], "id": i, "ing": L.VCOCO_VERB_ING[c["verb"]]}
             for i, c in enumerate(classes)]
    interactions = []
    for item in L.VCOCO_INTERACTIONS.replace("\n", ",").split(","):
        if not item.strip():
            continue
        verb, obj = item.strip().split("|")
        obj = None if obj == "-" else obj
        interactions.append(
            {"verb": verb, "object": obj, "phrase": vcoco_phrase(L.VCOCO_VERB_ING[verb], obj)})
    return {
        "name": "vcoco",
        "description": (
            "V-COCO (Gupta & Malik, 2015) as GEN-VLKT / HOICLIP train on it: 80 COCO objects, 29 "
            "verb classes (one per V-COCO action and non-agent role), 263 (verb, object) triplet "
            "classes, some without an object. 'vcoco_official' maps the verb classes to the 26 "
            "actions and roles of the official evaluation. Schema in README.md."),
        "sources": {
            "objects": f"{GEN_VLKT} datasets/vcoco.py _valid_obj_ids (COCO ids) and "
                       "datasets/vcoco_text_label.py vcoco_obj_text_label names",
            "verbs": f"{GEN_VLKT} tools/convert_vcoco_annotations.py verb_classes, derived from "
                     f"the action/role order of {VCOCO} data/vcoco/vcoco_trainval.json; id = "
                     "trainval_vcoco.json hoi_annotation category_id (0-based)",
            "interactions": f"{GEN_VLKT} datasets/vcoco_text_label.py vcoco_hoi_text_label key "
                            f"order (identical in {HOICLIP}); object index 80 there = null here",
            "phrase": "the same vcoco_hoi_text_label values, without the leading 'a photo of '",
            "vcoco_official": f"{VCOCO} data/vcoco/vcoco_{{train,val}}.json action_name/role_name "
                              "and vsrl_eval.py",
        },
        "objects": coco_objects(),
        "human_object": "person",
        "verbs": verbs,
        "interactions": interactions,
        "verb_roles": [["agent"] if c["role"] == "agent" else ["agent", c["role"]]
                       for c in classes],
        "vcoco_official": {"actions": actions, "verb_action_role": classes},
    }


# ---- output -------------------------------------------------------------------------------------
def dumps(value, indent: int = 0) -> str:
    """JSON with short records on one line and wrapped integer lists, so diffs stay readable."""
    pad, inner = " " * indent, " " * (indent + 1)
    flat = json.dumps(value)
    if not isinstance(value, (dict, list)) or len(flat) + indent <= 110:
        return flat
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if all(isinstance(v, int) for v in value):
        lines, line = [], ""
        for tok in ", ".join(map(str, value)).split(" "):
            if line and len(line) + len(tok) > 90:
                lines.append(line.rstrip())
                line = ""
            line += tok + " "
        lines.append(line.rstrip())
        return "[\n" + "\n".join(inner + x for x in lines) + f"\n{pad}]"
    return "[\n" + ",\n".join(inner + dumps(v, indent + 1) for v in value) + f"\n{pad}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    stale = []
    for name, build in (("hicodet", build_hicodet), ("vcoco", build_vcoco)):
        text = dumps(build()) + "\n"
        path = OUT_DIR / f"{name}.json"
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print("out of date (run tools/make_label_spaces.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
