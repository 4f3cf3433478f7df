"""The CSV interchange format, its converter to the HICO-DET layout, ``data.dataset=custom``
and the data report."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from openhoi.cli import main
from openhoi.config import DataConfig
from openhoi.data.class_lists import ClassEntry
from openhoi.data.custom import convert_csv, csv_to_source, read_csv_rows
from openhoi.data.dataset import LAYOUTS, build_dataset, resolve_label_space
from openhoi.data.label_space_builder import build_label_space
from openhoi.data.report import dataset_report, format_report
from openhoi.errors import DataError

HEADER = ("image,verb,object,human_x1,human_y1,human_x2,human_y2,object_x1,object_y1,"
          "object_x2,object_y2\n")
ROWS = ("a/1.jpg,pour,teapot,1,2,30,40,20,5,35,20\n"
        "a/1.jpg,hold,teapot,1,2,30,40,20,5,35,20\n"
        "a/1.jpg,pour,teapot,1,2,30,40,20,5,35,20\n"      # exact repeat: dropped
        "a/1.jpg,wave,,40,2,60,40,,,,\n"
        "b.jpg,,,,,,,,,,\n")
OBJECT_IDS, VERB_IDS = {"person": 1, "teapot": 2}, {"pour": 1, "hold": 2, "wave": 3}


def _csv(tmp_path, rows: str, name: str = "train.csv"):
    path = tmp_path / name
    path.write_text(HEADER + rows)
    return path


def test_csv_rows_become_images_with_shared_boxes(tmp_path):
    read = csv_to_source(_csv(tmp_path, ROWS), OBJECT_IDS, VERB_IDS, "person")
    assert read.duplicates == 1 and read.image_names == ["a/1.jpg", "b.jpg"]
    first, second = read.source.entries
    assert first["file_name"] == "a__1.jpg"
    assert [a["category_id"] for a in first["annotations"]] == [1, 2, 1]  # person, teapot, person
    assert [(h["subject_id"], h["object_id"], h["category_id"])
            for h in first["hoi_annotation"]] == [(0, 1, 1), (0, 1, 2), (2, -1, 3)]
    assert second["annotations"] == [] and second["hoi_annotation"] == []
    assert read.source.where(0, 2) == f"{tmp_path / 'train.csv'} line 5"


@pytest.mark.parametrize("row, message", [
    ("a.jpg,pour,teapot,1,2,30,,20,5,35,20\n", r"line 2: box columns \['human_y2'\] are empty"),
    ("a.jpg,pour,teapot,1,2,30,40,,,,\n", "line 2: give both the object class and its box"),
    ("a.jpg,pour,,,,,,,,,\n", "line 2: verb 'pour' without a human box"),
    ("a.jpg,,teapot,,,,,20,5,35,20\n", "line 2: boxes without a verb"),
    ("a.jpg,pour,teapot,1,2,x,40,20,5,35,20\n", "line 2: box .* is not four numbers"),
    ("a.jpg,pour,teapot,30,2,1,40,20,5,35,20\n", "line 2: box .* needs finite x1 <= x2"),
    (",pour,teapot,1,2,30,40,20,5,35,20\n", "line 2: column 'image' is empty"),
])
def test_csv_shape_errors_name_the_line(tmp_path, row, message):
    with pytest.raises(DataError, match=message):
        read_csv_rows(_csv(tmp_path, row))


def test_csv_unknown_names_and_columns(tmp_path):
    with pytest.raises(DataError, match=r"line 3: column 'object': 'kettle' is not an object"):
        csv_to_source(_csv(tmp_path, "a.jpg,pour,teapot,1,2,30,40,20,5,35,20\n"
                                     "a.jpg,pour,kettle,1,2,30,40,20,5,35,20\n"),
                      OBJECT_IDS, VERB_IDS, "person")
    (tmp_path / "bad.csv").write_text("image,verb,object\na.jpg,pour,teapot\n")
    with pytest.raises(DataError, match=r"header lacks columns \['human_x1'"):
        read_csv_rows(tmp_path / "bad.csv")


@pytest.fixture
def kitchen(tmp_path):
    """A converted two-split dataset: (root, label space, photos folder)."""
    photos = tmp_path / "photos"
    (photos / "a").mkdir(parents=True)
    for name, color in (("a/1.jpg", 50), ("b.jpg", 90), ("c.jpg", 130)):
        Image.new("RGB", (64, 48), (color, color, color)).save(photos / name)
    train = _csv(tmp_path, ROWS)
    test = _csv(tmp_path, "c.jpg,hold,teapot,1,2,30,40,20,5,35,20\n", "test.csv")
    objects = [ClassEntry(n, i) for n, i in OBJECT_IDS.items()]
    verbs = [ClassEntry(n, i) for n, i in VERB_IDS.items()]
    source = csv_to_source(train, OBJECT_IDS, VERB_IDS, "person").source
    space = build_label_space("kitchen", objects, verbs, [source], no_object_verbs=["wave"])
    root = tmp_path / "kitchen"
    convert_csv({"train": train, "test": test}, space, photos, root)
    return root, space, photos


def test_converted_dataset_loads_as_custom(kitchen):
    root, space, _ = kitchen
    cfg = DataConfig(dataset="custom", root=str(root))
    assert resolve_label_space(cfg) == space  # <root>/label_space.json
    data = build_dataset(cfg, "train", space, transforms=None)
    image, targets = data.load(0)
    assert image.size == (64, 48)
    assert targets.pair_idx.tolist() == [[0, 1], [2, -1]]  # wave has no object
    assert targets.verbs.tolist() == [[1, 1, 0], [0, 0, 1]]
    entries = json.loads((root / "annotations" / "trainval_hico.json").read_text())
    assert (entries[0]["height"], entries[0]["width"]) == (48, 64)
    names = [f"{space.verbs[v]} {space.objects[o] if o >= 0 else '-'}"
             for v, o in space.interactions]
    assert [names[h["hoi_category_id"] - 1] for h in entries[0]["hoi_annotation"]] == [
        "pour teapot", "hold teapot", "wave -"]


def test_custom_needs_a_label_space(tmp_path):
    with pytest.raises(DataError, match="label_space.json not found: write it with"):
        resolve_label_space(DataConfig(dataset="custom", root=str(tmp_path)))


def test_converter_rejects_boxes_outside_the_image(tmp_path, kitchen):
    _, space, photos = kitchen
    bad = _csv(tmp_path, "b.jpg,hold,teapot,1,2,30,40,20,5,95,20\n", "bad.csv")
    with pytest.raises(DataError, match=r"bad\.csv line 2: object box .* outside the 64x48"):
        convert_csv({"train": bad}, space, photos, tmp_path / "out")
    missing = _csv(tmp_path, "zzz.jpg,hold,teapot,1,2,30,40,20,5,35,20\n", "missing.csv")
    with pytest.raises(DataError, match="zzz.jpg: cannot read image"):
        convert_csv({"train": missing}, space, photos, tmp_path / "out")
    not_class = _csv(tmp_path, "b.jpg,wave,teapot,1,2,30,40,20,5,35,20\n", "nc.csv")
    with pytest.raises(DataError, match=r"nc\.csv line 2: \(wave, teapot\) is not an interaction"):
        convert_csv({"train": not_class}, space, photos, tmp_path / "out")


def test_report_finds_gaps_bad_boxes_and_duplicates(kitchen):
    root, space, _ = kitchen
    ann_file = root / "annotations" / "trainval_hico.json"
    entries = json.loads(ann_file.read_text())
    for e in entries:  # sizes unknown: bounds are checked against the image files
        del e["height"], e["width"]
    entries[0]["annotations"][1]["bbox"] = [20, 5, 200, 20]  # far outside the 64x48 image
    entries[0]["hoi_annotation"].append({"subject_id": 0, "object_id": 1, "category_id": 3})
    ann_file.write_text(json.dumps(entries))
    # the test image is a copy of a training image: a leak
    shutil.copy(root / "images" / "train2015" / "b.jpg", root / "images" / "test2015" / "c.jpg")
    report = dataset_report(lambda s: LAYOUTS["custom"](root, s), space)
    train = report["splits"]["train"]
    assert train["boxes_outside"] == 1 and train["outside_examples"][0]["image"] == "a__1.jpg"
    assert train["instances_not_a_class"] == 1
    assert train["not_a_class_examples"] == {"wave teapot": 1}
    assert train["images_without_hoi"] == 1
    assert report["duplicates"]["across_splits"] == 1
    assert report["no_test_instances"]["interactions"] == ["pour teapot", "wave (no object)"]
    text = format_report(report)
    assert "1 boxes outside their image: a__1.jpg box 1" in text
    assert "images are in more than one split" in text
    counts = {i["name"]: (i["train"], i["test"]) for i in report["interactions"]}
    assert counts == {"pour teapot": (1, 0), "hold teapot": (1, 1), "wave (no object)": (1, 0)}
    assert np.all([i["rare"] for i in report["interactions"]])


def test_cli_errors_exit_2_naming_the_line(tmp_path, kitchen, capsys):
    _, _, photos = kitchen
    bad = _csv(tmp_path, "b.jpg,hold,kettle,1,2,30,40,20,5,35,20\n", "bad.csv")
    args = ["convert-annotations", "--label-space", str(tmp_path / "kitchen" / "label_space.json"),
            "--images", str(photos), "--out", str(tmp_path / "out")]
    assert main([*args, "--train", str(bad)]) == 2
    assert "bad.csv line 2: column 'object': 'kettle' is not an object class" in (
        capsys.readouterr().err)
    assert main(args) == 2
    assert "give --train and/or --test" in capsys.readouterr().err
    assert main(["data-report", str(tmp_path / "nowhere")]) == 2
    assert "label_space.json not found" in capsys.readouterr().err
