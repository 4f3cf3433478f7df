"""HOI detection the DEFR way through the CLI: detections file -> `openhoi recognize
--detections` -> HICO-DET triplets -> `openhoi evaluate --dataset synthetic`."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from openhoi import checkpoint as ckpt_io
from openhoi.cli import main
from openhoi.config import load_config
from openhoi.data.annotations import read_hoi_annotations
from openhoi.data.image_io import load_image
from openhoi.data.recognition import recognition_transforms
from openhoi.data.synthetic import generate_synthetic
from openhoi.label_space import load_label_space
from openhoi.models.defr.build import build_defr

TINY = ["model.backbone.image_size=32", "model.classifier.init=random",
        "model.backbone.arch=resnet18", "model.classifier.kind=linear",
        "model.classifier.embed_dim=null"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("defrdet")
    data = root / "data"
    generate_synthetic(data, 24, seed=5)
    space = load_label_space("synthetic")
    gt = read_hoi_annotations(data / "annotations" / "test_hico.json", space)
    return root, data, space, gt


def _checkpoint(root, data, space, model, name):
    config = load_config("synthetic_defr", TINY + [f"data.root={data}"])
    path = root / name
    ckpt_io.save_checkpoint(path, ckpt_io.make_checkpoint(model=model, config=config,
                                                          label_space=space))
    return path


def _model(data):
    config = load_config("synthetic_defr", TINY + [f"data.root={data}"])
    torch.manual_seed(0)
    return build_defr(config.model, load_label_space("synthetic")).model.eval()


def _gt_pairs(record, space):
    """Every human x other instance of a record (as DEFR pairs detections), with the
    interactions the annotation gives the pair (empty for pairs it does not annotate)."""
    labels = record.labels.tolist()
    index = {tuple(vo): i for i, vo in enumerate(space.interactions)}
    annotated = {}
    for (h, o), verbs in zip(record.pair_idx.tolist(), record.verbs):
        annotated[(h, o)] = {index[(int(v), labels[o])] for v in np.nonzero(verbs)[0]}
    return [(h, o, annotated.get((h, o), set())) for h in range(len(labels))
            if labels[h] == space.human_label for o in range(len(labels)) if o != h]


def _oracle(model, data, space, gt):
    """Fit the linear classifier (least squares, more features than crops) so that the model
    is right on every union crop of the test split's ground-truth pairs: +8 logits for the
    annotated interactions of a pair, -8 for every other class and for unannotated pairs.
    The crops are cut here with PIL, independently of the code under test."""
    tf = recognition_transforms(model.image_size, model.pixel_mean, model.pixel_std,
                                train=False)
    crops, targets = [], []
    for record in gt:
        image = load_image(data / "images" / "test2015" / record.file_name, apply_exif=False)
        boxes = record.boxes_xyxy
        for h, o, inter in _gt_pairs(record, space):
            union = [min(boxes[h][0], boxes[o][0]), min(boxes[h][1], boxes[o][1]),
                     max(boxes[h][2], boxes[o][2]), max(boxes[h][3], boxes[o][3])]
            crops.append(tf(image.crop(tuple(round(float(v)) for v in union))))
            y = torch.full((space.num_interactions,), -8.0)
            y[list(inter)] = 8.0
            targets.append(y)
    with torch.no_grad():
        feats = model.features(torch.stack(crops))  # [N, D]
        lin = model.classifier.linear
        x = model.classifier.logit_scale.exp() * F.normalize(feats, dim=-1)
        a = torch.cat([x, torch.ones(len(x), 1)], 1).double()  # [N, D + 1]
        sol = torch.linalg.lstsq(a, torch.stack(targets).double(), driver="gelsd").solution
        lin.weight.copy_(sol[:-1].T.float())
        lin.bias.copy_(sol[-1].float())
        assert torch.allclose(model.classifier(feats), torch.stack(targets), atol=1e-2)
    return model


def _gt_detections(gt, path, sizes, jitter=0.0, extra=False, seed=0):
    """The ground-truth boxes as a detections file (score 1), optionally jittered, with
    random scores and a spurious box per image."""
    rng = np.random.default_rng(seed)
    images = {}
    for record in gt:
        boxes = record.boxes_xyxy.astype(float)
        scores = np.ones(len(boxes))
        labels = record.labels.tolist()
        if jitter:
            boxes = boxes + rng.uniform(-jitter, jitter, boxes.shape)
            boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
            scores = rng.uniform(0.3, 1.0, len(boxes))
        if extra:
            boxes = np.vstack([boxes, [[5, 5, 40, 40]]])
            scores = np.append(scores, 0.6)
            labels = labels + [labels[-1]]
        images[record.file_name] = {"size": list(sizes[record.file_name]), "boxes": boxes.tolist(),
                                    "scores": scores.tolist(), "labels": labels}
    path.write_text(json.dumps({"format": "openhoi-detections", "version": 1,
                                "boxes": "xyxy_abs", "images": images}))
    return path


def _sizes(data, gt):
    """(height, width) of each test image."""
    return {r.file_name: Image.open(data / "images" / "test2015" / r.file_name).size[::-1]
            for r in gt}


def _detect_and_evaluate(ckpt, dets, data, tmp_path, name, extra_args=()):
    out = tmp_path / f"{name}.json"
    assert main(["recognize", str(data / "images" / "test2015"), "--checkpoint", str(ckpt),
                 "--detections", str(dets), "--out", str(out), "--device", "cpu",
                 *extra_args]) == 0
    res = tmp_path / f"{name}.eval.json"
    assert main(["evaluate", "--dataset", "synthetic", "--annotations",
                 str(data / "annotations" / "test_hico.json"), "--predictions", str(out),
                 "--output", str(res)]) == 0
    return json.loads(out.read_text()), json.loads(res.read_text())


def test_detections_to_triplets_to_evaluate(bench, tmp_path, capsys):
    """A noisy detector's file (jittered boxes, random scores, a spurious box) through the
    whole path: a finite mAP, and the triplets obey DEFR's rules."""
    root, data, space, gt = bench
    ckpt = _checkpoint(root, data, space, _model(data), "random.pt")
    dets = _gt_detections(gt, tmp_path / "dets.json", _sizes(data, gt), jitter=3.0, extra=True)
    preds, res = _detect_and_evaluate(ckpt, dets, data, tmp_path, "noisy")
    assert math.isfinite(res["mAP"]) and 0 <= res["mAP"] <= 1
    assert res["num_detections"] > 0 and "HICO-DET" in capsys.readouterr().out
    inter_obj = space.interaction_object.tolist()
    doc = json.loads(dets.read_text())["images"]
    for rec in preds["images"]:
        labels = rec["labels"]
        entry = doc[rec["image_id"]]
        for (h, o), i, s in zip(rec["pair_idx"], rec["interactions"], rec["scores"]):
            assert labels[h] == space.human_label and h != o
            assert inter_obj[i] == labels[o]  # only the detected object's interactions
            file_boxes = np.array(entry["boxes"])  # the file's row of each output box
            k_h, k_o = (int(np.abs(file_boxes - rec["boxes_xyxy"][k]).sum(1).argmin())
                        for k in (h, o))
            # s_hoi in (0, 1): the score is below the s_h^6 * s_o^3 prior
            assert 0 < s <= entry["scores"][k_h] ** 6 * entry["scores"][k_o] ** 3 + 1e-6


