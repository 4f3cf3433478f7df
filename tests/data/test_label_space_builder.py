"""`build_label_space` and its inputs: class lists, training counts, rare and zero-shot splits,
and errors that name the class or the record."""

from __future__ import annotations

import json

import pytest

from openhoi.cli import main
from openhoi.data.annotations import parse_hoi_annotations
from openhoi.data.class_lists import (
    ClassEntry,
    InteractionEntry,
    present_participle,
    read_class_list,
)
from openhoi.data.label_space_builder import (
    AnnotationSource,
    build_label_space,
    zero_shot_split,
)
from openhoi.errors import DataError
from openhoi.label_space import load_label_space

# ids chosen unlike HICO-DET's (person 1, verbs 1..117): the reader must map through them
OBJECTS = [ClassEntry("person", 7), ClassEntry("teapot", 3), ClassEntry("violin", 11)]
VERBS = [ClassEntry("pour", 42), ClassEntry("tune", 5), ClassEntry("wave", 9)]


def _image(name: str, hois: list[tuple[int, int]], obj_id: int = 3) -> dict:
    """One image: a person (id 7), an object box, and (verb id, object_id) entries."""
    return {"file_name": name,
            "annotations": [{"bbox": [0, 0, 10, 20], "category_id": 7},
                            {"bbox": [5, 5, 9, 9], "category_id": obj_id}],
            "hoi_annotation": [{"subject_id": 0, "object_id": o, "category_id": v}
                               for v, o in hois]}


def _source(entries: list[dict]) -> AnnotationSource:
    return AnnotationSource("train.json", entries)


def test_participles_match_hicodet():
    hico = load_label_space("hicodet")
    wrong = [v for v, ing in zip(hico.verbs, hico.verb_ing) if present_participle(v) != ing]
    assert wrong == ["control"]  # "controlling": stress on the last syllable
    assert present_participle("paddle") == "paddling" and present_participle("tie") == "tying"
    assert present_participle("sit_on") == "sitting on"


def test_counts_rare_split_and_own_ids():
    entries = [_image(f"{k}.jpg", [(42, 1)]) for k in range(10)]  # pour teapot x10
    entries += [_image("a.jpg", [(5, 1)], obj_id=11), _image("b.jpg", [(9, -1), (42, 1)])]
    space = build_label_space("kitchen", OBJECTS, VERBS, [_source(entries)],
                              no_object_verbs=["wave"])
    names = [(space.verbs[v], space.objects[o] if o >= 0 else None)
             for v, o in space.interactions]
    # seen pairs by object then verb, objectless last
    assert names == [("pour", "teapot"), ("tune", "violin"), ("wave", None)]
    assert space.extra["train_counts"] == [11, 1, 1]
    assert space.rare_interactions == (1, 2)  # < 10 training instances
    assert space.interaction_phrases == ("a person pouring a teapot", "a person tuning a violin",
                                         "a person waving")
    # the json reader maps the file's ids through this label space, not HICO-DET's
    ann = parse_hoi_annotations(entries[-2:], space, source="x", allow_no_object=True)
    assert ann.labels.tolist() == [0, 2, 0, 1]
    assert ann.hoi_entries[:, 1].tolist() == [1, 2, 0]


def test_listed_interactions_keep_order_and_unseen_ones_are_rare():
    listed = [InteractionEntry("tune", "violin"), InteractionEntry("pour", "teapot", "pouring tea")]
    space = build_label_space("k", OBJECTS, VERBS, [_source([_image("a.jpg", [(42, 1)])])],
                              interactions=listed)
    assert space.interactions == ((1, 2), (0, 1))
    assert space.interaction_phrases[1] == "pouring tea"
    assert space.extra["train_counts"] == [0, 1] and space.rare_interactions == (0, 1)


@pytest.mark.parametrize("entries, interactions, no_object, message", [
    ([_image("a.jpg", [(43, 1)])], None, [], "image 0 (a.jpg): field 'hoi_annotation[0]."
     "category_id': verb category_id not in"),
    ([_image("a.jpg", [(42, 1)], obj_id=99)], None, [], "field 'annotations[1].category_id'"),
    ([_image("a.jpg", [(42, 1)]), _image("b.jpg", [(42, 1), (5, 1)])],
     [InteractionEntry("pour", "teapot")], [],
     "image 1 (b.jpg): hoi_annotation[1]: (tune, teapot) is not an interaction class"),
    ([_image("a.jpg", [(42, -1)])], None, [], "hoi_annotation[0]: verb 'pour' has no object"),
    ([_image("a.jpg", [(9, -1), (42, -1)])], None, ["wave"],
     "hoi_annotation[1]: verb 'pour' has no object"),
    ([_image("a.jpg", [(42, 0)])], None, [], None),  # person-person is fine
], ids=["verb-id", "object-id", "not-listed", "objectless", "objectless-2nd", "ok"])
def test_errors_name_the_record(entries, interactions, no_object, message):
    def build():
        return build_label_space("k", OBJECTS, VERBS, [_source(entries)],
                                 interactions=interactions, no_object_verbs=no_object)

    if message is None:
        build()
        return
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        build()


