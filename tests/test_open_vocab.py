import pytest

from openhoi.label_space import load_label_space
from openhoi.open_vocab import (
    InteractionListError,
    ing_form,
    open_vocab_label_space,
    read_interaction_list,
    split_entry,
)


@pytest.fixture(scope="module")
def hico():
    return load_label_space("hicodet")


@pytest.mark.parametrize("verb, ing", [
    ("ride", "riding"), ("sit on", "sitting on"), ("stop", "stopping"), ("open", "opening"),
    ("see", "seeing"), ("lie on", "lying on"), ("feed", "feeding"), ("play", "playing"),
    ("fix", "fixing"), ("juggle", "juggling"),
])
def test_ing_form(verb, ing):
    assert ing_form(verb) == ing


def test_entries_split_on_known_names(hico):
    assert split_entry("hold baseball bat", hico) == ("hold", "baseball bat")
    assert split_entry("sit on couch", hico) == ("sit on", "couch")
    assert split_entry("juggle flaming torch", hico) == ("juggle", "flaming torch")
    assert split_entry("look at:night sky", hico) == ("look at", "night sky")


def test_label_space_reuses_known_classes_and_builds_prompts(hico):
    entries = read_interaction_list("ride horse, feed horse,\nhold umbrella, juggle:torch")
    space = open_vocab_label_space(entries, hico)
    assert space.objects == ("person", "horse", "umbrella", "torch")
    assert space.verbs == ("ride", "feed", "hold", "juggle")
    assert space.num_interactions == 4
    assert space.prompts() == [
        "a photo of a person riding a horse", "a photo of a person feeding a horse",
        "a photo of a person holding an umbrella", "a photo of a person juggling a torch"]
    # known objects keep their COCO ids, unknown ones get ids no annotation file uses
    assert space.object_ids[1] == hico.object_ids[hico.objects.index("horse")]
    assert space.object_ids[3] < 0


def test_list_file_and_comments(tmp_path):
    f = tmp_path / "classes.txt"
    f.write_text("# my classes\nride horse\n\nhold cup\n")
    assert read_interaction_list(str(f)) == ["ride horse", "hold cup"]


@pytest.mark.parametrize("spec, match", [
    ("", "empty"), (" , ,", "empty"), ("horse", "verb and an object"),
    ("ride horse, ride horse", "twice"), ("missing.txt", "not found"), (":horse", "verb"),
])
def test_bad_lists_are_clear_errors(hico, spec, match):
    with pytest.raises(InteractionListError, match=match):
        open_vocab_label_space(read_interaction_list(spec), hico)


def test_object_vocabulary_entries():
    from openhoi.open_vocab import object_vocabulary_entries

    syn = load_label_space("synthetic")
    entries = object_vocabulary_entries(["cup", "teapot"], syn)
    assert entries[:3] == ["hold:cup", "drink with:cup", "no interaction:cup"]
    assert entries[3:] == [f"{v.replace('_', ' ')}:teapot" for v in syn.verbs]
    space = open_vocab_label_space(entries, syn)
    assert space.objects == ("person", "cup", "teapot")
    assert space.num_interactions == 3 + syn.num_verbs
    # --interactions first; an object they already name adds nothing
    mixed = object_vocabulary_entries(["cup", "kite"], syn, ["hold cup"])
    assert mixed == ["hold cup", "fly:kite", "hold:kite", "no interaction:kite"]
    with pytest.raises(InteractionListError, match="human"):
        object_vocabulary_entries(["person"], syn)
