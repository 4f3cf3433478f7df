import json

import numpy as np
import pytest
from PIL import Image

from openhoi.data.hicodet import read_hicodet
from openhoi.data.synthetic import generate_synthetic
from openhoi.errors import DataError


def test_same_seed_gives_byte_identical_files(tmp_path):
    a, b, c = (generate_synthetic(tmp_path / k, 10, seed=s) for k, s in
               (("a", 7), ("b", 7), ("c", 8)))
    files_a = sorted(p.relative_to(a.root) for p in a.root.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b.root) for p in b.root.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == 10 + 3
    for rel in files_a:
        assert (a.root / rel).read_bytes() == (b.root / rel).read_bytes(), rel
    ann = "annotations/trainval_hico.json"
    assert (a.root / ann).read_bytes() != (c.root / ann).read_bytes()


def test_layout_reads_with_the_hicodet_reader(synthetic_root, space):
    train = read_hicodet(synthetic_root, "train", space)
    test = read_hicodet(synthetic_root, "test", space)
    assert (len(train), len(test)) == (18, 6)
    assert all(n > 0 for n in train.num_pairs)
    assert str(train.file_names[0]) == "synthetic_train_00000001.jpg"
    corre = np.load(synthetic_root / "annotations" / "corre_hico.npy")
    assert np.array_equal(corre != 0, space.correspondence.numpy())
    for split, folder in (("train", "train2015"), ("test", "test2015")):
        for r in (train if split == "train" else test):
            with Image.open(synthetic_root / "images" / folder / r.file_name) as img:
                w, h = img.size
            assert 128 <= h <= 176 and 144 <= w <= 208
            b = r.boxes_xyxy
            assert (b[:, :2] >= 0).all() and (b[:, 2] <= w).all() and (b[:, 3] <= h).all()
            assert ((b[:, 2:] - b[:, :2]) > 0).all()
            assert (r.labels[r.pair_idx[:, 0]] == space.human_label).all()


def test_rare_interactions_stay_under_the_threshold(tmp_path, space):
    summary = generate_synthetic(tmp_path, 130, seed=1, test_fraction=0.2)
    names = [f"{space.verbs[v]} {space.objects[o]}" for v, o in space.interactions]
    for i, name in enumerate(names):
        train = summary.train_counts.get(name, 0)
        if i in space.rare_interactions:
            assert 0 < train < space.rare_threshold, name
        else:
            assert train >= space.rare_threshold, name
        assert summary.test_counts.get(name, 0) > 0, name


def _boxes(entry):
    return [np.array(a["bbox"], dtype=float) for a in entry["annotations"]]


def _overlap(a, b, slack=1.0):
    return a[0] <= b[2] + slack and b[0] <= a[2] + slack and a[1] <= b[3] + slack \
        and b[1] <= a[3] + slack


@pytest.fixture(scope="module")
def pairs_by_verb(tmp_path_factory, space):
    root = tmp_path_factory.mktemp("geometry")
    generate_synthetic(root, 60, seed=11)
    out: dict[str, list] = {}
    for ann in ("trainval_hico.json", "test_hico.json"):
        for entry in json.loads((root / "annotations" / ann).read_text()):
            boxes = _boxes(entry)
            for h in entry["hoi_annotation"]:
                verb = space.verbs[space.verb_index_of_id[h["category_id"]]]
                out.setdefault(verb, []).append((boxes[h["subject_id"]], boxes[h["object_id"]]))
    return out


def test_every_verb_is_generated(pairs_by_verb, space):
    assert set(pairs_by_verb) == set(space.verbs)


def test_geometry_determines_the_verb(pairs_by_verb):
    """The layout rules of the module docstring, checked on the written boxes."""
    for verb, pairs in pairs_by_verb.items():
        for h, o in pairs:
            height = h[3] - h[1]
            o_cy = (o[1] + o[3]) / 2
            if verb == "no_interaction":
                assert not _overlap(h, o, slack=0.0), (verb, h, o)
                assert o[3] >= h[3] - 0.3 * height  # resting on the ground near the feet
                continue
            if verb not in ("fly", "throw"):
                assert _overlap(h, o), (verb, h, o)  # in contact with the person
            if verb == "fly":
                assert o[3] < h[1], (verb, h, o)  # kite entirely above the raised hand
            elif verb == "throw":
                assert o[3] < h[1], (verb, h, o)  # ball in the air above the hand
            elif verb == "kick":
                assert o_cy > h[1] + 0.75 * height, (verb, h, o)  # at the foot
            elif verb == "drink_with":
                assert o_cy < h[1] + 0.3 * height, (verb, h, o)  # at the mouth
            elif verb == "carry":
                assert o_cy < h[1], (verb, h, o)  # lifted above the head
            elif verb == "sit_on":
                assert abs(o[3] - h[3]) < 0.1 * height, (verb, h, o)  # same floor
            elif verb == "hold":
                assert h[1] + 0.1 * height < o_cy < h[1] + 0.6 * height, (verb, h, o)


def test_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="--images"):
        generate_synthetic(tmp_path, 0)
    generate_synthetic(tmp_path, 2)
    with pytest.raises(DataError, match="--overwrite"):
        generate_synthetic(tmp_path, 2)
    summary = generate_synthetic(tmp_path, 3, seed=2, overwrite=True)
    assert summary.num_train + summary.num_test == 3
    assert len(list((tmp_path / "images").rglob("*.jpg"))) == 3
