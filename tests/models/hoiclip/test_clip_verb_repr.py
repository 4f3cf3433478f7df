import math

import pytest
import torch

from openhoi.errors import CheckpointError
from openhoi.label_space import label_space_from_dict
from openhoi.models.hoiclip.verb_repr import (
    PairRegionFeatures,
    exclude_unseen,
    load_verb_representations,
    save_verb_representations,
    verb_representations,
)

# objects: person 0, ball 1, cup 2; verbs: hold 0, kick 1, hug 2, drink 3
# interactions: 0 hold ball, 1 kick ball, 2 hold cup, 3 hug person; drink has none
SPACE = label_space_from_dict({
    "name": "toy",
    "objects": [{"name": "person", "id": 1}, {"name": "ball", "id": 2}, {"name": "cup", "id": 3}],
    "human_object": "person",
    "verbs": [{"name": n, "id": i + 1} for i, n in enumerate(["hold", "kick", "hug", "drink"])],
    "interactions": [{"verb": "hold", "object": "ball"}, {"verb": "kick", "object": "ball"},
                     {"verb": "hold", "object": "cup"}, {"verb": "hug", "object": "person"}],
    "zero_shot": {"uc": {"unseen_interactions": [1]}, "uv": {"unseen_verbs": [2]}},
})


def _feats(rows):
    """rows: (hoi, human, obj, verbs, object, image)."""
    cols = list(zip(*rows))
    multi_hot = torch.zeros(len(rows), SPACE.num_verbs)
    for i, verbs in enumerate(cols[3]):
        multi_hot[i, list(verbs)] = 1
    return PairRegionFeatures(torch.tensor(cols[0]), torch.tensor(cols[1]), torch.tensor(cols[2]),
                              multi_hot, torch.tensor(cols[4]), torch.tensor(cols[5]))


E1, E2, E3 = [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]
# two "kick ball" pairs and one "hold ball" pair
KICKS = _feats([([2.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0], [1], 1, 0),
                ([4.0, 0, 0], [0, 0, 3.0], [0, 1.0, 0], [1], 1, 1),
                ([0, 0, 5.0], [1.0, 0, 0], [0, 0, 2.0], [0], 1, 1)])


def _unit(*v):
    t = torch.tensor(v)
    return t / t.norm()


def test_paper_rule_by_hand():
    emb, counts = verb_representations(KICKS, SPACE, "paper")
    # kick: mean((2,0,0)-(0,1,0), (4,0,0)-(0,1,0)) = (3,-1,0)
    assert torch.allclose(emb[1], _unit(3.0, -1.0, 0.0))
    # hold: (0,0,5)-(0,0,2) = (0,0,3)
    assert torch.allclose(emb[0], _unit(0.0, 0.0, 1.0))
    assert counts.tolist() == [1, 2, 0, 0]
    assert torch.equal(emb[2], torch.zeros(3)) and torch.equal(emb[3], torch.zeros(3))


def test_variant_a_by_hand():
    emb, _ = verb_representations(KICKS, SPACE, "variant_a")
    # sample 1: ((2,0,-1) + (2,-1,0)) / 2 = (2,-.5,-.5); sample 2: ((4,0,-3) + (4,-1,0)) / 2
    # = (4,-.5,-1.5); mean (3,-.5,-1)
    assert torch.allclose(emb[1], _unit(3.0, -0.5, -1.0))


def test_hoiclip_rule_by_hand():
    emb, counts = verb_representations(KICKS, SPACE, "hoiclip")
    # H[kick ball] = unit((6,0,0)) = (1,0,0); O[ball] = unit((0,1,0)+(0,1,0)+(0,0,2)) = (0,1,1)/√2
    kick = torch.tensor([1.0, -1 / math.sqrt(2), -1 / math.sqrt(2)])
    assert torch.allclose(emb[1], kick / kick.norm())
    # H[hold ball] = (0,0,1); hold = (0,0,1) - (0,1,1)/√2
    hold = torch.tensor([0.0, -1 / math.sqrt(2), 1 - 1 / math.sqrt(2)])
    assert torch.allclose(emb[0], hold / hold.norm())
    assert counts.tolist() == [1, 2, 0, 0]


def test_hoiclip_rule_averages_over_interactions_and_uses_person_prototype():
    feats = _feats([
        ([1.0, 0, 0], E2, E3, [0], 1, 0),          # hold ball
        ([0, 1.0, 0], E1, [0, 0, 2.0], [0], 2, 1),  # hold cup
        ([0, 0, 1.0], [2.0, 0, 0], E2, [2], 0, 1),  # hug person; image 1 humans: E1, (2,0,0)
        ([0, 0, 1.0], [0, 0, 4.0], E2, [2], 0, 2),  # hug person; image 2 human: (0,0,4)
    ])
    emb, _ = verb_representations(feats, SPACE, "hoiclip")
    # hold = mean(unit(1,0,0) - unit(0,0,1), unit(0,1,0) - unit(0,0,2)) = (.5, .5, -1)
    assert torch.allclose(emb[0], _unit(0.5, 0.5, -1.0))
    # person prototype: object crops E2 + E2, plus per-image human means: image 0 (0,1,0),
    # image 1 mean((1,0,0),(2,0,0)) = (1.5,0,0), image 2 (0,0,4) -> (1.5, 3, 4)
    hug = _unit(0.0, 0.0, 1.0) - _unit(1.5, 3.0, 4.0)
    assert torch.allclose(emb[2], hug / hug.norm(), atol=1e-6)


