"""EZ-HOI checkpoints converted with their own DETR (``detector.*``, UPT's frozen detector):
the converted model runs from images alone, its DETR is the checkpoint's (against DETR's
forward written out and against ``PlainDETR`` loaded from the same tensors), through the API,
``load_model`` and the CLI; a detector that does not fit is a named error (exit 2)."""

from __future__ import annotations

import pytest
import torch
from detr_layout import DEC, HEADS, QUERIES, reference_detr
from ez_hoi_layout import DEPTH, N_CTX, ez_hoi_checkpoint
from reference_layouts import TEXT_W

from openhoi.cli import main
from openhoi.errors import CheckpointError, ConfigError
from openhoi.label_space import load_label_space
from openhoi.models.build import load_model, use_cpu_kernels
from openhoi.models.convert import convert_checkpoint, save_converted
from openhoi.models.detr.plain_detr import COCO_UNUSED_IDS, PlainDETR, detr_from_checkpoint
from openhoi.structures import ImageBatch

H, W = 64, 80
HEADS_SET = f"model.instances.detector.num_heads={HEADS}"  # not in the weights (EZ-HOI: 8)


@pytest.fixture(scope="module")
def space():
    return load_label_space("hicodet")


@pytest.fixture(scope="module")
def files(tmp_path_factory, space):
    root = tmp_path_factory.mktemp("ezdetr")
    first: dict[int, int] = {}
    for i, v in enumerate(space.interaction_verb.tolist()):
        first.setdefault(v, i)
    unseen = list(space.zero_shot_split("uv").unseen_interactions)[:2]
    ckpt = ez_hoi_checkpoint(space, sorted(set(first.values()) | set(unseen)))
    torch.save(ckpt, root / "ckpt_00120_12.pt")
    torch.save(torch.randn(DEPTH, N_CTX, TEXT_W), root / "prompts.pt")
    state = ckpt["model_state_dict"]
    detr = {k[len("detector."):]: v for k, v in state.items() if k.startswith("detector.")}
    torch.save({"model_state_dict": detr}, root / "detr.pth")  # the same tensors, as UPT saves
    return {"root": root, "ckpt": root / "ckpt_00120_12.pt", "prompts": root / "prompts.pt",
            "detr": root / "detr.pth", "detr_state": detr}


def _convert(files, ckpt=None, overrides=(HEADS_SET,)):
    return convert_checkpoint(ckpt or files["ckpt"], "ez-hoi", prompts=files["prompts"],
                              zero_shot="uv", overrides=list(overrides))


@pytest.fixture(scope="module")
def converted(files):
    return _convert(files)


def _batch() -> ImageBatch:
    g = torch.Generator().manual_seed(0)
    return ImageBatch(torch.randn(1, 3, H, W, generator=g),
                      torch.zeros(1, H, W, dtype=torch.bool), torch.tensor([[H, W]]), ())


def test_detector_is_the_checkpoints(converted, files, space):
    cfg = converted.config.model.instances
    assert cfg.source == "detr" and cfg.detr_classes == 80 and cfg.detr_weights is None
    d = cfg.detector
    assert (d.backbone, d.hidden_dim, d.num_heads, d.num_queries, d.num_decoder_layers,
            d.pre_norm) == ("resnet18", 32, HEADS, QUERIES, DEC, False)
    report = converted.report
    assert not any(k.startswith("detector.") for k in report.ignored)
    assert report.loaded["detector.backbone.body.conv1.weight"] == \
        "detector.backbone.0.body.conv1.weight"
    assert report.loaded["detector.decoder.layers.0.cross_attn.in_proj_weight"] == \
        "detector.transformer.decoder.layers.0.multihead_attn.in_proj_weight"
    assert report.inferred["model.instances.detr_classes"][0] == 80
    assert report.inferred["model.instances.detector.backbone"][0] == "resnet18"

    detector = converted.model.detector
    assert isinstance(detector, PlainDETR)
    direct = detr_from_checkpoint(files["detr"], space.object_ids, num_heads=HEADS)
    use_cpu_kernels(direct, converted.config.model)  # as build_model does
    batch = _batch()
    with torch.no_grad():
        ours, theirs = detector(batch), direct(batch)
        logits, boxes = reference_detr(files["detr_state"], batch.images, batch.mask)
    assert torch.equal(ours.logits, theirs.logits)
    assert torch.equal(ours.boxes_cxcywh, theirs.boxes_cxcywh)
    # the ResNet's frozen norms are folded into its convs (folded_resnet.py): rounding differs
    torch.testing.assert_close(ours.logits, logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ours.boxes_cxcywh, boxes, atol=1e-4, rtol=1e-4)


