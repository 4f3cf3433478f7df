"""`openhoi predict` under bad input and faults: NaN weights refused, concurrent runs on one
--out leave one whole file, nothing is overwritten without --overwrite, one bad image never
stops the run (exit 2 only when all fail), disk full / read-only named with exit 2 and earlier
files intact, bad interaction lists named, file modes, drawing paths, inference --set."""

import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from openhoi.checkpoint import make_checkpoint, save_checkpoint
from openhoi.cli import main
from openhoi.cli import predict as predict_cli
from openhoi.config import load_config
from openhoi.label_space import load_label_space
from openhoi.models.build import build_model_parts


def _save(path, nan=False):
    torch.manual_seed(0)
    cfg = load_config("synthetic_tiny")
    space = load_label_space("synthetic")
    model = build_model_parts(cfg, space, torch.device("cpu")).model
    if nan:
        with torch.no_grad():
            next(model.parameters()).fill_(float("nan"))
    save_checkpoint(path, make_checkpoint(model=model, config=cfg, label_space=space))
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return _save(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    Image.fromarray(skimage.data.astronaut()).resize((96, 96)).save(d / "astronaut.jpg")
    Image.fromarray(skimage.data.coffee()).resize((120, 80)).save(d / "coffee.png")
    return d


def _predict(*args):
    return main(["predict", *map(str, args), "--no-progress"])


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_nan_weights_are_refused_not_predicted_as_nothing(tmp_path, photos, capsys):
    bad = _save(tmp_path / "diverged.pt", nan=True)
    out = tmp_path / "preds.jsonl"
    assert _predict(photos, "--checkpoint", bad, "--out", out) == 2
    err = capsys.readouterr().err
    assert f"{bad}: 1 of" in err and "NaN or inf" in err and "diverged" in err
    assert "Use an earlier checkpoint" in err and not out.exists()


def test_concurrent_runs_on_one_out_leave_one_whole_file(checkpoint, photos, tmp_path):
    """Three runs at once on one --out (threads here; processes in the slow test below): the
    file is one run's whole output, never interleaved lines or a fragment."""
    from concurrent.futures import ThreadPoolExecutor

    out = tmp_path / "preds.jsonl"
    args = [photos, "--checkpoint", checkpoint, "--out", out, "--overwrite"]
    with ThreadPoolExecutor(3) as pool:
        codes = list(pool.map(lambda _: _predict(*args), range(3)))
    assert codes == [0, 0, 0]
    _check_one_whole_file(out)


def _check_one_whole_file(out):
    records = _lines(out)
    assert [r["image"].split("/")[-1] for r in records] == ["astronaut.jpg", "coffee.png"]
    assert all(r["triplets"] for r in records)
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp, no fragment


@pytest.mark.slow
def test_concurrent_processes_on_one_out_leave_one_whole_file(checkpoint, photos, tmp_path):
    out = tmp_path / "preds.jsonl"
    cmd = [sys.executable, "-m", "openhoi", "predict", str(photos), "--checkpoint",
           str(checkpoint), "--out", str(out), "--overwrite", "--no-progress", "--device",
           "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    for p in procs:
        assert p.wait(timeout=600) == 0, p.stderr.read()
    _check_one_whole_file(out)


def test_existing_out_and_pictures_are_not_replaced_without_overwrite(checkpoint, photos,
                                                                      tmp_path, capsys):
    out, draw = tmp_path / "preds.jsonl", tmp_path / "pictures"
    out.write_text("earlier results\n")
    assert _predict(photos, "--checkpoint", checkpoint, "--out", out) == 2
    err = capsys.readouterr().err
    assert f"--out {out} exists: pass --overwrite" in err
    assert out.read_text() == "earlier results\n"
    draw.mkdir()
    (draw / "coffee.jpg").write_bytes(b"earlier picture")
    assert _predict(photos, "--checkpoint", checkpoint, "--draw", draw) == 2
    err = capsys.readouterr().err
    assert f"first: {draw / 'coffee.jpg'}" in err and "pass --overwrite" in err
    assert (draw / "coffee.jpg").read_bytes() == b"earlier picture"
    assert _predict(photos, "--checkpoint", checkpoint, "--out", out, "--draw", draw,
                    "--overwrite") == 0
    assert len(_lines(out)) == 2 and Image.open(draw / "coffee.jpg").size[0] > 0


def test_a_failing_image_never_stops_the_run(checkpoint, photos, tmp_path, capsys):
    strip = tmp_path / "strip.png"  # 3 x 2000: used to stop the whole run
    Image.fromarray(np.full((2000, 3, 3), 128, np.uint8)).save(strip)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    out = tmp_path / "preds.jsonl"
    assert _predict(broken, strip, photos / "astronaut.jpg", "--checkpoint", checkpoint,
                    "--out", out, "--batch-size", "3") == 0
    records = _lines(out)
    assert [r["image"].split("/")[-1] for r in records] == ["broken.jpg", "strip.png",
                                                           "astronaut.jpg"]
    assert "broken.jpg" in records[0]["error"] and records[2]["triplets"]
    assert (records[1]["width"], records[1]["height"]) == (3, 2000)  # predicted, not fatal
    assert "1 of 3 images could not be read" in capsys.readouterr().err


def test_a_batch_the_model_fails_on_is_retried_image_by_image(checkpoint, photos, tmp_path,
                                                              monkeypatch):
    from openhoi.predict import HOIPredictor

    original = HOIPredictor.predict_images

    def fails_on_coffee(self, images, names, *a, **k):
        if any(n.endswith("coffee.png") for n in names):
            raise RuntimeError("height and width must be > 0")
        return original(self, images, names, *a, **k)

    monkeypatch.setattr(HOIPredictor, "predict_images", fails_on_coffee)
    out = tmp_path / "preds.jsonl"
    assert _predict(photos, "--checkpoint", checkpoint, "--out", out, "--batch-size", "2") == 0
    first, second = _lines(out)
    assert first["triplets"] and "coffee.png: prediction failed" in second["error"]


def test_exit_2_when_every_image_fails(checkpoint, tmp_path, capsys):
    for name in ("a.jpg", "b.png"):
        (tmp_path / name).write_bytes(b"junk")
    out = tmp_path / "preds.jsonl"
    assert _predict(tmp_path / "a.jpg", tmp_path / "b.png", "--checkpoint", checkpoint,
                    "--out", out) == 2
    assert "none of the 2 images could be read" in capsys.readouterr().err
    assert all("error" in r for r in _lines(out))  # the reasons are kept


def test_disk_full_while_writing_keeps_the_previous_out(checkpoint, photos, tmp_path,
                                                        monkeypatch, capsys):
    out = tmp_path / "preds.jsonl"
    out.write_text("earlier results\n")
    written = []

    def full_after_one(stream, result):
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(result)
        stream.write("{}\n")

    monkeypatch.setattr(predict_cli, "_write_line", full_after_one)
    assert _predict(photos, "--checkpoint", checkpoint, "--out", out, "--overwrite") == 2
    err = capsys.readouterr().err
    assert f"cannot write {out}: no space left on the device" in err
    assert out.read_text() == "earlier results\n"
    assert [p.name for p in tmp_path.iterdir()] == ["preds.jsonl"]  # temp removed


def test_read_only_out_or_draw_folder_exits_2_before_predicting(checkpoint, photos, tmp_path,
                                                                read_only, capsys):
    (tmp_path / "ro").mkdir()
    ro = read_only(tmp_path / "ro")
    assert _predict(photos, "--checkpoint", checkpoint, "--draw", ro / "pictures") == 2
    err = capsys.readouterr().err
    assert str(ro / "pictures") in err and "not writable" in err
    assert _predict(photos, "--checkpoint", checkpoint, "--out", ro / "sub" / "p.jsonl") == 2
    assert "not writable" in capsys.readouterr().err


@pytest.mark.parametrize(("spec", "message"), [
    ("", "is empty"),
    (" , ", "is empty"),
    ("hold:sports:ball", "interaction 'hold:sports:ball' has 2 colons"),
])
def test_bad_interaction_lists_are_errors(checkpoint, photos, spec, message, capsys):
    assert _predict(photos / "coffee.png", "--checkpoint", checkpoint,
                    "--interactions", spec) == 2
    assert message in capsys.readouterr().err


def test_files_are_0644_and_each_line_names_its_picture(checkpoint, photos, tmp_path):
    twin = tmp_path / "other"
    twin.mkdir()
    Image.open(photos / "coffee.png").save(twin / "coffee.png")  # same name, other folder
    out, draw = tmp_path / "preds.jsonl", tmp_path / "pictures"
    old = os.umask(0o022)
    try:
        assert _predict(photos, twin / "coffee.png", "--checkpoint", checkpoint, "--out", out,
                        "--draw", draw) == 0
    finally:
        os.umask(old)
    records = _lines(out)
    assert [r["drawing"] for r in records] == [str(draw / "astronaut.jpg"),
                                               str(draw / "coffee.jpg"),
                                               str(draw / "coffee_2.jpg")]
    for f in (out, *draw.iterdir()):
        assert f.stat().st_mode & 0o777 == 0o644, f


def test_set_changes_post_processing_only(checkpoint, photos, tmp_path, capsys):
    on, off = tmp_path / "nms.jsonl", tmp_path / "no_nms.jsonl"
    common = [photos / "astronaut.jpg", "--checkpoint", checkpoint, "--top-k", "1000"]
    assert _predict(*common, "--out", on, "--set", "model.postprocess.nms_threshold=0.1") == 0
    assert _predict(*common, "--out", off, "--set", "model.postprocess.use_nms=false") == 0
    assert len(_lines(off)[0]["triplets"]) > len(_lines(on)[0]["triplets"])
    assert _predict(*common, "--set", "model.detector.num_queries=3") == 2
    err = capsys.readouterr().err
    assert "--set model.detector.num_queries: only inference settings" in err


def test_no_progress_bar(checkpoint, photos, tmp_path, capsys):
    out = tmp_path / "p.jsonl"
    assert _predict(photos, "--checkpoint", checkpoint, "--out", out) == 0
    assert "img/s" not in capsys.readouterr().err
    assert main(["predict", str(photos), "--checkpoint", str(checkpoint), "--out",
                 str(tmp_path / "q.jsonl")]) == 0
    assert "img/s" in capsys.readouterr().err