def test_pair_order_does_not_matter():
    perm = torch.tensor([2, 0, 1])
    for rule in ("hoiclip", "paper", "variant_a"):
        a, _ = verb_representations(KICKS, SPACE, rule)
        b, _ = verb_representations(KICKS.select(perm), SPACE, rule)
        assert torch.allclose(a, b, atol=1e-6), rule


def test_multi_verb_pairs_and_invalid_combinations():
    feats = _feats([([2.0, 0, 0], E3, E2, [0, 1, 2], 1, 0)])  # hold+kick ball, "hug ball" no class
    emb, counts = verb_representations(feats, SPACE, "paper")
    assert counts.tolist() == [1, 1, 0, 0]
    assert torch.allclose(emb[0], emb[1]) and torch.equal(emb[2], torch.zeros(3))


def test_normalize_features_option():
    feats = _feats([([10.0, 0, 0], E3, E2, [1], 1, 0), ([0, 1.0, 0], E3, [0, 0, 1.0], [1], 1, 0)])
    raw, _ = verb_representations(feats, SPACE, "paper")
    unit, _ = verb_representations(feats, SPACE, "paper", normalize_features=True)
    assert torch.allclose(raw[1], _unit(10.0, 0.0, -1.0))  # mean (5, 0, -0.5)
    assert torch.allclose(unit[1], _unit(1.0, 0.0, -1.0))


def test_exclude_unseen_drops_whole_pairs():
    feats = _feats([([2.0, 0, 0], E3, E2, [0, 1], 1, 0),   # hold + kick ball: kick is unseen
                    ([0, 0, 5.0], E1, E3, [0], 2, 0),      # hold cup
                    ([0, 1.0, 0], E1, E2, [2], 0, 1)])     # hug person
    seen = exclude_unseen(feats, SPACE, "uc")
    assert len(seen) == 2 and seen.obj_labels.tolist() == [2, 0]
    _, counts = verb_representations(seen, SPACE, "hoiclip")
    assert counts.tolist() == [1, 0, 1, 0]
    assert exclude_unseen(feats, SPACE, "uv").obj_labels.tolist() == [1, 2]


def test_empty_input_gives_zero_rows():
    feats = KICKS.select(torch.zeros(3, dtype=torch.bool))
    for rule in ("hoiclip", "paper", "variant_a"):
        emb, counts = verb_representations(feats, SPACE, rule)
        assert emb.abs().sum() == 0 and counts.sum() == 0


def test_file_round_trip_and_checks(tmp_path):
    emb, counts = verb_representations(KICKS, SPACE, "hoiclip")
    path = tmp_path / "verbs.safetensors"
    save_verb_representations(path, emb, counts, {"rule": "hoiclip", "arch": "openhoi-tiny",
                                                  "label_space": SPACE.fingerprint,
                                                  "zero_shot": None})
    reps = load_verb_representations(path, SPACE, embed_dim=3, rule="hoiclip")
    assert torch.equal(reps.embeddings, emb) and torch.equal(reps.counts, counts)
    assert reps.metadata["num_verbs"] == 4
    with pytest.raises(CheckpointError, match=r"verbs\.safetensors.*'embed_dim' is 3, expected 5"):
        load_verb_representations(path, SPACE, embed_dim=512)
    with pytest.raises(CheckpointError, match=r"'rule' is 'hoiclip', expected 'variant_a'"):
        load_verb_representations(path, rule="variant_a")
    other = label_space_from_dict(dict(SPACE.to_json_dict(), name="other"))
    with pytest.raises(CheckpointError, match=r"verbs\.safetensors: field 'label_space'"):
        load_verb_representations(path, other)


def test_reads_hoiclip_verb_pth(tmp_path):
    path = tmp_path / "verb.pth"
    torch.save(torch.nn.functional.normalize(torch.randn(4, 3), dim=-1), path)
    reps = load_verb_representations(path, SPACE, embed_dim=3)
    assert reps.counts is None and reps.embeddings.shape == (4, 3)
    with pytest.raises(CheckpointError, match=r"verb\.pth: has 4 verbs"):
        load_verb_representations(path, label_space_from_dict(
            dict(SPACE.to_json_dict(), verbs=SPACE.to_json_dict()["verbs"] + [
                {"name": "ride", "id": 9}])))
