import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from openhoi.errors import DataError
from openhoi.label_space import (
    LABEL_SPACE_DIR,
    available_label_spaces,
    load_label_space,
)


@pytest.mark.parametrize("name", available_label_spaces())
def test_every_shipped_label_space_loads_consistently(name):
    space = load_label_space(name)
    assert space.objects[space.human_label] == "person"
    # every interaction sits at its (verb, object) cell of the table and nowhere else
    table, objectless = space.interaction_table, space.objectless_table
    assert int((table >= 0).sum()) + int((objectless >= 0).sum()) == space.num_interactions
    for i, (v, o) in enumerate(space.interactions):
        assert space.interaction_index(v, o) == i
    assert space.verb_to_interaction.sum().item() == space.num_interactions
    assert len(space.rare_interactions) + len(space.non_rare_interactions) == space.num_interactions
    assert len(space.interaction_phrases) == space.num_interactions


def test_pair_interactions_maps_verbs_and_objects():
    space = load_label_space("synthetic")
    hold, kick = space.verbs.index("hold"), space.verbs.index("kick")
    ball, cup = space.objects.index("sports ball"), space.objects.index("cup")
    verbs = torch.zeros(3, space.num_verbs)
    verbs[0, [hold, kick]] = 1  # hold + kick a ball
    verbs[1, [hold, kick]] = 1  # hold + "kick" a cup: kick-cup is no class, dropped
    verbs[2, hold] = 1  # no object
    out = space.pair_interactions(verbs, torch.tensor([ball, cup, -1]))
    assert out[0].nonzero().flatten().tolist() == sorted(
        [space.interaction_index(hold, ball), space.interaction_index(kick, ball)])
    assert out[1].nonzero().flatten().tolist() == [space.interaction_index(hold, cup)]
    assert out[2].sum() == 0


def test_fingerprint_changes_with_class_order(tmp_path):
    data = load_label_space("synthetic").to_json_dict()
    a = tmp_path / "a.json"
    a.write_text(json.dumps(data))
    data["interactions"] = data["interactions"][::-1]
    b = tmp_path / "b.json"
    b.write_text(json.dumps(data))
    assert load_label_space(a).fingerprint == load_label_space("synthetic").fingerprint
    assert load_label_space(a).fingerprint != load_label_space(b).fingerprint


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.pop("objects"), "objects"),
        (lambda d: d["interactions"].append({"verb": "fly", "object": "horse"}), "interactions"),
        (lambda d: d["rare"].update(interactions=[999]), "rare"),
        (lambda d: d.update(human_object="robot"), "human_object"),
        (lambda d: d["zero_shot"]["rf_uc"].update(unseen_interactions=[1, 1]), "rf_uc"),
    ],
)
def test_broken_label_space_names_file_and_field(tmp_path, mutate, field):
    data = load_label_space("synthetic").to_json_dict()
    mutate(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError) as info:
        load_label_space(path)
    assert str(path) in str(info.value) and field in str(info.value)


@pytest.mark.parametrize(
    "name, mutate, field",
    [
        ("hicodet", lambda d: d["low_data"].update(fractions=[0.5, 2.0]), "low_data"),
        ("hicodet", lambda d: d["official_object_order"].pop(), "official_object_order"),
        ("hicodet", lambda d: d["zero_shot"]["uv"].update(unseen_verbs=[117]), "uv"),
        ("vcoco", lambda d: d["vcoco_official"]["verb_action_role"][0].update(role="instr"),
         "vcoco_official"),
        ("vcoco", lambda d: d["interactions"].append(
            {"verb": "stand", "object": None, "phrase": "x"}), "interactions"),
    ],
)
def test_broken_shipped_fields_name_file_and_field(tmp_path, name, mutate, field):
    data = json.loads((LABEL_SPACE_DIR / f"{name}.json").read_text())
    mutate(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError) as info:
        load_label_space(path)
    assert str(path) in str(info.value) and field in str(info.value)


def test_unknown_name_lists_shipped_spaces():
    with pytest.raises(DataError, match="synthetic"):
        load_label_space("nope")


# ---- shipped benchmarks: facts stated here independently of the JSON ----------------------------
# Sizes: HICO-DET (Chao et al., WACV 2018) and GEN-VLKT / HOICLIP's zero-shot and V-COCO settings.
HICO = {"objects": 80, "verbs": 117, "interactions": 600, "rare": 138, "non_rare": 462}
VCOCO = {"objects": 80, "verbs": 29, "interactions": 263, "actions": 26}


@pytest.fixture(scope="module")
def hico():
    return load_label_space("hicodet")


