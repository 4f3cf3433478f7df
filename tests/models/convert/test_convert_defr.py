"""DEFR (drjinying/hts) checkpoints: settings from the shapes, every tensor in its place,
logits recomputed independently from the reference's formula, errors naming keys, and a round
trip through the checkpoint loader and ``openhoi recognize``."""

import json

import pytest
import torch
import torch.nn.functional as F
from defr_layouts import GRID, PATCH, defr_layout, defr_release, defr_state
from defr_layouts import register_tiny_arch as _register
from reference_layouts import hoiclip_layout, random_state, release

from openhoi.cli import main
from openhoi.errors import CheckpointError, ConfigError
from openhoi.label_space import load_label_space
from openhoi.models.convert import convert_checkpoint, save_converted


@pytest.fixture(scope="module", autouse=True)
def tiny_arch(tmp_path_factory):
    return _register(tmp_path_factory.mktemp("arch"))


def _write(folder, kind="clip", seed=0, **changes):
    state = defr_state(defr_layout(classifier=kind), seed=seed)
    for key, value in changes.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    path = folder / f"defr_{kind}.pt"
    torch.save(defr_release(state), path)
    return path, state


def _reference_logits(state, pixels):
    """DEFR ``ClipViT.forward`` written out from ``clip/layers.py`` for the tiny tower (one
    head: width 64 // 64): conv patches, class token, position embeddings, pre-LN blocks with
    QuickGELU, ``ln_post`` of the class token, optional ``proj``, then the classifier."""
    v = {k[len("visual_encoder.visual."):]: t for k, t in state.items()
         if k.startswith("visual_encoder.visual.")}
    w = v["conv1.weight"].shape[0]
    x = F.conv2d(pixels, v["conv1.weight"], stride=PATCH).flatten(2).transpose(1, 2)
    x = torch.cat([v["class_embedding"].expand(len(x), 1, w), x], 1) + v["positional_embedding"]
    x = F.layer_norm(x, (w,), v["ln_pre.weight"], v["ln_pre.bias"])
    blocks = len({k.split(".")[2] for k in v if k.startswith("transformer.resblocks.")})
    for i in range(blocks):
        p = f"transformer.resblocks.{i}."
        h = F.layer_norm(x, (w,), v[p + "ln_1.weight"], v[p + "ln_1.bias"])
        qkv = F.linear(h, v[p + "attn.in_proj_weight"], v[p + "attn.in_proj_bias"])
        q, k, val = qkv.chunk(3, -1)
        att = torch.softmax(q @ k.transpose(1, 2) / w ** 0.5, -1) @ val
        x = x + F.linear(att, v[p + "attn.out_proj.weight"], v[p + "attn.out_proj.bias"])
        h = F.layer_norm(x, (w,), v[p + "ln_2.weight"], v[p + "ln_2.bias"])
        h = F.linear(h, v[p + "mlp.c_fc.weight"], v[p + "mlp.c_fc.bias"])
        x = x + F.linear(h * torch.sigmoid(1.702 * h), v[p + "mlp.c_proj.weight"],
                         v[p + "mlp.c_proj.bias"])
    feat = F.layer_norm(x[:, 0], (w,), v["ln_post.weight"], v["ln_post.bias"])
    if "proj" in v:
        feat = feat @ v["proj"]
    feat = feat / feat.norm(dim=-1, keepdim=True)
    scale = state["logit_scale"].exp()
    if "classifier.weight" in state:
        return F.linear(scale * feat, state["classifier.weight"], state["classifier.bias"])
    rows = state["classifier"]
    if "m_classifier" in state:
        rows = state["m_classifier"] @ rows
    return scale * feat @ (rows / rows.norm(dim=-1, keepdim=True)).T


def _run(model, pixels):
    from openhoi.structures import ImageBatch

    with torch.no_grad():
        mask = torch.zeros(len(pixels), *pixels.shape[-2:], dtype=torch.bool)
        sizes = torch.tensor([list(pixels.shape[-2:])] * len(pixels))
        return model(ImageBatch(pixels, mask, sizes)).logits


@pytest.mark.parametrize("classifier", ["clip", "clip-linear", "i-clip", "rand-512",
                                        "rand-512-linear"])
def test_logits_match_the_reference_formula(tmp_path, classifier):
    path, state = _write(tmp_path, classifier, seed=3)
    converted = convert_checkpoint(path, "defr")
    size = GRID * PATCH
    pixels = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    ours = _run(converted.model, pixels)
    ref = _reference_logits(state, pixels)
    assert ours.shape == (2, 600)
    torch.testing.assert_close(ours, ref, atol=2e-5, rtol=1e-5)


def test_settings_come_from_the_shapes(tmp_path, tiny_arch):
    path, _ = _write(tmp_path, "clip")
    converted = convert_checkpoint(path, "defr")
    b, c = converted.config.model.backbone, converted.config.model.classifier
    assert converted.config.model.architecture == "defr"
    assert (b.kind, b.arch, b.image_size, b.keep_projection) == ("open_clip", tiny_arch,
                                                                 GRID * PATCH, False)
    assert (c.kind, c.logit_scale) == ("cosine", 4.61)
    assert converted.config.model.score == "logit"  # DEFR's evaluate.py ranks raw logits
    assert converted.label_space.name == "hicodet"
    inferred = converted.report.inferred
    assert inferred["model.backbone.image_size"][1].startswith(
        "visual_encoder.visual.positional_embedding: grid 4")
    assert converted.config.data.label_space == "hicodet"
    linear = convert_checkpoint(_write(tmp_path, "rand-512-linear")[0], "defr").config.model
    assert (linear.classifier.kind, linear.backbone.keep_projection) == ("linear", True)


