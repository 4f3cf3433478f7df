"""The semantic synthetic benchmark: label space = its tables, determinism, the drawings'
shared attributes, zero-shot splits, and MiniLM names that follow the drawings."""

import json
from pathlib import Path

import pytest

from openhoi.cli import main
from openhoi.data.hicodet import read_hicodet
from openhoi.data.synthetic_semantic import OBJECTS, ZERO_SHOT, label_space_dict
from openhoi.label_space import load_label_space


@pytest.fixture(scope="module")
def space():
    return load_label_space("synthetic_semantic")


def test_shipped_label_space_is_the_tables(space):
    shipped = Path(__file__).parents[2] / "src/openhoi/label_spaces/synthetic_semantic.json"
    assert json.loads(shipped.read_text()) == label_space_dict()
    uo = space.zero_shot_split("uo")
    assert {space.objects[o] for o in uo.unseen_objects} == set(ZERO_SHOT["uo"]["unseen_objects"])
    for i in uo.unseen_interactions:  # every interaction of an unseen object is unseen
        assert space.objects[space.interactions[i][1]] in ZERO_SHOT["uo"]["unseen_objects"]
    uc = space.zero_shot_split("uc")
    seen_objects = {space.interactions[i][1] for i in range(space.num_interactions)
                    if i not in uc.unseen_interactions}
    seen_verbs = {space.interactions[i][0] for i in range(space.num_interactions)
                  if i not in uc.unseen_interactions}
    for i in uc.unseen_interactions:  # combinations of seen verbs and seen objects
        v, o = space.interactions[i]
        assert v in seen_verbs and o in seen_objects
    # Each family keeps two seen members sharing attributes with its unseen one.
    for name in ZERO_SHOT["uo"]["unseen_objects"]:
        kin = [o for o, k in OBJECTS.items() if k.family == OBJECTS[name].family and o != name]
        assert all(set(OBJECTS[o].attributes) & set(OBJECTS[name].attributes) for o in kin)


def test_cli_semantic_is_seeded_and_reads_with_the_hicodet_reader(tmp_path, space, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["make-synthetic", "--out", str(out), "--images", "16", "--seed", "3",
                     "--semantic"]) == 0
    assert "wrote 12 train and 4 test images" in capsys.readouterr().out
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    train = read_hicodet(a, "train", space)
    assert len(train) == 12 and all(n > 0 for n in train.num_pairs)


def test_minilm_neighbours_of_unseen_objects_are_their_family(space):
    from openhoi.config import ViLDConfig
    from openhoi.models.clip.vild import vild_class_embeddings

    names = list(OBJECTS)
    emb = vild_class_embeddings("minilm", ViLDConfig().templates, names, None)
    sim = emb @ emb.T
    unseen = set(ZERO_SHOT["uo"]["unseen_objects"])
    seen_idx = [i for i, n in enumerate(names) if n not in unseen]
    for name in unseen:
        i = names.index(name)
        nearest = names[max(seen_idx, key=lambda j: float(sim[i, j]))]
        assert OBJECTS[nearest].family == OBJECTS[name].family, (name, nearest)