@pytest.fixture(scope="module")
def vcoco():
    return load_label_space("vcoco")


def test_hicodet_sizes(hico):
    assert (hico.num_objects, hico.num_verbs, hico.num_interactions) == (
        HICO["objects"], HICO["verbs"], HICO["interactions"])
    assert len(hico.rare_interactions) == HICO["rare"]
    assert len(hico.non_rare_interactions) == HICO["non_rare"]
    assert hico.rare_threshold == 10
    assert hico.objectless_interactions == ()
    assert int(hico.correspondence.sum()) == HICO["interactions"]


@pytest.mark.parametrize("index, verb, obj", [
    # official hico_list_hoi (1-based id = index + 1)
    (0, "board", "airplane"), (9, "no_interaction", "airplane"), (10, "carry", "bicycle"),
    (89, "sit_on", "chair"), (139, "ride", "horse"), (297, "hold", "cup"),
    (370, "fly", "kite"), (495, "kick", "sports ball"), (558, "brush_with", "toothbrush"),
    (599, "no_interaction", "zebra"),
])
def test_hicodet_official_interaction_order(hico, index, verb, obj):
    v, o = hico.interactions[index]
    assert (hico.verbs[v], hico.objects[o]) == (verb, obj)


@pytest.mark.parametrize("index, name, ann_id", [
    # official hico_list_vb; annotation category_id = index + 1
    (0, "adjust", 1), (36, "hold", 37), (57, "no_interaction", 58), (76, "ride", 77),
    (87, "sit_on", 88), (116, "zip", 117),
])
def test_hicodet_verbs(hico, index, name, ann_id):
    assert hico.verbs[index] == name and hico.verb_ids[index] == ann_id
    assert hico.verb_index_of_id[ann_id] == index


@pytest.mark.parametrize("index, name, coco_id", [
    # COCO categories in id order (GEN-VLKT's _valid_obj_ids)
    (0, "person", 1), (4, "airplane", 5), (11, "stop sign", 13), (24, "backpack", 27),
    (60, "dining table", 67), (62, "tv", 72), (79, "toothbrush", 90),
])
def test_hicodet_objects(hico, index, name, coco_id):
    assert hico.objects[index] == name and hico.object_ids[index] == coco_id
    assert hico.objects[hico.human_label] == "person"


@pytest.mark.parametrize("verb_idx, obj_idx, prompt", [
    # GEN-VLKT datasets/hico_text_label.py, keyed (verb index, COCO-80 object index), verbatim
    (4, 4, "a photo of a person boarding an airplane"),
    (57, 4, "a photo of a person and an airplane"),
    (76, 17, "a photo of a person riding a horse"),
    (57, 17, "a photo of a person and a horse"),
    (38, 2, "a photo of a person hosing a car"),
    (24, 60, "a photo of a person eating at a dining table"),
    (49, 57, "a photo of a person lying on a couch"),
    (8, 25, "a photo of a person carrying a umbrella"),
    (6, 79, "a photo of a person brushing with a toothbrush"),
    (20, 39, "a photo of a person drinking with a bottle"),
    (23, 47, "a photo of a person eating an apple"),
    (57, 22, "a photo of a person and a zebra"),
])
def test_hicodet_prompts_verbatim(hico, verb_idx, obj_idx, prompt):
    i = hico.interaction_index(verb_idx, obj_idx)
    assert i >= 0 and hico.prompts("a photo of {}")[i] == prompt


def test_hicodet_rare_split(hico):
    rare = set(hico.rare_interactions)
    assert rare.isdisjoint(hico.non_rare_interactions)
    assert rare | set(hico.non_rare_interactions) == set(range(hico.num_interactions))
    # from the official list: wash airplane (8) and wash bicycle (22) are rare; board airplane
    # (0), ride horse (139) and hold cup (297) are not
    assert {8, 22} <= rare and not {0, 139, 297} & rare


def test_hicodet_uc_splits(hico):
    rare = set(hico.rare_interactions)
    rf, nf = hico.zero_shot_split("rf_uc"), hico.zero_shot_split("nf_uc")
    assert len(rf.unseen_interactions) == 120 and len(nf.unseen_interactions) == 120
    assert set(rf.unseen_interactions) <= rare  # rare first: all unseen are rare
    assert not set(nf.unseen_interactions) & rare  # non-rare first: none is
    # spot checks from GEN-VLKT's hico_unseen_index (0-based)
    assert {509, 279, 8, 581} <= set(rf.unseen_interactions)
    assert {38, 41, 20, 64} <= set(nf.unseen_interactions)
    assert len(hico.seen_interactions("rf_uc")) == HICO["interactions"] - 120
    for k in range(5):  # HOICLIP's uc0..uc4
        assert len(hico.zero_shot_split(f"uc{k}").unseen_interactions) == 120


