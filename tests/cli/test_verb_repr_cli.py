import logging

import pytest
import torch

from openhoi.cli import main
from openhoi.config import DataConfig
from openhoi.data.dataset import build_dataset
from openhoi.data.synthetic import generate_synthetic
from openhoi.label_space import load_label_space
from openhoi.models.hoiclip.verb_repr import load_verb_representations


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    generate_synthetic(root, num_images=8, seed=0)
    return root


def _expected_counts(root, space, unseen=()):
    """(pair, verb) samples per verb straight from the annotations, unseen pairs dropped."""
    ds = build_dataset(DataConfig(dataset="synthetic", root=str(root)), "train", space,
                       transforms=None)
    counts = torch.zeros(space.num_verbs, dtype=torch.long)
    for i in range(len(ds)):
        t = ds.ground_truth(i)
        for (_, o), verbs in zip(t.pair_idx.tolist(), t.verbs):
            inters = {space.interaction_index(v, int(t.labels[o]))
                      for v in verbs.nonzero().flatten().tolist()}
            if inters & set(unseen):
                continue
            counts += verbs.long()
    return counts


def _run(root, out, *extra):
    return main(["verb-repr", "--data-root", str(root), "--dataset", "synthetic",
                 "--clip-arch", "openhoi-tiny", "--workers", "0", "--no-progress",
                 "--out", str(out), *extra])


def test_verb_repr_end_to_end(data_root, tmp_path, caplog):
    space = load_label_space("synthetic")
    out, cache = tmp_path / "verbs.safetensors", tmp_path / "regions.safetensors"
    torch.manual_seed(0)
    assert _run(data_root, out, "--rule", "variant_a", "--cache", str(cache)) == 0
    reps = load_verb_representations(out, space, embed_dim=32, rule="variant_a",
                                     split="train", zero_shot=None)
    assert torch.equal(reps.counts, _expected_counts(data_root, space))
    used = reps.counts > 0
    assert torch.allclose(reps.embeddings[used].norm(dim=-1), torch.ones(int(used.sum())))
    assert reps.metadata["annotation_file"].endswith("trainval_hico.json")

    # zero-shot: pairs showing unseen interactions are left out; the cache is reused
    zs = tmp_path / "verbs_rf.safetensors"
    with caplog.at_level(logging.INFO):
        assert _run(data_root, zs, "--zero-shot", "rf_uc", "--cache", str(cache)) == 0
    assert "from cache" in caplog.text
    reps_zs = load_verb_representations(zs, space, zero_shot="rf_uc", include_unseen=False)
    unseen = space.zero_shot["rf_uc"].unseen_interactions
    assert torch.equal(reps_zs.counts, _expected_counts(data_root, space, unseen))
    leak = tmp_path / "verbs_leak.safetensors"
    assert _run(data_root, leak, "--zero-shot", "rf_uc", "--include-unseen",
                "--cache", str(cache)) == 0
    assert torch.equal(load_verb_representations(leak).counts, reps.counts)


def test_verb_repr_bad_split_exits_2(data_root, tmp_path, capsys):
    assert _run(data_root, tmp_path / "x.safetensors", "--zero-shot", "nope") == 2
    assert "nope" in capsys.readouterr().err
