import json
import logging

import numpy as np
import pytest
import torch
from hoi_files import hico_entry

from openhoi.data.annotations import (
    parse_hoi_annotations,
    read_correspondence,
    read_hoi_annotations,
)
from openhoi.errors import DataError

# synthetic label space: objects person=1, sports ball=37, kite=38, cup=47, chair=62 (COCO ids)
# -> indices 0..4; verbs hold=1, kick=2, throw=3, fly=4, sit_on=5, carry=6, drink_with=7,
# no_interaction=8 -> indices 0..7.
PERSON, BALL, KITE, CUP = 1, 37, 38, 47


def two_images():
    return [
        hico_entry("a.jpg", [([10, 20, 50, 90], PERSON), ([40, 30, 60, 50], BALL),
                             ([0, 0, 5, 5], CUP), ([60, 10, 70, 80], PERSON)],
                   [(0, 1, 1), (0, 2, 7), (0, 1, 2), (3, 1, 8), (0, 1, 1)], img_id=1),
        hico_entry("b.jpg", [], []),
    ]


def test_reads_boxes_labels_and_merges_repeated_pairs(space):
    ann = parse_hoi_annotations(two_images(), space, source="mem")
    assert len(ann) == 2
    a = ann[0]
    assert a.file_name == "a.jpg" and a.index == 0 and a.size is None
    assert a.boxes_xyxy.dtype == np.float32
    np.testing.assert_array_equal(a.boxes_xyxy[1], [40, 30, 60, 50])
    assert a.labels.tolist() == [0, 1, 3, 0]
    # (0,1) appears three times (hold, kick, hold again) -> one row; pairs by first appearance
    assert a.pair_idx.tolist() == [[0, 1], [0, 2], [3, 1]]
    assert a.verbs.shape == (3, space.num_verbs)
    assert np.flatnonzero(a.verbs[0]).tolist() == [0, 1]  # hold + kick
    assert np.flatnonzero(a.verbs[1]).tolist() == [6]  # drink_with
    assert np.flatnonzero(a.verbs[2]).tolist() == [7]  # no_interaction
    b = ann[1]
    assert b.boxes_xyxy.shape == (0, 4) and b.pair_idx.shape == (0, 2)
    assert b.verbs.shape == (0, space.num_verbs)
    assert ann.pair_object_labels().tolist() == [1, 3, 1]


def test_entries_keep_file_order_and_repeats(space):
    """The evaluators count every hoi_annotation entry (GEN-VLKT's test targets keep them all);
    the training pairs above stay merged."""
    ann = parse_hoi_annotations(two_images(), space, source="mem")
    # entries (0,1,hold) (0,2,drink_with) (0,1,kick) (3,1,no_interaction) (0,1,hold) as
    # (pair row, verb index), the repeated hold included
    assert ann[0].hoi_entries.tolist() == [[0, 0], [1, 6], [0, 1], [2, 7], [0, 0]]
    assert ann[1].hoi_entries.shape == (0, 2)
    assert ann.num_entries.tolist() == [5, 0] and ann.entry_offsets.tolist() == [0, 5, 5]
    targets = ann[0].to_targets((100, 100))
    assert targets.hoi_entries.tolist() == ann[0].hoi_entries.tolist()
    assert targets.pair_idx.tolist() == [[0, 1], [0, 2], [3, 1]]  # still merged


def test_entries_of_skipped_images_are_dropped(space, caplog):
    bad = hico_entry("bad.jpg", [([0, 0, 5, 5], PERSON)], [(0, 3, 1)])  # object_id out of range
    entries = [bad, *two_images()[::-1], hico_entry("c.jpg", [([0, 0, 5, 5], PERSON),
                                                              ([1, 1, 4, 4], KITE)],
                                                    [(0, 1, 4), (0, 1, 4)])]
    ann = parse_hoi_annotations(entries, space, source="mem", skip_invalid=True)
    assert [r.file_name for r in ann] == ["b.jpg", "a.jpg", "c.jpg"]
    assert ann.num_entries.tolist() == [0, 5, 2]
    assert ann[1].hoi_entries.tolist() == [[0, 0], [1, 6], [0, 1], [2, 7], [0, 0]]
    assert ann[2].hoi_entries.tolist() == [[0, 3], [0, 3]]  # local pair row 0, fly twice