def test_hicodet_unseen_object_split(hico):
    uo = hico.zero_shot_split("uo")
    names = {"dog", "elephant", "zebra", "frisbee", "skis", "baseball bat", "skateboard",
             "tennis racket", "pizza", "refrigerator", "clock", "toothbrush"}
    assert {hico.objects[o] for o in uo.unseen_objects} == names
    assert len(uo.unseen_interactions) == 100
    expected = {i for i, (_, o) in enumerate(hico.interactions) if hico.objects[o] in names}
    assert set(uo.unseen_interactions) == expected
    assert not uo.unseen_verbs


def test_hicodet_unseen_verb_split(hico):
    uv = hico.zero_shot_split("uv")
    names = {"block", "dribble", "feed", "herd", "hose", "inspect", "install", "move", "park",
             "ride", "sail", "scratch", "sign", "squeeze", "stab", "stop_at", "swing", "tag",
             "toast", "wear"}
    assert {hico.verbs[v] for v in uv.unseen_verbs} == names
    # GEN-VLKT's comment lists the 20 unseen verbs as 0-based indices
    assert set(uv.unseen_verbs) == {41, 100, 99, 91, 34, 42, 97, 84, 26, 106, 38, 56, 92, 79,
                                    19, 76, 80, 2, 114, 62}
    assert len(uv.unseen_interactions) == 84
    expected = {i for i, (v, _) in enumerate(hico.interactions) if hico.verbs[v] in names}
    assert set(uv.unseen_interactions) == expected


def test_hicodet_extra_fields(hico):
    order = hico.extra["official_object_order"]  # hico_list_obj: alphabetical
    assert sorted(order) == sorted(hico.objects) and order == sorted(order)
    low = hico.extra["low_data"]
    assert low["unit"] == "image" and low["fractions"] == [0.01, 0.05, 0.15, 0.25, 0.5]
    assert isinstance(low["seed"], int)
    assert set(hico.extra["sources"]) >= {"objects", "verbs", "interactions", "rare", "zero_shot"}


def test_vcoco_sizes_and_verbs(vcoco):
    assert (vcoco.num_objects, vcoco.num_verbs, vcoco.num_interactions) == (
        VCOCO["objects"], VCOCO["verbs"], VCOCO["interactions"])
    # GEN-VLKT's verb classes: V-COCO actions, split per non-agent role; ids 0-based
    assert vcoco.verbs[:4] == ("hold_obj", "stand", "sit_instr", "ride_instr")
    assert vcoco.verbs[6:10] == ("hit_instr", "hit_obj", "eat_obj", "eat_instr")
    assert vcoco.verbs[-1] == "snowboard_instr" and vcoco.verb_ids == tuple(range(29))
    assert vcoco.object_ids == load_label_space("hicodet").object_ids
    assert not vcoco.rare_interactions and not vcoco.zero_shot


def test_vcoco_objectless_interactions(vcoco):
    # every verb class has exactly one "no object" triplet (GEN-VLKT object index 80)
    assert len(vcoco.objectless_interactions) == vcoco.num_verbs
    assert sorted(vcoco.objectless_table.tolist()) == sorted(vcoco.objectless_interactions)
    assert int((vcoco.interaction_table >= 0).sum()) == VCOCO["interactions"] - VCOCO["verbs"]
    stand = vcoco.verbs.index("stand")
    assert vcoco.interaction_index(stand, -1) == 13  # 14th key of vcoco_hoi_text_label
    assert (vcoco.interaction_table[stand] < 0).all()
    assert vcoco.object_to_interaction[:, list(vcoco.objectless_interactions)].sum() == 0


@pytest.mark.parametrize("index, prompt", [
    # GEN-VLKT datasets/vcoco_text_label.py vcoco_hoi_text_label, in key order, verbatim
    (0, "a photo of a person holding a cup"),
    (1, "a photo of a person cutting with something"),
    (4, "a photo of a person sitting"),
    (7, "a photo of a person smiling"),
    (10, "a photo of a person sitting a bench"),
    (16, "a photo of a person holding"),
    (20, "a photo of a person working on computer a laptop"),
    (52, "a photo of a person talking on phone a cell phone"),
])
def test_vcoco_prompts_verbatim(vcoco, index, prompt):
    assert vcoco.prompts("a photo of {}")[index] == prompt


