"""`openhoi evaluate`: HICO-DET (both protocols), recognition and V-COCO from files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
from cases import predictions  # noqa: E402
from vcoco_cases import write_files, write_pickle  # noqa: E402

from openhoi.cli import main  # noqa: E402
from openhoi.evaluation.prediction_files import (  # noqa: E402
    write_gen_vlkt_predictions,
    write_predictions,
)
from openhoi.label_space import load_label_space  # noqa: E402

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
    assert "python protocol: 2 images, 2 ground-truth instances, 2 detections" in out
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


# A hand-written test_hico.json (HICO-DET ids: person 1, sports ball 37; verbs hold 37, kick
# 45 -> interactions 493 "hold sports ball", 495 "kick sports ball") with what the references
# count entry by entry. Image 1: person H, balls B1, B2; entries kick (H, B1), hold (H, B2),
# hold (H, B1): the first "hold" entry is (H, B2) although the pair (H, B1) comes first.
# Image 2: hold (H, B) listed twice.
HOLD, KICK = 493, 495
B1, B2 = [200, 200, 299, 299], [230, 200, 329, 299]
DUP_GT = [
    {"file_name": "HICO_test2015_00000001.jpg",
     "annotations": [{"bbox": H, "category_id": 1}, {"bbox": B1, "category_id": 37},
                     {"bbox": B2, "category_id": 37}],
     "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": 45},
                        {"subject_id": 0, "object_id": 2, "category_id": 37},
                        {"subject_id": 0, "object_id": 1, "category_id": 37}]},
    {"file_name": "HICO_test2015_00000002.jpg",
     "annotations": [{"bbox": H, "category_id": 1}, {"bbox": B1, "category_id": 37}],
     "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": 37}] * 2},
]
# Image 1, d1: human IoU .6 with H, ball box overlapping B1 and B2 equally (IoU .739): a tie
# between the two "hold" entries, won by the first in the file, (H, B2); d2 = (H, B2): its best
# entry is taken -> FP; d3 = (H, B1) -> TP. Image 2: the first copy is found, the second never.
DUP_PREDS = [("HICO_test2015_00000001.jpg", [[0, 0, 99, 59], [215, 200, 314, 299], H, B2, B1],
              [(0, 1, HOLD, 0.9), (2, 3, HOLD, 0.8), (2, 4, HOLD, 0.7)]),
             ("HICO_test2015_00000002.jpg", [H, B1], [(0, 1, HOLD, 0.6), (0, 1, HOLD, 0.5)])]


@pytest.mark.parametrize("protocol", ["python", "official"])
@pytest.mark.parametrize("fmt", ["openhoi", "gen-vlkt"])
def test_hicodet_counts_every_annotation_entry(tmp_path, capsys, fmt, protocol):
    hico = load_label_space("hicodet")
    assert hico.interactions[HOLD] == (hico.verbs.index("hold"), hico.objects.index("sports ball"))
    assert hico.interactions[KICK] == (hico.verbs.index("kick"), hico.objects.index("sports ball"))
    (tmp_path / "test_hico.json").write_text(json.dumps(DUP_GT))
    if fmt == "openhoi":
        path = tmp_path / "preds.npz"
        write_predictions(path, [predictions(n, boxes, t)
                                 for n, boxes, t in DUP_PREDS], hico)
    else:  # GEN-VLKT / HOICLIP result records, written by hand
        path = tmp_path / "preds.json"
        path.write_text(json.dumps([
            {"filename": n, "predictions": [{"bbox": b, "category_id": 0}
                                            for b in boxes],
             "hoi_prediction": [{"subject_id": h, "object_id": o, "category_id": c, "score": s}
                                for h, o, c, s in t]} for n, boxes, t in DUP_PREDS]))
    assert main(["evaluate", "--dataset", "hicodet", "--annotations",
                 str(tmp_path / "test_hico.json"), "--predictions", str(path),
                 "--protocol", protocol, "--output", str(tmp_path / "r.json")]) == 0
    assert "2 images, 5 ground-truth instances, 5 detections" in capsys.readouterr().out
    res = json.loads((tmp_path / "r.json").read_text())
    num_gt = res["per_class"]["num_gt"]
    assert (num_gt[HOLD], num_gt[KICK], res["num_gt"]) == (4, 1, 5)
    # hold, ranked: TP FP TP TP FP over 4 positives: rec .25 .25 .5 .75 .75, prec 1 .5 2/3 3/4
    # 3/5 -> 3 thresholds (0 .. .2) at precision 1, 5 (.3 .. .7) at 3/4, 3 (.8 .. 1) at 0.
    assert res["per_class"]["ap"][HOLD] == pytest.approx((3 + 5 * 0.75) / 11, abs=1e-15)
    assert res["per_class"]["max_recall"][HOLD] == 0.75
    assert res["per_class"]["ap"][KICK] == 0.0
    if protocol == "python":  # P5: mean over the 2 classes with ground truth
        assert res["mAP"] == pytest.approx((3 + 5 * 0.75) / 11 / 2, abs=1e-15)
    else:  # O6: mean over all 600 classes
        assert res["mAP"] == pytest.approx((3 + 5 * 0.75) / 11 / 600, abs=1e-15)


def test_recognition_from_annotations(hico_files, capsys):
    tmp, preds = hico_files
    write_predictions(tmp / "p.json", preds, S)
    assert main(["evaluate", "--dataset", "synthetic", "--task", "recognition", "--annotations",
                 str(tmp / "test.json"), "--predictions", str(tmp / "p.json")]) == 0
    res = json.loads((tmp / "p.eval.json").read_text())
    assert res["per_class"]["ap"][0] == pytest.approx(1.0)  # both images rank class 0 first


def test_recognition_few_shot_counts_training_images(hico_files, capsys):
    tmp, preds = hico_files
    write_predictions(tmp / "p.json", preds, S)
    train = json.loads((tmp / "test.json").read_text())
    train[0]["hoi_annotation"] *= 6  # "hold sports ball" listed 6 times in one image
    (tmp / "train.json").write_text(json.dumps(train))
    assert main(["evaluate", "--dataset", "synthetic", "--task", "recognition", "--annotations",
                 str(tmp / "test.json"), "--predictions", str(tmp / "p.json"),
                 "--train-annotations", str(tmp / "train.json")]) == 0
    res = json.loads((tmp / "p.eval.json").read_text())
    assert res["per_class"]["train_count"][:2] == [2, 0]  # 2 images, not 7 entries
    # Few@5 = every class (all have <= 5 training images): only class 0 has AP 1 -> 1/13
    assert res["mAP_few@5"] == pytest.approx(1 / 13)


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


def test_evaluate_a_checkpoint_on_the_test_split(tmp_path, capsys):
    """--checkpoint: model, label space and preprocessing from the checkpoint; the test split
    from --data-root; the same numbers as scoring the written predictions file."""
    import torch

    from openhoi.checkpoint import make_checkpoint, save_checkpoint
    from openhoi.config import load_config
    from openhoi.data.synthetic import generate_synthetic
    from openhoi.label_space import load_label_space
    from openhoi.models.build import build_model_parts

    root = tmp_path / "syn"
    summary = generate_synthetic(root, 12, seed=3)
    torch.manual_seed(0)
    cfg = load_config("synthetic_tiny", ["data.root=/nonexistent"])
    space = load_label_space("synthetic")
    model = build_model_parts(cfg, space, torch.device("cpu")).model
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(ckpt, make_checkpoint(model=model, config=cfg, label_space=space))
    out = tmp_path / "res.json"
    assert main(["evaluate", "--dataset", "synthetic", "--checkpoint", str(ckpt),
                 "--data-root", str(root), "--output", str(out), "--device", "cpu"]) == 0
    res = json.loads(out.read_text())
    assert res["num_images"] == summary.num_test
    preds = tmp_path / "res.predictions.npz"
    assert preds.is_file()
    again = tmp_path / "again.json"
    assert main(["evaluate", "--dataset", "synthetic", "--predictions", str(preds),
                 "--annotations", str(root / "annotations" / "test_hico.json"),
                 "--output", str(again)]) == 0
    assert json.loads(again.read_text())["mAP"] == res["mAP"]
    assert main(["evaluate", "--dataset", "synthetic", "--checkpoint", str(ckpt),
                 "--predictions", str(preds)]) == 2
    assert "either --predictions" in capsys.readouterr().err


def test_hico_official_from_anno_bbox_mat(tmp_path, capsys):
    from hico_mat_cases import hoi, write_anno_bbox

    hico = load_label_space("hicodet")
    mat_h, mat_o = [208, 33, 427, 300], [59, 98, 572, 405]  # HICO_train2015_00000001
    path = write_anno_bbox(tmp_path / "anno_bbox.mat", [("a.jpg", [hoi(HOLD + 1, [mat_h],
                                                                       [mat_o], [[1, 1]])])])
    json_h, json_o = [v - 1 for v in mat_h], [v - 1 for v in mat_o]
    write_predictions(tmp_path / "p.npz", [predictions(
        "a.jpg", [[json_h[0] + 73, json_h[1], json_h[2] + 73, json_h[3]], json_o],
        [(0, 1, HOLD, 0.9)])], hico)
    argv = ["evaluate", "--dataset", "hicodet", "--anno-bbox-mat", str(path), "--predictions",
            str(tmp_path / "p.npz"), "--protocol", "official", "--output", str(tmp_path / "r.json")]
    assert main(argv) == 0
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["per_class"]["ap"][HOLD] == pytest.approx(1.0)  # IoU 147 / 293 in the mat frame
    assert res["per_class"]["ap_ko"][HOLD] == pytest.approx(1.0)
    assert main(argv + ["--annotations", str(tmp_path / "x.json")]) == 2
    assert "one of them" in capsys.readouterr().err


def test_scoring_files_never_imports_torch(hico_files):
    """The file-to-metrics path is numpy only: torch's import alone costs seconds."""
    tmp, preds = hico_files
    write_predictions(tmp / "p.npz", preds, S)
    write_predictions(tmp / "p.jsonl", preds, S)
    write_gen_vlkt_predictions(tmp / "gen.json", preds)
    runs = [["--predictions", str(tmp / name), "--protocol", protocol, "--output",
             str(tmp / f"{name}.{protocol}.json")]
            for name in ("p.npz", "p.jsonl", "gen.json") for protocol in ("python", "official")]
    code = ("import sys\nfrom openhoi.cli import main\n"
            f"runs = {runs!r}\n"
            "rc = [main(['evaluate', '--dataset', 'synthetic', '--annotations', "
            f"{str(tmp / 'test.json')!r}] + r) for r in runs]\n"
            "print(rc, sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    assert out == f"{[0] * len(runs)} []"
    assert json.loads((tmp / "gen.json.official.json").read_text())["mAP"] > 0