def test_test_split_format_without_img_id_and_with_string_verb_ids(space):
    """test_hico.json entries carry no img_id; PPDM's evaluator meets ids like "88\\n"."""
    entry = hico_entry("HICO_test2015_00000001.jpg", [([1, 2, 30, 40], PERSON),
                                                      ([5, 6, 7, 8], KITE)], [])
    entry["hoi_annotation"] = [{"subject_id": 0, "object_id": 1, "category_id": "4\n"}]
    ann = parse_hoi_annotations([entry], space, source="test_hico.json")
    assert ann[0].pair_idx.tolist() == [[0, 1]]
    assert np.flatnonzero(ann[0].verbs[0]).tolist() == [3]  # fly


def test_vcoco_pairs_without_object(space):
    entry = hico_entry("COCO_val2014_000000000042.jpg", [([0, 0, 10, 10], PERSON),
                                                         ([2, 2, 4, 4], BALL)],
                       [(0, -1, 8), (0, 1, 2), (0, -1, 1)])
    ann = parse_hoi_annotations([entry], space, source="v", allow_no_object=True)
    assert ann[0].pair_idx.tolist() == [[0, -1], [0, 1]]
    assert np.flatnonzero(ann[0].verbs[0]).tolist() == [0, 7]
    assert ann.pair_object_labels().tolist() == [-1, 1]
    with pytest.raises(DataError, match="object_id"):
        parse_hoi_annotations([entry], space, source="hico")  # HICO-DET has no such pairs


def test_optional_image_size_is_read(space):
    entry = hico_entry("a.jpg", [([0, 0, 10, 10], PERSON)], [], height=40, width=30)
    assert parse_hoi_annotations([entry], space, source="m")[0].size == (40, 30)


def test_file_errors(tmp_path, space):
    with pytest.raises(DataError, match="not found"):
        read_hoi_annotations(tmp_path / "nope.json", space)
    bad = tmp_path / "bad.json"
    bad.write_text('[{"file_name": "a.jpg",')
    with pytest.raises(DataError, match=f"{bad}.*not valid JSON"):
        read_hoi_annotations(bad, space)
    obj = tmp_path / "obj.json"
    obj.write_text('{"images": []}')
    with pytest.raises(DataError, match="expected a JSON list"):
        read_hoi_annotations(obj, space)


def _break(mutate):
    entries = two_images()
    entries.append(hico_entry("c.jpg", [([0, 0, 8, 8], PERSON), ([1, 1, 3, 3], CUP)],
                              [(0, 1, 1)]))
    mutate(entries[2])
    return entries