def test_vcoco_official_actions_and_roles(vcoco):
    official = vcoco.extra["vcoco_official"]
    actions = {a["name"]: a["roles"] for a in official["actions"]}
    assert len(official["actions"]) == VCOCO["actions"]
    assert [a["name"] for a in official["actions"]][:6] == [
        "hold", "stand", "sit", "ride", "walk", "look"]
    assert actions["hit"] == ["agent", "instr", "obj"]
    assert actions["eat"] == ["agent", "obj", "instr"]
    assert actions["run"] == ["agent"]
    mapping = official["verb_action_role"]
    assert [m["verb"] for m in mapping] == list(vcoco.verbs)
    # each (action, non-agent role) is one verb class; agent-only actions are one class each
    pairs = {(m["action"], m["role"]) for m in mapping}
    expected = {(a, r) for a, roles in actions.items() for r in roles[1:]}
    expected |= {(a, "agent") for a, roles in actions.items() if roles == ["agent"]}
    assert pairs == expected and len(mapping) == len(pairs)
    for v, m in enumerate(mapping):
        assert vcoco.verb_roles[v] == (("agent",) if m["role"] == "agent" else ("agent", m["role"]))


def test_pair_interactions_maps_missing_objects_to_objectless_classes(vcoco, hico):
    hold, stand = vcoco.verbs.index("hold_obj"), vcoco.verbs.index("stand")
    cup = vcoco.objects.index("cup")
    verbs = torch.zeros(3, vcoco.num_verbs)
    verbs[0, hold] = 1  # holding a cup
    verbs[1, [hold, stand]] = 1  # standing, holding nothing annotated
    verbs[2, stand] = 1  # object label num_objects: GEN-VLKT's "missing" class
    out = vcoco.pair_interactions(verbs, torch.tensor([cup, -1, vcoco.num_objects]))
    assert out[0].nonzero().flatten().tolist() == [0]  # "holding a cup" is interaction 0
    assert out[1].nonzero().flatten().tolist() == sorted(
        [vcoco.interaction_index(hold, -1), vcoco.interaction_index(stand, -1)])
    assert out[2].nonzero().flatten().tolist() == [13]
    # HICO-DET has no objectless classes: no object -> no interaction
    assert hico.pair_interactions(torch.ones(1, hico.num_verbs), torch.tensor([-1])).sum() == 0


def test_objectless_interactions_round_trip(tmp_path, vcoco):
    path = tmp_path / "v.json"
    path.write_text(json.dumps(vcoco.to_json_dict()))
    again = load_label_space(path)
    assert again == vcoco and again.fingerprint == vcoco.fingerprint
    assert again.objectless_interactions == vcoco.objectless_interactions


def test_unseen_and_rare_lists_never_overlap_their_complements(hico):
    for name, split in hico.zero_shot.items():
        unseen = set(split.unseen_interactions)
        seen = set(hico.seen_interactions(name))
        assert not unseen & seen and len(unseen | seen) == hico.num_interactions, name


# ---- against the real annotation files ----------------------------------------------------------
def _hico_annotations() -> Path:
    root = os.environ.get("OPENHOI_DATA")
    if not root:
        pytest.skip("OPENHOI_DATA is not set")
    for ann in (Path(root) / "annotations", Path(root) / "hico_20160224_det" / "annotations"):
        if (ann / "trainval_hico.json").is_file():
            return ann
    pytest.skip(f"no annotations/trainval_hico.json under OPENHOI_DATA={root}")


@pytest.mark.data
def test_hicodet_matches_gen_vlkt_annotation_files(hico):
    ann = _hico_annotations()
    corre = torch.from_numpy(np.load(ann / "corre_hico.npy")).bool()  # [V, O]
    assert torch.equal(corre, hico.correspondence)
    counts = [0] * hico.num_interactions
    for img in json.loads((ann / "trainval_hico.json").read_text()):
        for pair in img["hoi_annotation"]:
            obj_id = img["annotations"][pair["object_id"]]["category_id"]
            i = hico.interaction_index(hico.verb_index_of_id[pair["category_id"]],
                                       hico.object_index_of_id[obj_id])
            assert i == pair["hoi_category_id"] - 1  # official order, 1-based in the file
            counts[i] += 1
    # QPIC / GEN-VLKT set_rare_hois: rare = fewer than 10 training instances
    rare = {i for i, n in enumerate(counts) if n < hico.rare_threshold}
    assert rare == set(hico.rare_interactions)


def test_shipped_json_is_what_the_generator_builds():
    """hicodet/vcoco.json are built from tools/label_lists.py; a hand edit must go there too."""
    tool = Path(__file__).parents[2] / "tools" / "make_label_spaces.py"
    if not tool.is_file():
        pytest.skip("tools/ is not part of an installed package")
    run = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
