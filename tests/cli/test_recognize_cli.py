import json

import pytest
import torch

from openhoi import checkpoint as ckpt_io
from openhoi.cli import main
from openhoi.config import load_config
from openhoi.data.synthetic import generate_synthetic
from openhoi.label_space import load_label_space
from openhoi.models.defr.build import build_defr

TINY = ["model.backbone.image_size=32", "model.classifier.init=random",
        "model.backbone.arch=resnet18"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("rec")
    data = root / "data"
    generate_synthetic(data, 12, seed=3)
    config = load_config("synthetic_defr", TINY + [f"data.root={data}"])
    space = load_label_space("synthetic")
    torch.manual_seed(0)
    parts = build_defr(config.model, space)
    with torch.no_grad():  # a recognisable bias: class 4 always wins
        parts.model.classifier.weight.zero_()
        parts.model.classifier.weight[4, 0] = 1.0
        parts.model.neck.weight.zero_()
        parts.model.neck.weight[0] = 1.0
    path = root / "model.pt"
    ckpt_io.save_checkpoint(path, ckpt_io.make_checkpoint(model=parts.model, config=config,
                                                          label_space=space))
    return path, data, space


def test_recognize_writes_json_lines_and_pictures(checkpoint, tmp_path, capsys):
    path, data, space = checkpoint
    images = sorted((data / "images" / "test2015").glob("*.jpg"))[:2]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"nope")
    out = tmp_path / "rec.jsonl"
    draw = tmp_path / "draw"
    assert main(["recognize", *map(str, images), str(bad), "--checkpoint", str(path),
                 "--out", str(out), "--draw", str(draw), "--top-k", "3", "--device",
                 "cpu"]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["image"] for x in lines[:2]] == [str(p) for p in images]
    first = lines[0]["interactions"]
    assert len(first) == 3 and first[0]["interaction"] == 4
    assert first[0]["verb"] == space.verbs[space.interactions[4][0]]
    assert first[0]["score"] >= first[1]["score"] >= first[2]["score"]
    assert "error" in lines[2] and "broken.jpg" in lines[2]["error"]
    assert len(list(draw.glob("*.jpg"))) == 2
    assert "1 of 3 images could not be read" in capsys.readouterr().err