BAD_INPUTS = {
    # name: (mutation of image 2 "c.jpg", field named in the message)
    "missing file_name": (lambda e: e.pop("file_name"), "file_name"),
    "missing annotations": (lambda e: e.pop("annotations"), "annotations"),
    "missing hoi_annotation": (lambda e: e.pop("hoi_annotation"), "hoi_annotation"),
    "missing bbox": (lambda e: e["annotations"][1].pop("bbox"), "annotations[1].bbox"),
    "bbox with 3 numbers": (lambda e: e["annotations"][1].update(bbox=[1, 2, 3]),
                            "annotations[1].bbox"),
    "bbox with text": (lambda e: e["annotations"][0].update(bbox=[1, 2, "x", 4]),
                       "annotations[0].bbox"),
    "missing subject_id": (lambda e: e["hoi_annotation"][0].pop("subject_id"),
                           "hoi_annotation[0].subject_id"),
    "x2 < x1": (lambda e: e["annotations"][1].update(bbox=[5, 1, 3, 3]),
                "annotations[1].bbox"),
    "nan box": (lambda e: e["annotations"][1].update(bbox=[1, 1, float("nan"), 3]),
                "annotations[1].bbox"),
    "outside stated size": (lambda e: e.update(height=8, width=8) or
                            e["annotations"][1].update(bbox=[1, 1, 30, 3]),
                            "annotations[1].bbox"),
    "unknown object id": (lambda e: e["annotations"][1].update(category_id=999),
                          "annotations[1].category_id"),
    "unknown verb id": (lambda e: e["hoi_annotation"][0].update(category_id=117),
                        "hoi_annotation[0].category_id"),
    "fractional verb id": (lambda e: e["hoi_annotation"][0].update(category_id=1.5),
                           "hoi_annotation[0].category_id"),
    "subject out of range": (lambda e: e["hoi_annotation"][0].update(subject_id=2),
                             "hoi_annotation[0].subject_id"),
    "object out of range": (lambda e: e["hoi_annotation"][0].update(object_id=5),
                            "hoi_annotation[0].object_id"),
    "negative object": (lambda e: e["hoi_annotation"][0].update(object_id=-1),
                        "hoi_annotation[0].object_id"),
    "entry not an object": (lambda e: (e.clear(), e.update(x=1)), "file_name"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_names_file_image_and_field(tmp_path, space, case):
    mutate, field = BAD_INPUTS[case]
    path = tmp_path / "trainval_hico.json"
    path.write_text(json.dumps(_break(mutate)))
    with pytest.raises(DataError) as info:
        read_hoi_annotations(path, space)
    msg = str(info.value)
    assert str(path) in msg and "image 2" in msg and repr(field) in msg, msg
    if case != "missing file_name" and case != "entry not an object":
        assert "c.jpg" in msg
    assert "skip-invalid" in msg


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_skip_invalid_drops_only_the_bad_image(tmp_path, space, case, caplog):
    mutate, _ = BAD_INPUTS[case]
    path = tmp_path / "trainval_hico.json"
    path.write_text(json.dumps(_break(mutate)))
    with caplog.at_level(logging.WARNING):
        ann = read_hoi_annotations(path, space, skip_invalid=True)
    assert [r.file_name for r in ann] == ["a.jpg", "b.jpg"]
    assert ann.indices.tolist() == [0, 1]
    assert "skipped 1 of 3 images" in caplog.text


def test_skip_counts_each_reason(space, caplog):
    entries = [{**e, "file_name": f"{k}.jpg"} for k, e in enumerate(two_images() * 3)]
    entries[0] = {**entries[0], "annotations": [dict(a) for a in entries[0]["annotations"]]}
    entries[0]["annotations"][2]["category_id"] = 5  # unknown object
    entries[2] = {**entries[2], "hoi_annotation": [{"subject_id": 9, "object_id": 1,
                                                    "category_id": 1}]}
    entries[4] = {**entries[4], "hoi_annotation": [{"subject_id": 9, "object_id": 1,
                                                    "category_id": 1}]}
    with caplog.at_level(logging.WARNING):
        ann = parse_hoi_annotations(entries, space, source="s", skip_invalid=True)
    assert ann.indices.tolist() == [1, 3, 5]
    assert "skipped 3 of 6 images" in caplog.text
    assert "subject_id out of range of annotations: 2" in caplog.text
    assert "object category_id not in label space 'synthetic': 1" in caplog.text


def test_correspondence_file(tmp_path, space):
    good = tmp_path / "corre_hico.npy"
    np.save(good, space.correspondence.numpy().astype(np.float64))
    assert torch.equal(read_correspondence(good, space), space.correspondence)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.ones((3, 3)))
    with pytest.raises(DataError, match=rf"{wrong}.*\[8, 5\]"):
        read_correspondence(wrong, space)
    with pytest.raises(DataError, match="not found"):
        read_correspondence(tmp_path / "none.npy", space)


def test_hicodet_ids_map_to_the_official_interaction(space):
    """PPDM's trainval_hico.json (PPDM issue #57/#12 samples): verb 73 'race' on COCO object 4
    'motorcycle' has hoi_category_id 153."""
    from openhoi.label_space import load_label_space

    hico = load_label_space("hicodet")
    entry = hico_entry("HICO_train2015_00000001.jpg", [([207, 32, 426, 299], 1),
                                                       ([58, 97, 571, 404], 4)],
                       [(0, 1, 73), (0, 1, 77)], img_id=1)
    entry["hoi_annotation"][0]["hoi_category_id"] = 153
    ann = parse_hoi_annotations([entry], hico, source="trainval_hico.json")
    verbs = torch.from_numpy(ann[0].verbs)
    inter = hico.pair_interactions(verbs, torch.from_numpy(ann.pair_object_labels()))
    hit = inter[0].nonzero().flatten().tolist()
    assert 153 - 1 in hit and len(hit) == 2
    assert [hico.verbs[v] for v in verbs[0].nonzero().flatten()] == ["race", "ride"]


def test_vcoco_ids_and_objectless_roles():
    from openhoi.label_space import load_label_space

    vcoco = load_label_space("vcoco")
    entry = hico_entry("COCO_val2014_000000000042.jpg", [([0, 0, 50, 90], 1),
                                                         ([30, 40, 45, 60], 37)],
                       [(0, -1, 1), (0, 1, 6), (0, -1, 18)])  # stand, hit_instr ball, run
    ann = parse_hoi_annotations([entry], vcoco, source="test_vcoco.json", allow_no_object=True)
    assert ann[0].pair_idx.tolist() == [[0, -1], [0, 1]]
    names = [[vcoco.verbs[v] for v in np.flatnonzero(row)] for row in ann[0].verbs]
    assert names == [["stand", "run"], ["hit_instr"]]
    inter = vcoco.pair_interactions(torch.from_numpy(ann[0].verbs),
                                    torch.from_numpy(ann.pair_object_labels()))
    stand = vcoco.interaction_index(vcoco.verbs.index("stand"), -1)
    assert inter[0, stand] == 1
