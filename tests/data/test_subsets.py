"""Low-data, zero-shot and validation subsets, on hand-made records of the synthetic label
space: objects person(1) sports ball(37) kite(38) cup(47) chair(62); verbs hold(1) kick(2)
throw(3) fly(4) sit_on(5) carry(6) drink_with(7) no_interaction(8). Zero-shot splits:
rf_uc = {drink_with cup, carry chair}; uo = cup's interactions; uv = {throw ball}."""

import dataclasses

import numpy as np
import pytest

from openhoi.config import DataConfig
from openhoi.data.annotations import parse_hoi_annotations
from openhoi.data.subsets import hold_out, low_data, remove_unseen, training_subsets
from openhoi.errors import ConfigError
from openhoi.label_space import load_label_space

SPACE = load_label_space("synthetic")
BOX = [1.0, 1.0, 9.0, 9.0]


def _entry(name, objects, hois):
    return {"file_name": name,
            "annotations": [{"bbox": BOX, "category_id": c} for c in (1, *objects)],
            "hoi_annotation": [{"subject_id": s, "object_id": o, "category_id": v}
                               for s, o, v in hois]}


def _records():
    return parse_hoi_annotations([
        # person + cup + chair: hold & drink the cup (one pair, drink is rf_uc-unseen), sit on
        # the chair
        _entry("a.jpg", (47, 62), [(0, 1, 1), (0, 1, 7), (0, 2, 5)]),
        _entry("b.jpg", (62,), [(0, 1, 6)]),  # carry chair: unseen in rf_uc
        _entry("c.jpg", (37,), [(0, 1, 2), (0, 1, 3)]),  # kick + throw a ball
        _entry("d.jpg", (47,), [(0, 1, 1)]),  # hold cup
        _entry("e.jpg", (), []),  # no pair at all
    ], SPACE, source="mem")


def _pairs(records):
    """{file: sorted [(h, o, verb names...)]} of every pair."""
    out = {}
    for r in records:
        out[r.file_name] = sorted(
            (int(h), int(o), *(SPACE.verbs[v] for v in np.flatnonzero(vs)))
            for (h, o), vs in zip(r.pair_idx, r.verbs))
    return out


def test_rare_first_drops_whole_pairs_then_emptied_images():
    kept, idx = remove_unseen(_records(), SPACE, "rf_uc")
    assert idx.tolist() == [0, 2, 3, 4]  # b lost its only pair; e had none to lose
    assert _pairs(kept) == {
        "a.jpg": [(0, 2, "sit_on")],  # 'hold cup' goes with 'drink_with cup' (same pair)
        "c.jpg": [(0, 1, "kick", "throw")],
        "d.jpg": [(0, 1, "hold")],
        "e.jpg": [],
    }
    assert kept[0].labels.tolist() == [0, 3, 4]  # boxes stay, as in the reference


def test_unseen_object_and_unseen_verb():
    kept, _ = remove_unseen(_records(), SPACE, "uo")
    assert _pairs(kept) == {"a.jpg": [(0, 2, "sit_on")], "b.jpg": [(0, 1, "carry")],
                            "c.jpg": [(0, 1, "kick", "throw")], "e.jpg": []}
    kept, _ = remove_unseen(_records(), SPACE, "uv")
    assert "c.jpg" not in _pairs(kept)  # kick comes off with throw: same pair
    assert len(kept) == 4


def test_hold_out_is_seeded_disjoint_and_checked():
    train, val = hold_out(10, 3, seed=5)
    assert len(val) == 3 and sorted([*train, *val]) == list(range(10))
    assert np.array_equal(hold_out(10, 3, seed=5)[1], val)
    assert not np.array_equal(hold_out(10, 3, seed=6)[1], val)
    with pytest.raises(ConfigError, match="data.val_size=10 leaves no training image"):
        hold_out(10, 10, seed=0)


def test_low_data_uses_the_label_space_fractions_and_seed():
    records = _records()
    space = dataclasses.replace(SPACE, extra={**SPACE.extra,
                                              "low_data": {"fractions": [0.4], "seed": 3}})
    keep = low_data(records, space, 0.4)
    assert len(keep) == 2  # floor(0.4 * 5)
    with pytest.raises(ConfigError, match=r"data.fraction=0.5 .* one of \[0.4\]"):
        low_data(records, space, 0.5)


def test_training_subsets_chain_and_summary():
    cfg = DataConfig(dataset="synthetic", zero_shot="rf_uc", val_size=1, val_seed=0)
    sub = training_subsets(_records(), SPACE, cfg)
    assert sub.summary["input"] == {"images": 5, "pairs": 5}  # distinct (human, object) pairs
    assert sub.summary["zero_shot"] == {"split": "rf_uc", "images": 4, "pairs": 3}
    assert len(sub.val) == 1 and len(sub.train) == 3
    assert sorted([*sub.train_idx, *sub.val_idx]) == [0, 2, 3, 4]
    assert sub.summary["validation"]["file_names"] == [str(sub.val.file_names[0])]
    # the validation records are filtered like the training ones
    assert "drink_with" not in str(_pairs(sub.val))


def test_dropped_pairs_take_their_file_entries_along():
    # a.jpg: the cup pair (row 0, hold + drink_with) is dropped, the chair pair (row 1) becomes
    # row 0; its file entry must point there (it pointed past the end before the fix).
    kept, _ = remove_unseen(_records(), SPACE, "rf_uc")
    first = kept[0]
    assert first.hoi_entries.tolist() == [[0, SPACE.verbs.index("sit_on")]]
    for r in kept:
        assert (r.hoi_entries[:, 0] < len(r.pair_idx)).all()
    targets = first.to_targets((10, 10))
    from openhoi.data.transforms import sanitize

    assert sanitize(targets).hoi_entries.tolist() == [[0, SPACE.verbs.index("sit_on")]]


def test_detection_refuses_the_recognition_shots_draw():
    with pytest.raises(ConfigError, match="data.shots"):
        training_subsets(_records(), SPACE, DataConfig(shots=4))