def test_recognize_refuses_a_missing_checkpoint(tmp_path, capsys):
    img = tmp_path / "x.jpg"
    from PIL import Image

    Image.new("RGB", (20, 20)).save(img)
    assert main(["recognize", str(img), "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "none.pt" in capsys.readouterr().err


def test_evaluate_recognition_checkpoint_through_the_cli(checkpoint, tmp_path, capsys):
    path, data, _ = checkpoint
    out = tmp_path / "res.json"
    assert main(["evaluate", "--dataset", "synthetic", "--task", "recognition", "--checkpoint",
                 str(path), "--data-root", str(data), "--device", "cpu", "--output",
                 str(out)]) == 0
    res = json.loads(out.read_text())
    assert 0 <= res["mAP"] <= 1 and res["num_images_scored"] == res["num_images"] > 0
    assert "mAP_few@1" in res and "HOI recognition mAP" in capsys.readouterr().out


def test_plot_embeddings_by_verb_and_object(tmp_path, capsys):
    for by in ("verb", "object"):
        out = tmp_path / f"tsne_{by}.png"
        assert main(["plot-embeddings", "--sentence-model", "packaged", "--label-space",
                     "synthetic", "--color-by", by, "--out", str(out)]) == 0
        assert out.stat().st_size > 5000 and out.read_bytes()[:4] == b"\x89PNG"
    assert "coloured by object" in capsys.readouterr().out


def test_plot_embeddings_checks_the_label_space(tmp_path, capsys):
    emb = tmp_path / "e.safetensors"
    assert main(["embed-text", "--encoder", "sentence", "--label-space", "synthetic",
                 "--templates", "phrase", "--out", str(emb)]) == 0
    assert main(["plot-embeddings", "--embeddings", str(emb), "--label-space", "vcoco",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "label_space" in capsys.readouterr().err


def test_evaluate_untrained_zero_shot_recipe(checkpoint, tmp_path, capsys):
    _, data, _ = checkpoint
    out = tmp_path / "zs.json"
    zero_shot = ["model.backbone.kind=open_clip", "model.backbone.arch=openhoi-tiny",
                 "model.backbone.image_size=32", "model.backbone.keep_projection=true",
                 "model.backbone.trainable=false", "model.classifier.trainable=false",
                 "model.classifier.embed_dim=null", "model.text.encoder=clip",
                 "model.text.templates=photo", f"data.root={data}"]
    args = ["evaluate", "--dataset", "synthetic", "--task", "recognition", "--config",
            "synthetic_defr", "--device", "cpu", "--output", str(out)]
    for s in zero_shot:
        args += ["--set", s]
    assert main(args) == 0
    res = json.loads(out.read_text())
    assert res["num_images_scored"] == res["num_images"] > 0
    assert main(args[:6] + ["hicodet_hoiclip", "--output", str(out)]) == 2
    assert "not a recognition recipe" in capsys.readouterr().err


def test_train_then_recognize_through_the_cli(checkpoint, tmp_path, capsys):
    _, data, _ = checkpoint
    run = tmp_path / "run"
    args = ["train", "--config", "synthetic_defr_lang_lse", "--set", f"data.root={data}",
            "--set", "model.backbone.image_size=32", "--set", "train.epochs=1", "--set",
            "train.batch_size=4", "--set", "data.val_size=2", "--output", str(run),
            "--device", "cpu", "--no-progress"]
    assert main(args) == 0
    res = json.loads((run / "test_metrics.json").read_text())
    assert res["num_images_scored"] == res["num_images"] > 0 and "mAP_few@1" in res
    assert (run / "checkpoints" / "best.pt").is_file()
    img = sorted((data / "images" / "test2015").glob("*.jpg"))[0]
    out = tmp_path / "r.jsonl"
    assert main(["recognize", str(img), "--checkpoint", str(run / "model.safetensors"),
                 "--out", str(out), "--device", "cpu"]) == 0
    assert len(json.loads(out.read_text())["interactions"]) == 5


def test_train_on_hico_classification_layout(tmp_path):
    """data.dataset=hico: anno.mat + images/{train,test}2015, NaN and ambiguous labels."""
    import numpy as np
    import scipy.io
    from PIL import Image

    root = tmp_path / "hico_20150920"
    rng = np.random.default_rng(0)
    cells = {}
    for split, n in (("train", 8), ("test", 4)):
        names = [f"HICO_{split}2015_{k:08d}.jpg" for k in range(1, n + 1)]
        (root / "images" / f"{split}2015").mkdir(parents=True)
        for name in names:
            Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(
                root / "images" / f"{split}2015" / name)
        anno = rng.choice([1.0, -1.0, 0.0, np.nan], size=(13, n), p=[0.3, 0.4, 0.1, 0.2])
        cells[f"list_{split}"] = np.array([[v] for v in names], dtype=object)
        cells[f"anno_{split}"] = anno
    scipy.io.savemat(root / "anno.mat", cells)
    run = tmp_path / "run"
    assert main(["train", "--config", "synthetic_defr_rand_bce", "--set", "data.dataset=hico",
                 "--set", "data.label_space=synthetic", "--set", "data.rare_cap=null",
                 "--set", f"data.root={root}", "--set", "model.backbone.image_size=32",
                 "--set", "train.epochs=1", "--set", "train.batch_size=4", "--output",
                 str(run), "--device", "cpu", "--no-progress"]) == 0
    res = json.loads((run / "test_metrics.json").read_text())
    assert res["num_images"] == 4 and res["num_images_scored"] == 4
