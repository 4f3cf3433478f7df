"""``make-synthetic --layout vcoco``: V-COCO's layout and official files, read back by the
readers a V-COCO user's files go through; the official ground truth equals the one built
from the annotation json."""

import json

import numpy as np
import pytest

from openhoi.cli import main
from openhoi.config import load_config
from openhoi.data.dataset import build_dataset, resolve_label_space
from openhoi.evaluation.vcoco_files import read_vcoco_ground_truth
from openhoi.evaluation.vcoco_targets import vcoco_ground_truth_from_targets


@pytest.fixture(scope="module")
def vcoco_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn_vcoco")
    assert main(["make-synthetic", "--layout", "vcoco", "--out", str(root), "--images", "16",
                 "--seed", "2"]) == 0
    return root


def test_layout_and_official_files(vcoco_root):
    files = {p.relative_to(vcoco_root).as_posix() for p in vcoco_root.rglob("*") if p.is_file()}
    assert {"annotations/trainval_vcoco.json", "annotations/test_vcoco.json",
            "annotations/corre_vcoco.npy", "official/instances_vcoco_all_2014.json",
            "official/vcoco_test.json", "official/vcoco_test.ids"} <= files
    assert not any(f.startswith(".hico") for f in files)  # the temporary HICO copy is gone
    test = json.loads((vcoco_root / "annotations" / "test_vcoco.json").read_text())
    assert all((vcoco_root / "images" / "val2014" / e["file_name"]).is_file() for e in test)
    assert max(h["category_id"] for e in test for h in e["hoi_annotation"]) < 7  # 0-based
    assert main(["make-synthetic", "--layout", "vcoco", "--out", str(vcoco_root)]) == 2


def test_official_ground_truth_equals_the_annotations(vcoco_root):
    config = load_config("synthetic_tiny_vcoco", [f"data.root={vcoco_root}"])
    space = resolve_label_space(config.data)
    test = build_dataset(config.data, "test", space)
    from_json = vcoco_ground_truth_from_targets(
        [test.ground_truth(i) for i in range(len(test))], space)
    ev = config.eval
    official = read_vcoco_ground_truth(*(vcoco_root / f for f in (
        ev.vcoco_coco_file, ev.vcoco_test_file, ev.vcoco_test_ids)))
    assert official.actions == from_json.actions and official.slots == from_json.slots
    assert official.file_names == from_json.file_names
    np.testing.assert_array_equal(official.labels, from_json.labels)
    np.testing.assert_array_equal(official.person_img, from_json.person_img)
    # vsrl_eval clips to W - 1 / H - 1; the json clips to W / H
    np.testing.assert_allclose(official.person_boxes, from_json.person_boxes, atol=1.0)
    has_role = official.role_boxes[..., 0] >= 0
    np.testing.assert_array_equal(has_role, from_json.role_boxes[..., 0] >= 0)
    np.testing.assert_allclose(official.role_boxes[has_role], from_json.role_boxes[has_role],
                               atol=1.0)
    assert official.num_pos.sum() > 0
