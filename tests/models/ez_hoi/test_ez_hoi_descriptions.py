"""Description files in EZ-HOI's released layouts, JSON, and the logged template fallback."""

from __future__ import annotations

import json
import logging

import pytest

from openhoi.errors import DataError
from openhoi.label_space import load_label_space
from openhoi.models.ez_hoi.descriptions import read_class_descriptions, read_differences


@pytest.fixture(scope="module")
def space():
    return load_label_space("synthetic")


def _prompts(space):
    return space.prompts("a photo of {}")


def _released_descriptions(space) -> str:
    """``hico_HOI_descrip.txt``'s layout: both header styles it uses, no final blank line."""
    lines = []
    for k, phrase in enumerate(space.interaction_phrases):
        if k % 2 == 0:
            lines += [f"{k + 1}. A photo of {phrase}: ", f"   - Description: About {k}: more.", ""]
        else:
            lines += [f"- Class: A photo of {phrase}.", f"  Description: About {k}.", ""]
    return "\n".join(lines[:-1])


def test_released_description_layout(tmp_path, space):
    p = tmp_path / "hico_HOI_descrip.txt"
    p.write_text(_released_descriptions(space))
    out = read_class_descriptions(p, space, _prompts(space))
    assert len(out) == space.num_interactions
    # EZ-HOI: "<class prompt>:" + line.split(":")[1] (up to a second colon)
    assert out[0] == f"a photo of {space.interaction_phrases[0]}: About 0"
    assert out[1] == f"a photo of {space.interaction_phrases[1]}: About 1."


def test_description_count_checked(tmp_path, space):
    p = tmp_path / "short.txt"
    p.write_text("\n".join(_released_descriptions(space).splitlines()[:-3]))
    with pytest.raises(DataError, match="short.txt.*descriptions"):
        read_class_descriptions(p, space, _prompts(space))


def test_json_descriptions_and_fallback(tmp_path, space, caplog):
    p = tmp_path / "d.json"
    p.write_text(json.dumps({"a person kicking a sports ball": "feet", "hold kite": "string",
                             "0": "ball in hands"}))
    with caplog.at_level(logging.WARNING):
        out = read_class_descriptions(p, space, _prompts(space))
    assert out[1].endswith(":feet") and out[5].endswith(":string")
    assert out[0].endswith(":ball in hands")
    assert out[2] == _prompts(space)[2]
    assert "describes 3 of 13" in caplog.text
    p.write_text(json.dumps({"juggle kite": "x"}))
    with pytest.raises(DataError, match="d.json.*juggle kite"):
        read_class_descriptions(p, space, _prompts(space))


def test_no_descriptions_logs_template_fallback(space, caplog):
    with caplog.at_level(logging.WARNING):
        assert read_class_descriptions(None, space, _prompts(space)) == _prompts(space)
    assert "no class descriptions" in caplog.text


def test_released_difference_layout(tmp_path, space):
    p = tmp_path / "rf_uc_diff.txt"
    p.write_text("8, 7\nThe phrase drinking differs. It is about mouths.\n"
                 "Holding is not.\n\n11, 10\nCarrying lifts the chair.\n")
    diffs = read_differences(p, space)
    assert [(d.unseen, d.seen) for d in diffs] == [(8, 7), (11, 10)]
    # paragraph lines are joined without a space, then split on "." (EZ-HOI)
    assert diffs[0].sentences == ("The phrase drinking differs", " It is about mouths",
                                  "Holding is not")
    assert diffs[1].sentences == ("Carrying lifts the chair",)


@pytest.mark.parametrize("text,match", [
    ("orphan text\n8, 7\nx.\n", "rf.txt:1.*before"),
    ("8; 7\nx.\n", "rf.txt:1.*unseen_idx, seen_idx"),
    ("8, 70\nx.\n", "rf.txt.*seen index 70"),
])
def test_bad_difference_file(tmp_path, space, text, match):
    p = tmp_path / "rf.txt"
    p.write_text(text)
    with pytest.raises(DataError, match=match):
        read_differences(p, space)


def test_json_differences(tmp_path, space):
    p = tmp_path / "diff.json"
    p.write_text(json.dumps([{"unseen": "drink_with cup", "seen": 7, "text": "A. B."}]))
    (d,) = read_differences(p, space)
    assert (d.unseen, d.seen, d.sentences) == (8, 7, ("A", " B"))
