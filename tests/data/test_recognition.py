import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from openhoi.config import DataConfig
from openhoi.data.recognition import (
    RecognitionDataset,
    build_recognition_data,
    cap_rare,
    few_shot,
    read_hico_split,
    read_image_level_split,
    recognition_collate,
    recognition_transforms,
)
from openhoi.errors import ConfigError, DataError
from openhoi.evaluation.recognition_map import HOIRecognitionEvaluator
from openhoi.label_space import load_label_space


def _write_hico(root, anno_train, anno_test):
    """anno.mat in the real layout: list_* are [N, 1] cell arrays, anno_* are [600, N]."""
    names = {}
    for split, anno in (("train", anno_train), ("test", anno_test)):
        n = anno.shape[1]
        names[split] = [f"HICO_{split}2015_{k:08d}.jpg" for k in range(1, n + 1)]
        folder = root / "images" / f"{split}2015"
        folder.mkdir(parents=True)
        for name in names[split]:
            Image.new("RGB", (40, 30), (10, 20, 30)).save(folder / name)
    cells = {f"list_{s}": np.array([[v] for v in names[s]], dtype=object) for s in names}
    scipy.io.savemat(root / "anno.mat", {**cells, "anno_train": anno_train, "anno_test": anno_test})
    return names


def test_hico_anno_mat_layout_nan_and_ambiguous(tmp_path):
    space = load_label_space("hicodet")
    train = np.full((600, 3), np.nan)
    train[0, 0], train[0, 1], train[5, 2], train[7, 0] = 1, -1, 0, 1
    test = np.full((600, 2), -1.0)
    test[3, 1] = 1
    names = _write_hico(tmp_path, train, test)
    split = read_hico_split(tmp_path, "train", space)
    assert split.image_ids == names["train"]
    assert split.labels.shape == (3, 600) and split.labels.dtype == np.float32
    assert split.labels[0, 0] == 1 and split.labels[1, 0] == -1
    assert split.labels[2, 5] == 0  # ambiguous kept as 0 (ignored later)
    assert split.labels[2, 100] == -1  # NaN (unknown) -> negative, DEFR's practice
    counts = split.train_counts
    assert counts[0] == 1 and counts[7] == 1 and counts.sum() == 2
    ds = RecognitionDataset(split, recognition_transforms(16, (0.5,) * 3, (0.5,) * 3,
                                                          train=False))
    img, lab = ds[2]
    assert img.shape == (3, 16, 16) and lab.orig_size == (30, 40)
    assert lab.labels[5] == 0 and lab.image_id == names["train"][2]
    batch, labels = recognition_collate([ds[0], ds[1]])
    assert batch.images.shape == (2, 3, 16, 16) and len(labels) == 2


def test_hico_bad_inputs_name_the_file(tmp_path):
    space = load_label_space("hicodet")
    train = np.full((600, 2), -1.0)
    train[1, 1] = 2.0
    _write_hico(tmp_path, train, np.full((600, 1), -1.0))
    with pytest.raises(DataError, match=r"anno.mat: anno_train holds 2\.0"):
        read_hico_split(tmp_path, "train", space)
    (tmp_path / "images" / "test2015" / "HICO_test2015_00000001.jpg").unlink()
    with pytest.raises(DataError, match="HICO_test2015_00000001.jpg"):
        read_hico_split(tmp_path, "test", space)
    with pytest.raises(DataError, match="shape"):
        read_hico_split(tmp_path, "train", load_label_space("synthetic"))


def test_synthetic_labels_match_the_evaluator_from_detection_ground_truth(synthetic_root,
                                                                          space):
    cfg = DataConfig(dataset="synthetic", root=str(synthetic_root))
    split = read_image_level_split(cfg, "test", space)
    from openhoi.data.dataset import load_ground_truth

    ev = HOIRecognitionEvaluator.from_targets(load_ground_truth(cfg, "test", space), space)
    order = [ev.index[n] for n in split.image_ids]
    assert np.array_equal(split.labels, ev.labels[order].astype(np.float32))
    assert set(np.unique(split.labels)) <= {1.0, -1.0} and (split.labels == 1).any()


def test_rare_cap_creates_few_shot_classes(synthetic_root, space):
    cfg = DataConfig(dataset="synthetic", root=str(synthetic_root), rare_cap=1, val_size=2)
    full = read_image_level_split(cfg, "train", space)
    data = build_recognition_data(cfg, space)
    rare = list(space.rare_interactions)
    assert rare and (data.train_counts[rare] <= 1).all()
    kept = cap_rare(full, rare, 1)
    assert len(data.train.image_ids) + 2 == len(kept) < len(full.image_ids) + 1
    assert data.summary["val_images"] == 2
    # a capped image is dropped whole, non-rare classes keep their other images
    assert (full.labels[kept][:, rare] == 1).sum(0).max() <= 1


def test_rare_cap_split_caps_a_zero_shot_splits_interactions(tmp_path):
    from openhoi.data.synthetic import generate_synthetic

    generate_synthetic(tmp_path, 60, seed=0, semantic=True)
    space = load_label_space("synthetic_semantic")
    assert not space.rare_interactions  # why the split is needed here
    cfg = DataConfig(dataset="synthetic", root=str(tmp_path), label_space="synthetic_semantic",
                     rare_cap=1, rare_cap_split="uc")
    full = read_image_level_split(cfg, "train", space)
    data = build_recognition_data(cfg, space)
    capped = list(space.zero_shot_split("uc").unseen_interactions)
    assert ((full.labels == 1).sum(0)[capped] > 1).any()
    assert (data.train_counts[capped] <= 1).all()
    others = [i for i in range(space.num_interactions) if i not in capped]
    assert data.train_counts[others].sum() > 0
    with pytest.raises(ConfigError, match="rare_cap"):
        DataConfig(rare_cap_split="uc")


def test_few_shot_draws_k_images_per_class_after_the_val_hold_out(synthetic_root, space):
    cfg = DataConfig(dataset="synthetic", root=str(synthetic_root), val_size=4, shots=2)
    full = read_image_level_split(cfg, "train", space)
    available = (full.labels == 1).sum(0)
    data = build_recognition_data(cfg, space)
    assert set(data.train.image_ids).isdisjoint(data.val.image_ids)
    # every class reaches min(k, what the post-hold-out split has); the set is small
    plain = build_recognition_data(DataConfig(dataset="synthetic", root=str(synthetic_root),
                                              val_size=4), space)
    have = (plain.train.labels == 1).sum(0)
    assert (data.train_counts >= np.minimum(2, have)).all()
    assert len(data.train.image_ids) < len(plain.train.image_ids)
    assert set(data.train.image_ids) <= set(plain.train.image_ids)
    assert data.summary["shots"] == 2 and available.sum() > 0
    # seeded: same seed, same set; another seed, another set; never more than needed
    again = few_shot(plain.train, 2, 1)
    assert np.array_equal(again, few_shot(plain.train, 2, 1))
    assert not np.array_equal(again, few_shot(plain.train, 2, 7))
    assert len(again) <= 2 * len(space.interactions)


def test_train_transform_is_square_and_random():
    t = recognition_transforms(24, (0.5,) * 3, (0.5,) * 3, train=True)
    img = Image.fromarray((np.random.default_rng(0).random((30, 50, 3)) * 255).astype(np.uint8))
    torch.manual_seed(0)
    a = t(img)
    b = t(img)
    assert a.shape == (3, 24, 24) and not torch.equal(a, b)
