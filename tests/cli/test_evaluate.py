"""`openhoi evaluate`: HICO-DET (both protocols), recognition and V-COCO from files."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
from cases import predictions  # noqa: E402
from vcoco_cases import write_files, write_pickle  # noqa: E402

from openhoi.cli import main  # noqa: E402
from openhoi.data.label_space import load_label_space  # noqa: E402
from openhoi.evaluation.prediction_files import (  # noqa: E402
    write_gen_vlkt_predictions,
    write_predictions,
)

S = load_label_space("synthetic")
H, B = [0, 0, 99, 99], [200, 200, 249, 249]


@pytest.fixture
def hico_files(tmp_path):
    # two images, one "hold sports ball" pair each (verb id 1, ball COCO id 37)
    gt = [{"file_name": n, "annotations": [{"bbox": H, "category_id": 1},
                                           {"bbox": B, "category_id": 37}],
           "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": 1}]}
          for n in ("a.jpg", "b.jpg")]
    (tmp_path / "test.json").write_text(json.dumps(gt))
    preds = [predictions("a.jpg", [H, B], [(0, 1, 0, 0.9), (0, 1, 1, 0.5)]),
             predictions("b.jpg", [H, [0, 0, 5, 5]], [(0, 1, 0, 0.8)])]
    return tmp_path, preds


def test_hico_python_protocol_table_json_and_plot(hico_files, capsys):
    tmp, preds = hico_files
    write_predictions(tmp / "p.npz", preds, S)
    argv = ["evaluate", "--dataset", "synthetic", "--annotations", str(tmp / "test.json"),
            "--predictions", str(tmp / "p.npz"), "--plot", str(tmp / "ap.png"),
            "--train-annotations", str(tmp / "test.json")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    # class 1 has no ground truth: its detection is not counted (P2)
    assert "python protocol: 2 images, 2 ground-truth pairs, 2 detections" in out
    # class 0 ranked a (.9, TP), b (.8, object box misses, FP): rec .5, prec 1 -> AP 6/11
    assert "Default" in out and "54.5455" in out
    res = json.loads((tmp / "p.eval.json").read_text())
    assert res["per_class"]["ap"][0] == pytest.approx(6 / 11)
    assert res["mAP"] == pytest.approx(6 / 11)  # the only class with ground truth
    assert (tmp / "ap.png").stat().st_size > 1000


def test_hico_official_with_gen_vlkt_file(hico_files, capsys):
    tmp, preds = hico_files
    write_gen_vlkt_predictions(tmp / "gen.json", preds)
    assert main(["evaluate", "--dataset", "synthetic", "--annotations", str(tmp / "test.json"),
                 "--predictions", str(tmp / "gen.json"), "--protocol", "official",
                 "--zero-shot", "rf_uc", "--output", str(tmp / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "Known Object" in out and "Unseen" in out
    res = json.loads((tmp / "r.json").read_text())
    assert res["protocol"] == "official" and len(res["per_class"]["ap_ko"]) == 13


def test_recognition_from_annotations(hico_files, capsys):
    tmp, preds = hico_files
    write_predictions(tmp / "p.json", preds, S)
    assert main(["evaluate", "--dataset", "synthetic", "--task", "recognition", "--annotations",
                 str(tmp / "test.json"), "--predictions", str(tmp / "p.json")]) == 0
    res = json.loads((tmp / "p.eval.json").read_text())
    assert res["per_class"]["ap"][0] == pytest.approx(1.0)  # both images rank class 0 first


def test_vcoco_pickle(tmp_path, capsys):
    files = write_files(tmp_path, [(7, 640, 480)], [(1, 7, 1, [10, 10, 50, 100], 5000.0, False)],
                        {1: {1: []}})  # action 1 = stand (agent only)
    write_pickle(tmp_path / "d.pkl", [{"image_id": 7, "person_box": [10, 10, 59, 109],
                                       "stand_agent": 0.9}])
    assert main(["evaluate", "--dataset", "vcoco", "--coco", str(files[0]), "--vcoco",
                 str(files[1]), "--ids", str(files[2]), "--predictions",
                 str(tmp_path / "d.pkl")]) == 0
    assert "AP_agent" in capsys.readouterr().out


def test_user_errors_exit_2_and_name_the_problem(hico_files, capsys):
    tmp, _ = hico_files
    assert main(["evaluate", "--dataset", "synthetic", "--predictions", "x.json"]) == 2
    assert "needs --annotations" in capsys.readouterr().err
    (tmp / "bad.json").write_text(json.dumps([{"filename": "a.jpg", "predictions": []}]))
    assert main(["evaluate", "--dataset", "synthetic", "--annotations", str(tmp / "test.json"),
                 "--predictions", str(tmp / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert "bad.json: record 0 (image 'a.jpg'): missing list field 'hoi_prediction'" in err
