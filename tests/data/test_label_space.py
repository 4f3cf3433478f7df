import json

import pytest
import torch

from openhoi.data.label_space import available_label_spaces, load_label_space
from openhoi.errors import DataError


@pytest.mark.parametrize("name", available_label_spaces())
def test_every_shipped_label_space_loads_consistently(name):
    space = load_label_space(name)
    assert space.objects[space.human_label] == "person"
    # every interaction sits at its (verb, object) cell of the table and nowhere else
    table = space.interaction_table
    assert int((table >= 0).sum()) == space.num_interactions
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


def test_unknown_name_lists_shipped_spaces():
    with pytest.raises(DataError, match="synthetic"):
        load_label_space("nope")