@pytest.fixture(scope="module")
def oracle(bench):
    root, data, space, gt = bench
    return _checkpoint(root, data, space, _oracle(_model(data), data, space, gt), "oracle.pt")


def test_ground_truth_detections_and_a_correct_model_give_a_high_map(bench, oracle, tmp_path):
    """With the ground-truth boxes as detections and a recognition model that is right on
    every pair's union crop, every annotated triplet outranks every wrong one: mAP ~ 1. The
    same detections with the unfitted model stay far below (the test can fail)."""
    root, data, space, gt = bench
    dets = _gt_detections(gt, tmp_path / "gt.json", _sizes(data, gt))
    _, res = _detect_and_evaluate(oracle, dets, data, tmp_path, "oracle")
    assert res["mAP"] > 0.99, res["mAP"]
    blind = _checkpoint(root, data, space, _model(data), "blind.pt")
    _, res_blind = _detect_and_evaluate(blind, dets, data, tmp_path, "blind")
    assert res_blind["mAP"] < 0.9 * res["mAP"]


def test_detections_rescale_to_the_image_and_npz_output(bench, oracle, tmp_path):
    """Boxes given for an image at twice its size land on the image (``size`` rescales them):
    the correct model keeps its mAP; output as .npz."""
    root, data, space, gt = bench
    sizes = _sizes(data, gt)
    dets = _gt_detections(gt, tmp_path / "gt2.json", sizes)
    doc = json.loads(dets.read_text())
    for name, entry in doc["images"].items():
        entry["size"] = [2 * v for v in sizes[name]]
        entry["boxes"] = [[2 * v for v in b] for b in entry["boxes"]]
    dets.write_text(json.dumps(doc))
    out = tmp_path / "t.npz"
    assert main(["recognize", str(data / "images" / "test2015"), "--checkpoint", str(oracle),
                 "--detections", str(dets), "--out", str(out), "--device", "cpu"]) == 0
    res = tmp_path / "t.eval.json"
    assert main(["evaluate", "--dataset", "synthetic", "--annotations",
                 str(data / "annotations" / "test_hico.json"), "--predictions", str(out),
                 "--output", str(res)]) == 0
    assert json.loads(res.read_text())["mAP"] > 0.99


