"""HOIPredictor and `openhoi predict` on real photos, with a tiny (untrained) model checkpoint."""

import json

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from openhoi.checkpoint import make_checkpoint, save_checkpoint
from openhoi.cli import main
from openhoi.config import load_config
from openhoi.data.loader import pad_images
from openhoi.errors import CheckpointError
from openhoi.label_space import load_label_space
from openhoi.models.build import build_model_parts, export_model
from openhoi.predict import HOIPredictor, predictions_to_triplets
from openhoi.structures import HOIPredictions
from openhoi.visualize import output_size


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    cfg = load_config("synthetic_tiny")
    space = load_label_space("synthetic")
    model = build_model_parts(cfg, space, torch.device("cpu")).model
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    save_checkpoint(path, make_checkpoint(model=model, config=cfg, label_space=space.fingerprint))
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Real photos in odd formats: grayscale PNG, RGBA PNG, WebP, EXIF-rotated JPEG, tiny."""
    d = tmp_path_factory.mktemp("photos")
    Image.fromarray(skimage.data.camera()).save(d / "camera_gray.png")
    rgba = np.dstack([skimage.data.chelsea(), np.full(skimage.data.chelsea().shape[:2], 200,
                                                      np.uint8)])
    Image.fromarray(rgba, "RGBA").save(d / "chelsea_rgba.png")
    Image.fromarray(skimage.data.coffee()).save(d / "coffee.webp")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(skimage.data.astronaut()[:, :300]).save(d / "astronaut_rot.jpg", exif=exif)
    Image.fromarray(skimage.data.astronaut()).resize((24, 20)).save(d / "tiny.jpg")
    return d


def test_predict_odd_formats_with_schema(checkpoint, photos):
    predictor = HOIPredictor.from_checkpoint(checkpoint, device="cpu")
    paths = sorted(photos.iterdir())
    results = list(predictor.predict(paths, batch_size=2, top_k=5))
    assert [r.image for r in results] == [str(p) for p in paths]
    by_name = {p.name: r for p, r in zip(paths, results)}
    assert (by_name["astronaut_rot.jpg"].width, by_name["astronaut_rot.jpg"].height) == (512, 300)
    assert (by_name["coffee.webp"].width, by_name["coffee.webp"].height) == (600, 400)
    space = load_label_space("synthetic")
    for r in results:
        rec = json.loads(json.dumps(r.to_json()))
        assert set(rec) == {"image", "width", "height", "triplets"}
        assert 0 < len(rec["triplets"]) <= 5
        scores = [t["score"] for t in rec["triplets"]]
        assert scores == sorted(scores, reverse=True)
        for t in rec["triplets"]:
            assert set(t) == {"human_box", "object_box", "object", "verb", "interaction", "score"}
            x1, y1, x2, y2 = t["human_box"]
            assert 0 <= x1 <= x2 <= rec["width"] + 1e-3 and 0 <= y1 <= y2 <= rec["height"] + 1e-3
            v, o = space.interactions[t["interaction"]]
            assert (t["verb"], t["object"]) == (space.verbs[v], space.objects[o])


def test_predictor_matches_the_model_run_directly(checkpoint):
    """The predictor's scores are the post-processed outputs of the same weights."""
    predictor = HOIPredictor.from_checkpoint(checkpoint, device="cpu", precision="fp32")
    image = Image.fromarray(skimage.data.astronaut())
    (result,) = predictor.predict_images([image], ["a"], top_k=None)
    with torch.inference_mode():
        batch = pad_images([predictor.preprocess(image)])
        raw = predictor.model(batch)
        (pred,) = predictor.postprocess(raw, torch.tensor([[512, 512]]), ["a"])
    assert torch.allclose(torch.tensor([t.score for t in result.triplets]),
                          pred.scores.sort(descending=True).values)


def test_bf16_prediction_is_close_to_fp32(checkpoint):
    """bf16 autocast (what `auto` picks on a CPU with AVX512-BF16/AMX) changes scores by
    bf16 rounding only, and the forward pass really runs in bf16."""
    image = Image.fromarray(skimage.data.astronaut())
    fp32 = HOIPredictor.from_checkpoint(checkpoint, device="cpu", precision="fp32")
    bf16 = HOIPredictor.from_checkpoint(checkpoint, device="cpu", precision="bf16")
    assert fp32.amp_dtype is None and bf16.amp_dtype is torch.bfloat16
    (a,) = fp32.predict_images([image], ["a"], top_k=None)
    (b,) = bf16.predict_images([image], ["a"], top_k=None)
    # the best scores (the pair NMS may keep a few different near-duplicates further down)
    sa = torch.tensor([t.score for t in a.triplets[:20]])
    sb = torch.tensor([t.score for t in b.triplets[:20]])
    assert abs(sa[0] - sb[0]) < 0.05  # random weights: bf16 rounding, ~5% of a 0.5 score
    assert (sa - sb).abs().max() < 0.1
    assert not torch.equal(sa, sb), "bf16 gave bit-identical scores: autocast did not apply"


def test_export_roundtrip_gives_identical_predictions(checkpoint, photos, tmp_path):
    out = export_model(checkpoint, tmp_path / "model.safetensors")
    a = HOIPredictor.from_checkpoint(checkpoint, device="cpu")
    b = HOIPredictor.from_checkpoint(out, device="cpu")
    path = photos / "coffee.webp"
    ra, rb = next(a.predict([path])), next(b.predict([path]))
    assert ra.to_json() == rb.to_json()


