from openhoi.cli import main


def test_hicodet_summary(capsys):
    assert main(["label-space", "hicodet"]) == 0
    out = capsys.readouterr().out
    assert "interactions  600" in out and "rare          138" in out and "non-rare 462" in out
    assert "zero-shot uo    100 unseen interactions, 12 unseen objects" in out
    assert "zero-shot uv    84 unseen interactions, 20 unseen verbs" in out


def test_vcoco_list_shows_objectless_triplets_and_official_actions(capsys):
    assert main(["label-space", "vcoco", "--list"]) == 0
    out = capsys.readouterr().out
    assert "interactions  263" in out and "objectless    29" in out
    assert "26 actions, 25 (action, role) pairs" in out
    assert "rare " not in out  # V-COCO has no rare split
    assert "cut_instr (no object)" in out and "a person cutting with something" in out
