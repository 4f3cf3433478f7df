import json
import logging
import shutil

import pytest
import torch
from hoi_files import hico_entry, write_hico

from openhoi.config import DataConfig
from openhoi.data.dataset import build_dataset, load_ground_truth
from openhoi.errors import DataError

PERSON, BALL = 1, 37


def small_cfg(root, **kw) -> DataConfig:
    return DataConfig(dataset="synthetic", root=str(root), train_scales=(64, 80), max_size=128,
                      crop_scales=(48, 64), crop_size=(32, 48), test_scale=96, **kw)


def test_synthetic_train_items(synthetic_root, space):
    ds = build_dataset(small_cfg(synthetic_root), "train", space)
    ann = json.loads((synthetic_root / "annotations" / "trainval_hico.json").read_text())
    assert len(ds) == len(ann)
    torch.manual_seed(0)
    for i in range(4):
        image, t = ds[i]
        assert image.dtype == torch.float32 and image.shape == (3, *t.size)
        assert min(t.size) in (64, 80) or max(t.size) == 128
        assert t.image_id == ann[i]["file_name"]
        assert t.verbs.shape == (t.num_pairs, space.num_verbs)


def test_aspect_ratios_from_headers_and_from_stated_sizes(synthetic_root, space, tmp_path):
    from PIL import Image

    ds = build_dataset(small_cfg(synthetic_root), "train", space)
    ratios = ds.aspect_ratios()
    for i in (0, len(ds) - 1):
        with Image.open(ds.image_paths[i]) as img:
            assert ratios[i] == pytest.approx(img.width / img.height)
    root = tmp_path / "stated"
    shutil.copytree(synthetic_root, root)
    ann_file = root / "annotations" / "trainval_hico.json"
    entries = json.loads(ann_file.read_text())
    entries[0].update(height=400, width=1200)  # a stated size wins over the header
    ann_file.write_text(json.dumps(entries))
    stated = build_dataset(small_cfg(root), "train", space).aspect_ratios()
    assert stated[0] == pytest.approx(3.0) and stated[1:] == pytest.approx(ratios[1:])


def test_test_split_resizes_to_test_scale(synthetic_root, space):
    ds = build_dataset(small_cfg(synthetic_root), "test", space)
    image, t = ds[0]
    assert min(image.shape[1:]) == 96 and t.size == tuple(image.shape[1:])
    assert t.orig_size != t.size


def test_ground_truth_is_in_file_pixels(synthetic_root, space):
    gt = load_ground_truth(small_cfg(synthetic_root), "test", space)
    ann = json.loads((synthetic_root / "annotations" / "test_hico.json").read_text())
    assert [g.image_id for g in gt] == [a["file_name"] for a in ann]
    for g, a in zip(gt, ann):
        assert g.boxes_xyxy.tolist() == [b["bbox"] for b in a["annotations"]]
        assert g.size == g.orig_size and 128 <= g.size[0] <= 176
        triplets = {(h["subject_id"], h["object_id"], space.verb_index_of_id[h["category_id"]])
                    for h in a["hoi_annotation"]}
        got = {(s, o, v) for (s, o), row in zip(g.pair_idx.tolist(), g.verbs)
               for v in row.nonzero().flatten().tolist()}
        assert got == triplets


def overshoot_root(tmp_path, x2):
    # images are 60 x 80 (h x w); tolerance max(2 px, 2% of 80) = 2 px
    return write_hico(tmp_path, [
        hico_entry("a.jpg", [([0, 0, x2, 60], PERSON), ([10, 10, 20, 20], BALL)],
                   [(0, 1, 1)]),
        hico_entry("b.jpg", [([0, 0, 10, 10], PERSON), ([10, 10, 20, 20], BALL)], [(0, 1, 2)]),
    ], image_size=(60, 80))


def test_small_overshoot_is_clipped_for_training_but_kept_in_ground_truth(tmp_path, space):
    cfg = small_cfg(overshoot_root(tmp_path, 81.5))
    ds = build_dataset(cfg, "train", space, transforms=None)
    image, t = ds[0]
    assert image.size == (80, 60) and t.boxes_xyxy[0].tolist() == [0, 0, 80, 60]
    assert ds.ground_truth(0).boxes_xyxy[0].tolist() == [0, 0, 81.5, 60]


def test_absurd_box_names_file_image_and_field(tmp_path, space, caplog):
    cfg = small_cfg(overshoot_root(tmp_path, 120))
    ds = build_dataset(cfg, "train", space, transforms=None)
    with pytest.raises(DataError) as info:
        ds[0]
    msg = str(info.value)
    assert "trainval_hico.json" in msg and "a.jpg" in msg and "'annotations[0].bbox'" in msg
    ds = build_dataset(small_cfg(tmp_path, skip_invalid=True), "train", space, transforms=None)
    with caplog.at_level(logging.WARNING):
        _, t = ds[0]
    assert t.labels.tolist() == [space.objects.index("sports ball")] and t.num_pairs == 0
    assert "a.jpg" in caplog.text