def test_scg_defr_detection_folder(bench, oracle, tmp_path, capsys):
    """SCG / DEFR's cache: one <stem>.json per image, labels in alphabetical object order (HICO's
    80-object order on HICO-DET), no size. Read right, the correct model keeps mAP ~ 1."""
    root, data, space, gt = bench
    folder = tmp_path / "test2015_gt"
    folder.mkdir()
    rank = {name: k for k, name in enumerate(sorted(o.replace(" ", "_") for o in space.objects))}
    assert sorted(rank.values()) != [rank[o.replace(" ", "_")] for o in space.objects]
    for record in gt:
        labels = [rank[space.objects[i].replace(" ", "_")] for i in record.labels.tolist()]
        (folder / record.file_name.replace(".jpg", ".json")).write_text(json.dumps(
            {"boxes": record.boxes_xyxy.tolist(), "scores": [1.0] * len(labels),
             "labels": labels}))
    _, res = _detect_and_evaluate(oracle, folder, data, tmp_path, "scg")
    assert res["mAP"] > 0.99
    (folder / "broken.json").write_text(json.dumps({"boxes": [[0, 0, 1, 1]], "scores": [1]}))
    assert main(["recognize", str(data / "images" / "test2015"), "--checkpoint", str(oracle),
                 "--detections", str(folder), "--out", str(tmp_path / "x.json")]) == 2
    assert "broken.json: missing field 'labels'" in capsys.readouterr().err


