"""`openhoi evaluate` under bad input and faults: NaN weights refused, --checkpoint
--skip-invalid past an unreadable test image, distinct result names for x.json / x.jsonl /
x.npz, inference --set, read-only and disk-full outputs named with exit 2."""

import errno
import json

import pytest
import torch

from openhoi.checkpoint import make_checkpoint, save_checkpoint
from openhoi.cli import main
from openhoi.config import load_config
from openhoi.data.synthetic import generate_synthetic
from openhoi.evaluation.prediction_files import read_predictions, write_predictions
from openhoi.label_space import load_label_space
from openhoi.models.build import build_model_parts

S = load_label_space("synthetic")


def _save(path, nan=False):
    torch.manual_seed(0)
    cfg = load_config("synthetic_tiny", ["data.root=/nonexistent", "data.test_scale=64",
                                         "data.max_size=80"])
    model = build_model_parts(cfg, S, torch.device("cpu")).model
    if nan:
        with torch.no_grad():
            next(model.parameters()).fill_(float("nan"))
    save_checkpoint(path, make_checkpoint(model=model, config=cfg, label_space=S))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval")
    root = tmp / "syn"
    generate_synthetic(root, 12, seed=3)  # 3 test images
    return root, _save(tmp / "tiny.pt")


def _evaluate(*args):
    return main(["evaluate", "--dataset", "synthetic", "--device", "cpu", *map(str, args)])


def test_nan_checkpoint_is_refused(data, tmp_path, capsys):
    root, _ = data
    bad = _save(tmp_path / "diverged.pt", nan=True)
    assert _evaluate("--checkpoint", bad, "--data-root", root) == 2
    err = capsys.readouterr().err
    assert f"{bad}: 1 of" in err and "NaN or inf" in err and "earlier checkpoint" in err


def test_skip_invalid_skips_an_unreadable_test_image(data, tmp_path, capsys):
    root, ckpt = data
    copy = tmp_path / "syn"
    for f in root.rglob("*"):
        if f.is_file():
            (copy / f.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
            (copy / f.relative_to(root)).write_bytes(f.read_bytes())
    test = json.loads((copy / "annotations" / "test_hico.json").read_text())
    broken = next(copy.glob(f"images/*/{test[0]['file_name']}"))
    broken.write_bytes(b"\xff\xd8 truncated")
    out = tmp_path / "res.json"
    assert _evaluate("--checkpoint", ckpt, "--data-root", copy, "--output", out) == 2
    err = capsys.readouterr().err
    assert f"{broken}: cannot read image" in err and "--skip-invalid" in err
    assert _evaluate("--checkpoint", ckpt, "--data-root", copy, "--output", out,
                     "--skip-invalid") == 0
    res = json.loads(out.read_text())
    assert res["num_images"] == len(test)  # its ground truth still counts (as missed)
    preds = read_predictions(tmp_path / "res.predictions.npz", S)
    ids = [p.image_id for p in preds]
    assert len(ids) == len(set(ids)) == len(test) - 1 and test[0]["file_name"] not in ids


def test_result_names_differ_for_json_jsonl_and_npz(data, tmp_path):
    root, ckpt = data
    assert _evaluate("--checkpoint", ckpt, "--data-root", root, "--output",
                     tmp_path / "r.json") == 0
    preds = read_predictions(tmp_path / "r.predictions.npz", S)
    results = {}
    for suffix in (".json", ".jsonl", ".npz"):
        path = tmp_path / f"x{suffix}"
        write_predictions(path, preds[: {".json": 1, ".jsonl": 2, ".npz": 3}[suffix]], S)
        assert _evaluate("--predictions", path, "--annotations",
                         root / "annotations" / "test_hico.json") == 0
        results[suffix] = json.loads((tmp_path / f"x{suffix}.eval.json").read_text())
    # each file's own result (1, 2, 3 images of detections), none overwritten by another's
    counts = [r["num_detections"] for r in results.values()]
    assert 0 < counts[0] < counts[1] < counts[2]


def test_set_changes_inference_only(data, tmp_path, capsys):
    root, ckpt = data
    out = tmp_path / "res.json"
    assert _evaluate("--checkpoint", ckpt, "--data-root", root, "--output", out,
                     "--set", "model.postprocess.use_nms=false",
                     "--set", "model.postprocess.top_k=7") == 0
    preds = read_predictions(tmp_path / "res.predictions.npz", S)
    assert max(len(p.scores) for p in preds) == 7  # top 7, no NMS removing any
    assert _evaluate("--checkpoint", ckpt, "--data-root", root, "--set",
                     "model.interaction.num_layers=2") == 2
    assert "only inference settings" in capsys.readouterr().err
    assert _evaluate("--predictions", tmp_path / "res.predictions.npz", "--annotations",
                     root / "annotations" / "test_hico.json", "--set",
                     "model.postprocess.use_nms=false") == 2
    assert "scored as it is" in capsys.readouterr().err


def test_read_only_and_full_outputs_exit_2_naming_the_file(data, tmp_path, read_only,
                                                          monkeypatch, capsys):
    root, ckpt = data
    (tmp_path / "ro").mkdir()
    ro = read_only(tmp_path / "ro")
    assert _evaluate("--checkpoint", ckpt, "--data-root", root, "--output",
                     ro / "sub" / "res.json") == 2
    err = capsys.readouterr().err
    assert str(ro / "sub") in err and "not writable" in err
    monkeypatch.undo()

    out = tmp_path / "res.json"
    out.write_text('{"mAP": 0.5}')
    import openhoi.fileio as fileio

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", full)
    assert _evaluate("--checkpoint", ckpt, "--data-root", root, "--output", out) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "no space left on the device" in err
    assert out.read_text() == '{"mAP": 0.5}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res.json", "ro"]