def test_corrupt_image_is_named_and_skippable(tmp_path, space, caplog):
    root = overshoot_root(tmp_path, 50)
    bad = root / "images" / "train2015" / "a.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DataError, match=f"{bad}: cannot read image"):
        build_dataset(small_cfg(root), "train", space, transforms=None)[0]
    ds = build_dataset(small_cfg(root, skip_invalid=True), "train", space, transforms=None)
    with caplog.at_level(logging.WARNING):
        _, t = ds[0]
    assert t.image_id == "b.jpg" and "a.jpg" in caplog.text


def test_missing_image_fails_at_build_time(tmp_path, space, caplog):
    root = overshoot_root(tmp_path, 50)
    (root / "images" / "train2015" / "b.jpg").unlink()
    with pytest.raises(DataError) as info:
        build_dataset(small_cfg(root), "train", space)
    msg = str(info.value)
    assert "trainval_hico.json" in msg and "image 1 (b.jpg)" in msg and "'file_name'" in msg
    with caplog.at_level(logging.WARNING):
        ds = build_dataset(small_cfg(root, skip_invalid=True), "train", space)
    assert len(ds) == 1 and "b.jpg" in caplog.text


def test_missing_folders_and_root(tmp_path, space):
    root = overshoot_root(tmp_path / "d", 50)
    with pytest.raises(DataError, match="data.root is not set"):
        build_dataset(DataConfig(dataset="synthetic"), "train", space)
    with pytest.raises(DataError, match="not found"):
        build_dataset(small_cfg(tmp_path / "nowhere"), "train", space)
    shutil.rmtree(root / "images" / "test2015")
    with pytest.raises(DataError, match="test2015"):
        build_dataset(small_cfg(root), "test", space)
    (root / "annotations" / "trainval_hico.json").unlink()
    with pytest.raises(DataError, match="trainval_hico.json: annotation file not found"):
        build_dataset(small_cfg(root), "train", space)


def test_train_skips_images_without_pairs(tmp_path, space):
    root = write_hico(tmp_path, [hico_entry("a.jpg", [([0, 0, 5, 5], PERSON)], []),
                                 hico_entry("b.jpg", [([0, 0, 5, 5], PERSON),
                                                      ([1, 1, 3, 3], BALL)], [(0, 1, 1)])],
                      test=[hico_entry("c.jpg", [], [])])
    assert len(build_dataset(small_cfg(root), "train", space)) == 1
    assert len(build_dataset(small_cfg(root, train_skip_empty=False), "train", space)) == 2
    assert len(build_dataset(small_cfg(root), "test", space)) == 1  # test keeps everything


def test_vcoco_layout_and_no_object_pairs(tmp_path, space):
    ann_dir = tmp_path / "annotations"
    ann_dir.mkdir()
    train = [hico_entry("COCO_train2014_000000000009.jpg", [([0, 0, 9, 9], PERSON)],
                        [(0, -1, 8)])]
    (ann_dir / "trainval_vcoco.json").write_text(json.dumps(train))
    folder = tmp_path / "images" / "val2014"  # the test folder holds it: found there too
    folder.mkdir(parents=True)
    from PIL import Image
    Image.new("RGB", (12, 10)).save(folder / train[0]["file_name"])
    cfg = DataConfig(dataset="vcoco", root=str(tmp_path), label_space="synthetic")
    ds = build_dataset(cfg, "train", space, transforms=None)
    _, t = ds[0]
    assert t.pair_idx.tolist() == [[0, -1]] and t.size == (10, 12)


@pytest.mark.data
def test_real_hicodet_annotations_read_strictly():
    """With OPENHOI_DATA pointing at hico_20160224_det (or its parent): both splits read without
    skipping anything, and the test ground truth has an image size for every image."""
    import os
    from pathlib import Path

    from openhoi.data.hicodet import read_hicodet
    from openhoi.label_space import load_label_space

    base = os.environ.get("OPENHOI_DATA")
    roots = [Path(base), Path(base) / "hico_20160224_det"] if base else []
    root = next((r for r in roots if (r / "annotations" / "test_hico.json").is_file()), None)
    if root is None:
        pytest.skip("no HICO-DET under OPENHOI_DATA")
    hico = load_label_space("hicodet")
    train = read_hicodet(root, "train", hico)
    test = read_hicodet(root, "test", hico)
    assert 37_000 < len(train) <= 38_118 and 9_000 < len(test) <= 9_658
    assert int(train.pair_verbs.sum()) > 110_000  # ~117,871 training HOI instances
    gt = load_ground_truth(DataConfig(root=str(root)), "test", hico)
    assert len(gt) == len(test) and all(min(g.orig_size) > 0 for g in gt)
