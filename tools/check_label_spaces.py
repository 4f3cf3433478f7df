"""Compare the shipped hicodet/vcoco label spaces with the reference repositories, field by field.

    python tools/check_label_spaces.py --gen-vlkt PATH --hoiclip PATH --hicodet PATH --vcoco PATH

Each PATH is a checkout of github.com/YueLiao/gen-vlkt, Artanic30/HOICLIP, fredzzhang/hicodet,
s-gupta/v-coco. The reference files are read as data (``ast.literal_eval`` of their literal
tables, ``json`` of their annotation files); nothing of theirs is imported or executed. Prints one
line per check and exits 1 if any fails.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from openhoi.label_space import load_label_space  # noqa: E402

FAILED: list[str] = []


def check(name: str, ok: bool) -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name}")
    if not ok:
        FAILED.append(name)


def literals(path: Path) -> dict:
    """Module-level ``NAME = <literal>`` assignments of a Python file."""
    out = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


def attribute_literal(path: Path, attr: str):
    """The literal assigned to ``self.<attr>`` anywhere in a Python file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign):
            t = node.targets[0]
            if isinstance(t, ast.Attribute) and t.attr == attr:
                return ast.literal_eval(node.value)
    raise KeyError(attr)


def strip_article(text: str) -> str:
    return text.removeprefix("a ").removeprefix("an ")


def check_hicodet(gen: Path, hoiclip: Path, hicodet: Path) -> None:
    space = load_label_space("hicodet")
    g = literals(gen / "datasets/hico_text_label.py")
    h = literals(hoiclip / "datasets/hico_text_label.py")
    static = literals(hoiclip / "datasets/static_hico.py")
    fz = json.loads((hicodet / "instances_test2015.json").read_text())
    text = g["hico_text_label"]
    check("hico prompts == GEN-VLKT hico_text_label (all, in order)",
          space.prompts("a photo of {}") == list(text.values()))
    check("hico prompts == HOICLIP hico_text_label", list(h["hico_text_label"].items())
          == list(text.items()))
    check("hico (verb, object) pairs == GEN-VLKT hico_text_label keys",
          list(space.interactions) == list(text.keys()))
    obj_names = [strip_article(t.removeprefix("a photo of ")) for _, t in g["hico_obj_text_label"]]
    check("hico object names == hico_obj_text_label", list(space.objects) == obj_names[:80])
    ids = attribute_literal(gen / "datasets/hico.py", "_valid_obj_ids")
    check("hico object ids == GEN-VLKT _valid_obj_ids", list(space.object_ids) == list(ids))
    check("hico verbs == fredzzhang/hicodet verbs", list(space.verbs) == fz["verbs"])
    check("hico verb ids == 1..V (GEN-VLKT _valid_verb_ids)",
          list(space.verb_ids) == list(range(1, len(fz["verbs"]) + 1)))
    official = [o.replace("_", " ") for o in fz["objects"]]
    check("hico official_object_order == fredzzhang/hicodet objects",
          space.extra["official_object_order"] == official)
    corr = [(space.verbs.index(fz["verbs"][v]), space.objects.index(official[o]))
            for _, o, v in sorted(fz["correspondence"])]
    check("hico interaction order == fredzzhang/hicodet correspondence",
          corr == list(space.interactions))
    check("hico interaction order == HOICLIP static_hico HOI_IDX_TO_ACT/OBJ_IDX",
          list(space.interactions) == list(zip(static["HOI_IDX_TO_ACT_IDX"],
                                               static["HOI_IDX_TO_OBJ_IDX"])))
    check("hico rare == fredzzhang/hicodet rare", sorted(space.rare_interactions) == fz["rare"])
    check("hico rare == HOICLIP RARE_HOI_IDX",
          sorted(space.rare_interactions) == sorted(static["RARE_HOI_IDX"]))
    names = {"rf_uc": "rare_first", "nf_uc": "non_rare_first", "uo": "unseen_object",
             "uv": "unseen_verb", **{f"uc{k}": f"uc{k}" for k in range(5)}}
    for ours, theirs in names.items():
        unseen = sorted(space.zero_shot_split(ours).unseen_interactions)
        check(f"zero-shot {ours} == hico_unseen_index[{theirs!r}] (HOICLIP)",
              unseen == sorted(h["hico_unseen_index"][theirs]))
        if theirs in g["hico_unseen_index"]:
            check(f"zero-shot {ours} == hico_unseen_index[{theirs!r}] (GEN-VLKT)",
                  unseen == sorted(g["hico_unseen_index"][theirs]))


def check_vcoco(gen: Path, hoiclip: Path, vcoco: Path) -> None:
    space = load_label_space("vcoco")
    g = literals(gen / "datasets/vcoco_text_label.py")
    h = literals(hoiclip / "datasets/vcoco_text_label.py")
    text = g["vcoco_hoi_text_label"]
    check("vcoco prompts == GEN-VLKT vcoco_hoi_text_label (all, in order)",
          space.prompts("a photo of {}") == list(text.values()))
    check("vcoco text labels identical in HOICLIP", h["vcoco_hoi_text_label"] == text)
    missing = len(space.objects)  # GEN-VLKT's object index of "no object"
    keys = [(v, missing if o < 0 else o) for v, o in space.interactions]
    check("vcoco (verb, object) pairs == vcoco_hoi_text_label keys", keys == list(text.keys()))
    names = [strip_article(t.removeprefix("a photo of a person and "))
             for _, t in g["vcoco_obj_text_label"]]
    check("vcoco object names == vcoco_obj_text_label", list(space.objects) == names[:missing])
    ids = attribute_literal(gen / "datasets/vcoco.py", "_valid_obj_ids")
    check("vcoco object ids == GEN-VLKT _valid_obj_ids", list(space.object_ids) == list(ids))
    for split in ("train", "val"):
        actions = json.loads((vcoco / f"data/vcoco/vcoco_{split}.json").read_text())
        official = [{"name": a["action_name"], "roles": a["role_name"]} for a in actions]
        check(f"vcoco_official.actions == v-coco vcoco_{split}.json",
              space.extra["vcoco_official"]["actions"] == official)
    # GEN-VLKT tools/convert_vcoco_annotations.py: verb_classes from the action/role lists.
    verb_classes = []
    for a in actions:
        if len(a["role_name"]) == 1:
            verb_classes.append(a["action_name"])
        else:
            verb_classes += [f"{a['action_name']}_{r}" for r in a["role_name"][1:]]
    check("vcoco verbs == GEN-VLKT verb_classes", list(space.verbs) == verb_classes)
    check("vcoco verb ids == category_id 0..V-1",
          list(space.verb_ids) == list(range(len(verb_classes))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("gen-vlkt", "hoiclip", "hicodet", "vcoco"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    args = parser.parse_args()
    check_hicodet(args.gen_vlkt, args.hoiclip, args.hicodet)
    check_vcoco(args.gen_vlkt, args.hoiclip, args.vcoco)
    print(f"{len(FAILED)} check(s) failed" if FAILED else "all checks passed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
