from dataclasses import fields

import numpy as np
import pytest
from hoi_files import hico_entry

from openhoi.data.annotations import parse_hoi_annotations
from openhoi.data.records import HOIAnnotations, gather_ranges


def test_gather_ranges_by_hand():
    offsets = np.array([0, 2, 2, 5, 6])  # items own rows [0,1], [], [2,3,4], [5]
    rows, new = gather_ranges(offsets, np.array([2, 0, 1, 3]))
    assert rows.tolist() == [2, 3, 4, 0, 1, 5]
    assert new.tolist() == [0, 3, 5, 5, 6]
    rows, new = gather_ranges(offsets, np.array([], dtype=np.int64))
    assert rows.tolist() == [] and new.tolist() == [0]


@pytest.fixture()
def annotations(space):
    entries = [hico_entry(f"{k}.jpg", [([0, 0, 10 + k, 10], 1), ([1, 1, 2, 2 + k], 37)] * (k % 3),
                          [(0, 1, 1 + k % 8)] * (k % 3))
               for k in range(7)]
    return parse_hoi_annotations(entries, space, source="mem")


def test_select_reorders_every_field(annotations):
    picked = annotations.select([5, 1, 3])
    assert len(picked) == 3
    for new_i, old_i in enumerate([5, 1, 3]):
        a, b = picked[new_i], annotations[old_i]
        assert a.file_name == b.file_name and a.index == b.index == old_i
        np.testing.assert_array_equal(a.boxes_xyxy, b.boxes_xyxy)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.pair_idx, b.pair_idx)
        np.testing.assert_array_equal(a.verbs, b.verbs)
        np.testing.assert_array_equal(a.hoi_entries, b.hoi_entries)
    assert picked.num_boxes.tolist() == [4, 2, 0]
    assert picked.num_entries.tolist() == [2, 1, 0]  # repeated entries of one pair kept
    with pytest.raises(IndexError):
        annotations.select([7])


def test_record_to_targets_copies(annotations):
    record = annotations[1]
    targets = record.to_targets((10, 20))
    targets.boxes_xyxy += 100  # must not write into the shared arrays
    assert annotations[1].boxes_xyxy.max() < 100
    assert targets.size == targets.orig_size == (10, 20)
    assert targets.image_id == "1.jpg"
    assert targets.verbs.dtype.is_floating_point and targets.pair_idx.shape == (1, 2)


def test_negative_index_and_iteration(annotations):
    assert annotations[-1].file_name == "6.jpg"
    assert [r.file_name for r in annotations] == [f"{k}.jpg" for k in range(7)]
    with pytest.raises(IndexError):
        annotations[7]


def test_default_entries_are_the_positive_verbs(annotations):
    """Records built without entries get one per positive verb, pair by pair."""
    bare = HOIAnnotations(**{f.name: getattr(annotations, f.name) for f in fields(annotations)
                             if f.name not in ("entry_offsets", "hoi_entries")})
    assert bare.num_entries.tolist() == [0, 1, 1, 0, 1, 1, 0]  # k % 3 copies merge to one
    assert bare[5].hoi_entries.tolist() == [[0, 5]]  # pair 0, verb index (1 + 5 % 8) - 1
    with pytest.raises(ValueError, match="together"):
        HOIAnnotations(**{f.name: getattr(annotations, f.name) for f in fields(annotations)
                          if f.name != "hoi_entries"})