def test_open_vocabulary_retargets_classes(checkpoint, photos):
    predictor = HOIPredictor.from_checkpoint(
        checkpoint, device="cpu", interactions=["ride horse", "hold cup", "kick sports ball"])
    assert predictor.label_space.objects == ("person", "horse", "cup", "sports ball")
    (result,) = predictor.predict([photos / "coffee.webp"], top_k=100)
    names = {(t.verb_name, t.object_name) for t in result.triplets}
    assert names <= {("ride", "horse"), ("hold", "cup"), ("kick", "sports ball")}
    assert len(names) == 3


def test_open_vocabulary_keeps_trained_rows(checkpoint):
    base = HOIPredictor.from_checkpoint(checkpoint, device="cpu")
    old = base.model.head.classifier.weight.detach().clone()
    space = base.label_space
    i = space.interaction_index(space.verbs.index("hold"), space.objects.index("cup"))
    base.set_interactions(["ride horse", "hold cup"])
    assert torch.equal(base.model.head.classifier.weight[1], old[i])


def test_wrong_label_space_is_a_clear_error(checkpoint, tmp_path):
    ckpt = torch.load(checkpoint, weights_only=True)
    ckpt["label_space"] = "synthetic-00000000"
    bad = tmp_path / "bad.pth"
    torch.save(ckpt, bad)
    with pytest.raises(CheckpointError, match="synthetic-00000000"):
        HOIPredictor.from_checkpoint(bad)


def test_cli_predict_draws_and_skips_corrupt_images(checkpoint, photos, tmp_path, capsys):
    corrupt = tmp_path / "in" / "broken.jpg"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    good = tmp_path / "in" / "camera.png"
    Image.fromarray(skimage.data.camera()).save(good)
    out, draw = tmp_path / "preds.jsonl", tmp_path / "pictures"
    code = main(["predict", str(corrupt.parent), str(photos / "tiny.jpg"), "--checkpoint",
                 str(checkpoint), "--out", str(out), "--draw", str(draw), "--top-k", "3"])
    assert code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["image"].split("/")[-1] for r in records] == ["broken.jpg", "camera.png",
                                                           "tiny.jpg"]
    assert "broken.jpg" in records[0]["error"]
    assert "1 of 3 images could not be read" in capsys.readouterr().err
    pictures = sorted(p.name for p in draw.iterdir())
    assert pictures == ["camera.jpg", "tiny.jpg"]
    n_pairs = len({(tuple(t["human_box"]), tuple(t["object_box"]))
                   for t in records[1]["triplets"]})
    assert Image.open(draw / "camera.jpg").size == output_size((512, 512), n_pairs)


def test_cli_bad_interaction_list(checkpoint, photos, capsys):
    assert main(["predict", str(photos / "tiny.jpg"), "--checkpoint", str(checkpoint),
                 "--interactions", " , "]) == 2
    assert "empty" in capsys.readouterr().err


def test_triplet_boxes_are_clipped_to_a_non_square_image_only_when_its_size_is_given():
    space = load_label_space("synthetic")
    pred = HOIPredictions(
        boxes_xyxy=torch.tensor([[-5.0, -3.0, 130.0, 70.0], [20.0, 10.0, 90.0, 95.0]]),
        labels=torch.tensor([space.human_label, 1]), pair_idx=torch.tensor([[0, 1]]),
        interactions=torch.tensor([0]), scores=torch.tensor([0.9]), image_id="x")
    (clipped,) = predictions_to_triplets(pred, space, None, 0.0, image_size=(120, 80))
    assert clipped.h_box_xyxy == (0.0, 0.0, 120.0, 70.0)  # width 120, height 80
    assert clipped.o_box_xyxy == (20.0, 10.0, 90.0, 80.0)
    (raw,) = predictions_to_triplets(pred, space, None, 0.0)
    assert raw.h_box_xyxy == (-5.0, -3.0, 130.0, 70.0)


@pytest.fixture(scope="module")
def vild_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    cfg = load_config("synthetic_tiny", ["model.detector.obj_head=vild",
                                         "model.postprocess.obj_score=softmax"])
    space = load_label_space("synthetic")
    model = build_model_parts(cfg, space, torch.device("cpu")).model
    path = tmp_path_factory.mktemp("vild") / "vild.pth"
    save_checkpoint(path, make_checkpoint(model=model, config=cfg, label_space=space.fingerprint))
    return path


def test_cli_predict_open_object_vocabulary(vild_checkpoint, checkpoint, photos, tmp_path,
                                            capsys):
    out = tmp_path / "objects.jsonl"
    assert main(["predict", str(photos / "coffee.webp"), "--checkpoint", str(vild_checkpoint),
                 "--objects", "cup,teapot", "--out", str(out), "--top-k", "100"]) == 0
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    objects = {t["object"] for t in record["triplets"]}
    assert objects == {"cup", "teapot"}
    assert {t["verb"] for t in record["triplets"] if t["object"] == "teapot"} <= set(
        load_label_space("synthetic").verbs)
    # DETR's linear head has no text to extend to a new object: a clear error, exit 2
    linear = tmp_path / "linear.pth"
    torch.manual_seed(0)
    cfg = load_config("synthetic_tiny", ["model.detector.obj_head=linear"])
    space = load_label_space("synthetic")
    model = build_model_parts(cfg, space, torch.device("cpu")).model
    save_checkpoint(linear, make_checkpoint(model=model, config=cfg,
                                            label_space=space.fingerprint))
    assert main(["predict", str(photos / "tiny.jpg"), "--checkpoint", str(linear),
                 "--objects", "teapot"]) == 2
    assert "teapot" in capsys.readouterr().err