def test_every_tensor_is_accounted_for(tmp_path):
    path, state = _write(tmp_path, "clip")
    converted = convert_checkpoint(path, "defr")
    report = converted.report
    assert set(report.loaded.values()) == set(state) and not report.ignored
    assert set(report.loaded) == set(converted.model.state_dict())
    model_state = converted.model.state_dict()
    for ours, theirs in report.loaded.items():
        assert torch.equal(model_state[ours], state[theirs]), ours
    assert report.loaded["classifier.logit_scale"] == "logit_scale"


def test_unknown_missing_and_mismatched_keys_are_named(tmp_path):
    path, _ = _write(tmp_path, extra_head=torch.zeros(3))
    with pytest.raises(CheckpointError, match=r"no place in the openhoi model.*: extra_head"):
        convert_checkpoint(path, "defr")
    key = "visual_encoder.visual.transformer.resblocks.1.mlp.c_fc.bias"
    path, _ = _write(tmp_path, **{key: None})
    with pytest.raises(CheckpointError, match=r"backbone\.visual\.transformer\.resblocks\.1\."
                       r"mlp\.c_fc\.bias \(reference key " + key.replace(".", r"\.")):
        convert_checkpoint(path, "defr")
    path, _ = _write(tmp_path, **{"visual_encoder.visual.ln_post.weight": torch.ones(65)})
    with pytest.raises(CheckpointError, match=r"ln_post\.weight has shape \[65\] but "
                       r"backbone\.visual\.ln_post\.weight needs \[64\]"):
        convert_checkpoint(path, "defr")


def test_layout_and_label_space_errors(tmp_path):
    path, _ = _write(tmp_path, logit_scale=torch.tensor(0.0))
    with pytest.raises(CheckpointError, match="logit_scale is 0"):
        convert_checkpoint(path, "defr")
    path, _ = _write(tmp_path, classifier=torch.zeros(599, 64))
    with pytest.raises(CheckpointError, match=r"classifier has 599 rows.*pass --label-space"):
        convert_checkpoint(path, "defr")
    path, _ = _write(tmp_path)
    with pytest.raises(CheckpointError, match=r"600 rows but label space 'vcoco'"):
        convert_checkpoint(path, "defr", label_space="vcoco")
    with pytest.raises(CheckpointError, match="use --from defr"):
        convert_checkpoint(path, "hoiclip")
    with pytest.raises(ConfigError, match="--clip-weights"):
        convert_checkpoint(path, "defr", clip_weights=path)
    detector = tmp_path / "hoiclip.pth"
    torch.save(release(random_state(hoiclip_layout(600, 81, 117))), detector)
    with pytest.raises(CheckpointError, match="use --from hoiclip or --from gen-vlkt"):
        convert_checkpoint(detector, "defr")
    path, _ = _write(tmp_path, **{"visual_encoder.visual.layer1.0.conv1.weight":
                                  torch.zeros(64, 64, 1, 1)})
    with pytest.raises(CheckpointError, match="CLIP ResNet image tower"):
        convert_checkpoint(path, "defr")
    path, _ = _write(tmp_path, **{"visual_encoder.visual.conv1.weight": torch.zeros(64, 3, 7, 7)})
    with pytest.raises(CheckpointError, match="no open_clip QuickGELU ViT.*patch 7"):
        convert_checkpoint(path, "defr")


def test_round_trip_through_load_model_and_recognize(tmp_path, capsys):
    from PIL import Image

    from openhoi.checkpoint import load_checkpoint
    from openhoi.models.build import load_model

    path, _ = _write(tmp_path, "clip", seed=5)
    out = tmp_path / "defr_openhoi.pt"
    assert main(["convert", "--from", "defr", str(path), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "model.backbone.image_size = 32" in printed and f"wrote {out}" in printed
    checkpoint = load_checkpoint(out)
    assert checkpoint["extra"]["converted_from"]["source"] == "defr"
    assert checkpoint["extra"]["converted_from"]["epoch"] == 9
    loaded = load_model(out)
    converted = convert_checkpoint(path, "defr")
    pixels = torch.randn(2, 3, 32, 32)
    logits = _run(loaded.model, pixels)
    assert torch.equal(logits, _run(converted.model, pixels))
    raw = type("R", (), {"logits": logits})()
    preds = loaded.parts.postprocess(raw, torch.tensor([[32, 32]] * 2), ["a", "b"])
    assert torch.equal(preds[1].scores, logits[1])  # evaluated on logits, as DEFR does
    weights = save_converted(converted, tmp_path / "defr.safetensors")
    assert torch.equal(_run(load_model(weights).model, pixels), _run(converted.model, pixels))

    image = tmp_path / "photo.jpg"
    Image.new("RGB", (50, 40), (200, 30, 90)).save(image)
    rec = tmp_path / "rec.jsonl"
    assert main(["recognize", str(image), "--checkpoint", str(out), "--out", str(rec),
                 "--top-k", "3", "--device", "cpu"]) == 0
    top = json.loads(rec.read_text().splitlines()[0])["interactions"]
    from openhoi.recognize import Recognizer

    r = Recognizer.from_checkpoint(out, device="cpu")
    logits = r.logits([Image.open(image).convert("RGB")])[0]
    assert logits.topk(3).values.min() > 17  # sigmoid saturates to 1.0: ranked by logit
    assert [t["interaction"] for t in top] == logits.topk(3).indices.tolist()
    space = load_label_space("hicodet")
    assert r.space.fingerprint == space.fingerprint


def test_cli_errors_exit_2(tmp_path, capsys):
    path, _ = _write(tmp_path, extra_head=torch.zeros(3))
    assert main(["convert", "--from", "defr", str(path), str(tmp_path / "o.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("openhoi convert: error:") and "extra_head" in err
    assert not (tmp_path / "o.pt").exists()