@pytest.mark.parametrize("breakage,field", [
    (lambda d: d.pop("format"), "'format'"),
    (lambda d: next(iter(d["images"].values()))["labels"].__setitem__(0, 99), ".labels"),
    (lambda d: next(iter(d["images"].values())).pop("scores"), "'scores'"),
    (lambda d: next(iter(d["images"].values())).update(boxes=[[5, 5, 1, 1]]), "differ in len"),
])
def test_a_bad_detections_file_exits_2_naming_file_and_field(bench, tmp_path, capsys, breakage,
                                                             field):
    root, data, space, gt = bench
    ckpt = _checkpoint(root, data, space, _model(data), "bad.pt")
    dets = _gt_detections(gt, tmp_path / "broken.json", _sizes(data, gt))
    doc = json.loads(dets.read_text())
    breakage(doc)
    dets.write_text(json.dumps(doc))
    assert main(["recognize", str(data / "images" / "test2015"), "--checkpoint", str(ckpt),
                 "--detections", str(dets), "--out", str(tmp_path / "x.json"),
                 "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "broken.json" in err and field in err


def test_detections_need_a_predictions_out_file_and_matching_images(bench, tmp_path, capsys):
    root, data, space, gt = bench
    ckpt = _checkpoint(root, data, space, _model(data), "m.pt")
    dets = _gt_detections(gt, tmp_path / "d.json", _sizes(data, gt))
    images = str(data / "images" / "test2015")
    assert main(["recognize", images, "--checkpoint", str(ckpt), "--detections", str(dets),
                 "--out", str(tmp_path / "x.txt")]) == 2
    assert "--out FILE ending in .json" in capsys.readouterr().err
    assert main(["recognize", str(data / "images" / "train2015"), "--checkpoint", str(ckpt),
                 "--detections", str(dets), "--out", str(tmp_path / "x.json"),
                 "--device", "cpu"]) == 2
    assert "d.json: lists none of the" in capsys.readouterr().err


CLIP_TINY = ["model.backbone.kind=open_clip", "model.backbone.arch=openhoi-tiny",
             "model.backbone.image_size=32", "model.classifier.init=random",
             "model.classifier.embed_dim=null"]


def test_defr_box_mask_on_a_clip_vit(bench, tmp_path, capsys, caplog):
    """--region auto picks DEFR's attention mask for a CLIP ViT model; the written scores are
    the model's masked logits on the boxes scaled to its input (ground-truth detections,
    score 1, so the triplet score is the recognition score)."""
    root, data, space, gt = bench
    config = load_config("synthetic_defr", CLIP_TINY + [f"data.root={data}"])
    torch.manual_seed(0)
    model = build_defr(config.model, space).model.eval()
    ckpt = root / "clip.pt"
    ckpt_io.save_checkpoint(ckpt, ckpt_io.make_checkpoint(model=model, config=config,
                                                          label_space=space))
    sizes = _sizes(data, gt)
    dets = _gt_detections(gt, tmp_path / "gt.json", sizes)
    caplog.set_level("INFO")
    preds, res = _detect_and_evaluate(ckpt, dets, data, tmp_path, "mask")
    assert math.isfinite(res["mAP"]) and res["num_detections"] > 0
    assert "pair region: mask" in caplog.text
    rec = preds["images"][0]
    image = load_image(data / "images" / "test2015" / rec["image_id"], apply_exif=False)
    tf = recognition_transforms(32, model.pixel_mean, model.pixel_std, train=False)
    scale = torch.tensor([32 / image.width, 32 / image.height] * 2)
    boxes = torch.tensor(rec["boxes_xyxy"])
    pairs = torch.stack([boxes[[h, o]] for h, o in rec["pair_idx"]]) * scale  # [K, 2, 4]
    with torch.no_grad():
        want = model.box_masked_logits(tf(image)[None], pairs, 1).sigmoid()
    want = want[torch.arange(len(pairs)), torch.tensor(rec["interactions"])]
    assert torch.allclose(torch.tensor(rec["scores"]), want, atol=1e-5)
    union, _ = _detect_and_evaluate(ckpt, dets, data, tmp_path, "union", ["--region", "union"])
    assert union["images"][0]["scores"] != rec["scores"]


def test_region_mask_needs_a_clip_vit(bench, tmp_path, capsys):
    root, data, space, gt = bench
    ckpt = _checkpoint(root, data, space, _model(data), "resnet.pt")
    dets = _gt_detections(gt, tmp_path / "d.json", _sizes(data, gt))
    assert main(["recognize", str(data / "images" / "test2015"), "--checkpoint", str(ckpt),
                 "--detections", str(dets), "--out", str(tmp_path / "x.json"), "--region",
                 "mask", "--device", "cpu"]) == 2
    assert "--region mask" in capsys.readouterr().err


def test_detections_from_an_openhoi_detector(bench, tmp_path, capsys):
    """`openhoi detect-instances` (an HOI detection checkpoint) writes the detections file
    that `openhoi recognize --detections` reads: the chain ends in a HICO-DET mAP."""
    from openhoi.data.detections import read_detections
    from openhoi.models.build import build_model_parts

    root, data, space, gt = bench
    torch.manual_seed(0)
    cfg = load_config("synthetic_tiny")
    det_model = build_model_parts(cfg, space, torch.device("cpu")).model
    det_ckpt = root / "hoiclip.pt"
    ckpt_io.save_checkpoint(det_ckpt, ckpt_io.make_checkpoint(model=det_model, config=cfg,
                                                              label_space=space))
    dets = tmp_path / "from_detector.json"
    images = str(data / "images" / "test2015")
    assert main(["detect-instances", images, "--checkpoint", str(det_ckpt), "--out", str(dets),
                 "--batch-size", "2", "--device", "cpu"]) == 0
    read = read_detections(dets, space.num_objects)
    sizes = _sizes(data, gt)
    q = cfg.model.detector.num_queries
    assert set(read) == set(sizes)
    for name, entry in read.items():
        assert entry["size"].tolist() == list(sizes[name])
        assert len(entry["boxes"]) == 2 * q
        assert (entry["labels"][:q] == space.human_label).all()
        assert torch.equal(entry["scores"][:q], entry["scores"][q:])  # the pair's score
        assert ((entry["scores"] > 0) & (entry["scores"] <= 1)).all()
        h, w = sizes[name]
        assert (entry["boxes"] >= 0).all() and (entry["boxes"][:, [0, 2]] <= w).all()
        assert (entry["boxes"][:, [1, 3]] <= h).all()
    ckpt = _checkpoint(root, data, space, _model(data), "rec.pt")
    _, res = _detect_and_evaluate(ckpt, dets, data, tmp_path, "chain",
                                  ["--box-score-thresh", "0", "--max-instances", "3"])
    assert math.isfinite(res["mAP"]) and res["num_detections"] > 0
    assert main(["detect-instances", images, "--checkpoint", str(ckpt), "--out",
                 str(tmp_path / "x.json"), "--device", "cpu"]) == 2
    assert "recognition" in capsys.readouterr().err