def test_subject_must_be_human():
    entry = _image("a.jpg", [])
    entry["hoi_annotation"] = [{"subject_id": 1, "object_id": 0, "category_id": 42}]
    with pytest.raises(DataError, match=r"hoi_annotation\[0\]: the subject is a 'teapot' box"):
        build_label_space("k", OBJECTS, VERBS, [_source([entry])])


@pytest.mark.parametrize("objects, message", [
    ([ClassEntry("teapot", 3)], "human class 'person' is not in the object list"),
    ([ClassEntry("person", 1), ClassEntry("teapot", 1)], r"object ids repeat \[1\]"),
    ([ClassEntry("person", 1), ClassEntry("person", 2)], r"object classes repeat \['person'\]"),
])
def test_class_errors(objects, message):
    with pytest.raises(DataError, match=message):
        build_label_space("k", objects, VERBS, [_source([])])


def test_class_list_files(tmp_path):
    txt = tmp_path / "verbs.txt"
    txt.write_text("# my verbs\npour\n\ntune  # with a comment\n")
    assert read_class_list(txt, "verb") == [ClassEntry("pour", 1), ClassEntry("tune", 2)]
    csv_file = tmp_path / "verbs.csv"
    csv_file.write_text("name,id,ing\ncontrol,12,controlling\npour,3,\n")
    assert read_class_list(csv_file, "verb") == [ClassEntry("control", 12, "controlling"),
                                                 ClassEntry("pour", 3)]
    csv_file.write_text("name,id\npour,3\ntune,3\n")
    with pytest.raises(DataError, match=r"verbs\.csv line 3: verb 'tune' has id 3, already used "
                                        "on line 2"):
        read_class_list(csv_file, "verb")
    txt.write_text("pour\npour\n")
    with pytest.raises(DataError, match=r"line 2: verb 'pour' repeats line 1"):
        read_class_list(txt, "verb")


def test_zero_shot_splits_from_counts():
    entries = ([_image(f"p{k}.jpg", [(42, 1)]) for k in range(5)]
               + [_image(f"t{k}.jpg", [(5, 1)], 11) for k in range(2)]
               + [_image("x.jpg", [(42, 1)], 11)])
    space = build_label_space("k", OBJECTS, VERBS, [_source(entries)],
                              zero_shot={"rf_uc": "1", "nf_uc": "1", "uv": "tune"})
    # interactions: pour teapot (5), pour violin (1), tune violin (2)
    assert space.extra["train_counts"] == [5, 1, 2]
    assert space.zero_shot["rf_uc"].unseen_interactions == (1,)
    assert space.zero_shot["nf_uc"].unseen_interactions == (0,)
    assert space.zero_shot["uv"].unseen_verbs == (1,)
    assert space.zero_shot["uv"].unseen_interactions == (2,)
    with pytest.raises(DataError, match="uo: the human class"):
        zero_shot_split("uo", "person", space, [5, 1, 2])
    with pytest.raises(DataError, match="choose 1 to 2"):
        zero_shot_split("rf_uc", "3", space, [5, 1, 2])


def test_cli_build_from_json_needs_class_lists(tmp_path, capsys):
    ann = tmp_path / "trainval.json"
    ann.write_text(json.dumps([_image("a.jpg", [(42, 1)])]))
    assert main(["label-space", "build", "--train", str(ann), "--out",
                 str(tmp_path / "ls.json")]) == 2
    assert "give --objects and --verbs" in capsys.readouterr().err
    (tmp_path / "objects.csv").write_text("name,id\nperson,7\nteapot,3\nviolin,11\n")
    (tmp_path / "verbs.csv").write_text("name,id\npour,42\ntune,5\nwave,9\n")
    assert main(["label-space", "build", "--train", str(ann), "--objects",
                 str(tmp_path / "objects.csv"), "--verbs", str(tmp_path / "verbs.csv"),
                 "--out", str(tmp_path / "ls.json")]) == 0
    out = capsys.readouterr().out
    assert "interactions  1" in out and "a person pouring a teapot (rare)" in out
    space = load_label_space(tmp_path / "ls.json")
    assert space.name == "ls" and space.object_ids == (7, 3, 11)


def test_rebuilding_hicodet_from_its_lists_gives_its_classes_and_prompts():
    """HICO-DET's own lists through the builder: the same classes (same fingerprint) and the
    same 600 prompts but for GEN-VLKT's 'a umbrella' typo (8 phrases)."""
    hico = load_label_space("hicodet")
    objects = [ClassEntry(n, i) for n, i in zip(hico.objects, hico.object_ids)]
    verbs = [ClassEntry(n, i, "controlling" if n == "control" else None)
             for n, i in zip(hico.verbs, hico.verb_ids)]
    listed = [InteractionEntry(hico.verbs[v], hico.objects[o]) for v, o in hico.interactions]
    space = build_label_space("hicodet", objects, verbs, [_source([])], interactions=listed)
    assert space.fingerprint == hico.fingerprint
    differ = [(a, b) for a, b in zip(hico.interaction_phrases, space.interaction_phrases)
              if a != b]
    assert len(differ) == 8
    assert all(a.endswith("a umbrella") and b.endswith("an umbrella") for a, b in differ)