def test_runs_from_images_alone_and_round_trips(converted, tmp_path):
    out = save_converted(converted, tmp_path / "ez.pt")
    loaded = load_model(out)
    assert loaded.config.model.instances.source == "detr"
    batch = _batch()  # no image ids: nothing is read from a detections file
    with torch.no_grad():
        a, b = converted.model(batch), loaded.model(batch)
    mask = a.extras["pair_mask"]
    assert mask.sum() > 0
    assert torch.equal(a.verb_logits, b.verb_logits)
    assert torch.isfinite(a.verb_logits[mask]).all()
    # the pairs' boxes are the DETR's: every human box is one of its query boxes
    dets = converted.model.detector.detect(batch)[0]
    h = a.h_boxes_cxcywh[0][mask[0]]
    wh = torch.tensor([W, H, W, H], dtype=torch.float32)
    cxcywh = torch.cat([(dets.boxes_xyxy[:, :2] + dets.boxes_xyxy[:, 2:]) / 2,
                        dets.boxes_xyxy[:, 2:] - dets.boxes_xyxy[:, :2]], -1) / wh
    assert torch.cdist(h, cxcywh).min(1).values.max() < 1e-5


def test_cli_round_trip(converted, files, tmp_path, capsys):
    out = tmp_path / "cli.pt"
    rc = main(["convert", "--from", "ez-hoi", str(files["ckpt"]), str(out), "--prompts",
               str(files["prompts"]), "--zero-shot", "uv", "--set", HEADS_SET])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "model.instances.detr_classes" in printed and "shapes of detector.*" in printed
    loaded = load_model(out)
    with torch.no_grad():
        a, b = converted.model(_batch()), loaded.model(_batch())
    assert torch.equal(a.verb_logits, b.verb_logits)


def _variant(files, tmp_path, edit):
    ckpt = torch.load(files["ckpt"])
    edit(ckpt["model_state_dict"])
    path = tmp_path / "variant.pt"
    torch.save(ckpt, path)
    return path


def test_mismatched_detector_is_named(files, tmp_path, capsys):
    key = "detector.transformer.decoder.layers.1.linear1.weight"

    def shrink(s):
        s[key] = s[key][:16]

    path = _variant(files, tmp_path, shrink)
    with pytest.raises(CheckpointError, match=rf"{key} has shape \[16, 32\]"):
        _convert(files, path)
    rc = main(["convert", "--from", "ez-hoi", str(path), str(tmp_path / "x.pt"), "--prompts",
               str(files["prompts"]), "--set", HEADS_SET])
    assert rc == 2
    assert key in capsys.readouterr().err

    def drop_query(s):
        s.pop("detector.query_embed.weight")

    with pytest.raises(CheckpointError, match=r"variant\.pt.*query_embed\.weight"):
        _convert(files, _variant(files, tmp_path, drop_query))


def test_heads_must_divide_the_width(files):
    # EZ-HOI's --nheads 8 fits width 32; 3 heads do not
    with pytest.raises(ConfigError, match="not divisible by num_heads 3"):
        _convert(files, overrides=("model.instances.detector.num_heads=3",))


def test_coco_head_keeps_80_categories_before_the_softmax(files, tmp_path):
    """A checkpoint trained over DETR's COCO head (``--pretrained detr-r50-e632da11.pth``):
    92 rows; EZ-HOI's instances take the softmax over its 80 categories and no-object."""
    g = torch.Generator().manual_seed(3)

    def coco_head(s):
        s["detector.class_embed.weight"] = torch.randn(92, 32, generator=g)
        s["detector.class_embed.bias"] = torch.randn(92, generator=g)

    converted = _convert(files, _variant(files, tmp_path, coco_head))
    assert converted.config.model.instances.detr_classes == 91
    batch = _batch()
    with torch.no_grad():
        logits = converted.model.detector(batch).logits[-1][0]  # [Q, 92]
        insts = converted.model.instances(batch)[0]
    reserve = [i for i in range(92) if i != 0 and i not in COCO_UNUSED_IDS]
    scores = logits[:, reserve].softmax(-1)[:, :-1].max(-1).values  # [Q]
    assert len(insts.scores) > 0
    assert torch.cdist(insts.scores[:, None], scores[:, None]).min(1).values.max() < 1e-6


def test_cli_predicts_on_an_image(converted, tmp_path, capsys):
    """The converted checkpoint runs on a photo through ``openhoi predict`` with nothing but
    the image (no detections file)."""
    from PIL import Image

    g = torch.Generator().manual_seed(1)
    pixels = (torch.rand(48, 64, 3, generator=g) * 255).to(torch.uint8).numpy()
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    ckpt = save_converted(converted, tmp_path / "ez.pt")
    out = tmp_path / "pred.jsonl"
    rc = main(["predict", str(tmp_path / "photo.png"), "--checkpoint", str(ckpt),
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    lines = out.read_text().splitlines()
    assert len(lines) == 1 and "photo.png" in lines[0]
