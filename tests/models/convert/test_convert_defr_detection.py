"""DEFR's HOI detection with a converted DEFR checkpoint: `openhoi recognize --detections`
(``--region auto`` picks the box mask) against DEFR's ``hoi_detection`` written out from the
reference (``model.py`` ``DefrDet`` + ``hoi_head.py`` ``HoiHead``): the first blocks unmasked,
the last ``mask_layers`` with the class token's attention limited to the patches of the two
boxes (a bool mask, ``True`` = cut), ``ln_post`` of the class token, the classifier, then
``sigmoid(logits) * s_h^6 * s_o^3`` on the object's interactions (``eval/cache.py``)."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from defr_layouts import PATCH, defr_layout, defr_release, defr_state
from defr_layouts import register_tiny_arch as _register
from PIL import Image

from openhoi.cli import main
from openhoi.data.recognition import recognition_transforms
from openhoi.label_space import load_label_space


@pytest.fixture(scope="module", autouse=True)
def tiny_arch(tmp_path_factory):
    return _register(tmp_path_factory.mktemp("arch"))


def _defr_masks(pairs, size, grid):
    """``HoiHead.build_attention_masks`` for one head: ``[P, L, L]`` bool, True = masked."""
    masks = torch.zeros(len(pairs), grid * grid + 1, grid * grid + 1, dtype=torch.bool)
    for i, boxes in enumerate(pairs):
        cls_img = masks[i, 0, 1:].view(grid, grid)
        cls_img.fill_(True)
        for box in boxes * (grid / size):  # resize_boxes((size, size) -> (grid, grid))
            xmin, ymin = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
            xmax, ymax = min(grid, math.ceil(box[2])), min(grid, math.ceil(box[3]))
            cls_img[ymin:ymax, xmin:xmax] = False
    return masks


def _block(v, p, x, w, mask=None):
    h = F.layer_norm(x, (w,), v[p + "ln_1.weight"], v[p + "ln_1.bias"])
    q, k, val = F.linear(h, v[p + "attn.in_proj_weight"], v[p + "attn.in_proj_bias"]).chunk(3, -1)
    att = q @ k.transpose(1, 2) / w ** 0.5  # one head (width 64 // 64)
    if mask is not None:
        att = att.masked_fill(mask, float("-inf"))
    x = x + F.linear(torch.softmax(att, -1) @ val, v[p + "attn.out_proj.weight"],
                     v[p + "attn.out_proj.bias"])
    h = F.linear(F.layer_norm(x, (w,), v[p + "ln_2.weight"], v[p + "ln_2.bias"]),
                 v[p + "mlp.c_fc.weight"], v[p + "mlp.c_fc.bias"])
    return x + F.linear(h * torch.sigmoid(1.702 * h), v[p + "mlp.c_proj.weight"],
                        v[p + "mlp.c_proj.bias"])


def _reference_pair_logits(state, pixels, pairs, mask_layers):
    """DefrDet.forward for one image and P pairs (``classifier: clip``)."""
    v = {k[len("visual_encoder.visual."):]: t for k, t in state.items()
         if k.startswith("visual_encoder.visual.")}
    w, size = v["conv1.weight"].shape[0], pixels.shape[-1]
    x = F.conv2d(pixels, v["conv1.weight"], stride=PATCH).flatten(2).transpose(1, 2)
    x = torch.cat([v["class_embedding"].expand(1, 1, w), x], 1) + v["positional_embedding"]
    x = F.layer_norm(x, (w,), v["ln_pre.weight"], v["ln_pre.bias"])
    blocks = len({k.split(".")[2] for k in v if k.startswith("transformer.resblocks.")})
    for i in range(blocks - mask_layers):
        x = _block(v, f"transformer.resblocks.{i}.", x, w)
    x = x.expand(len(pairs), -1, -1)
    masks = _defr_masks(pairs, size, size // PATCH)
    for i in range(blocks - mask_layers, blocks):
        x = _block(v, f"transformer.resblocks.{i}.", x, w, masks)
    feat = F.layer_norm(x[:, 0], (w,), v["ln_post.weight"], v["ln_post.bias"])
    feat = feat / feat.norm(dim=-1, keepdim=True)
    rows = state["classifier"]
    return state["logit_scale"].exp() * feat @ (rows / rows.norm(dim=-1, keepdim=True)).T


@pytest.mark.parametrize("mask_layers", [1, 2])
def test_converted_defr_detects_as_the_reference(tmp_path, mask_layers, caplog):
    state = defr_state(defr_layout(classifier="clip"), seed=7, logit_scale=1.0)
    path = tmp_path / "defr.pt"
    torch.save(defr_release(state), path)
    ckpt = tmp_path / "defr_openhoi.pt"
    assert main(["convert", "--from", "defr", str(path), str(ckpt)]) == 0
    space = load_label_space("hicodet")
    rng = torch.Generator().manual_seed(0)
    image_path = tmp_path / "HICO_test2015_00000001.jpg"
    Image.fromarray((torch.rand(48, 64, 3, generator=rng) * 255).byte().numpy()).save(
        image_path, quality=95)
    bicycle = space.objects.index("bicycle")
    boxes = [[2.0, 3.0, 30.0, 45.0], [20.0, 10.0, 60.0, 40.0], [40.0, 0.0, 63.0, 20.0]]
    scores = [0.9, 0.8, 0.7]
    labels = [space.human_label, bicycle, space.human_label]
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps({"format": "openhoi-detections", "version": 1,
                                "boxes": "xyxy_abs", "images": {image_path.name: {
                                    "size": [48, 64], "boxes": boxes, "scores": scores,
                                    "labels": labels}}}))
    out = tmp_path / "triplets.json"
    caplog.set_level("INFO")
    assert main(["recognize", str(image_path), "--checkpoint", str(ckpt), "--detections",
                 str(dets), "--out", str(out), "--mask-layers", str(mask_layers),
                 "--device", "cpu"]) == 0
    assert "pair region: mask" in caplog.text
    rec = json.loads(out.read_text())["images"][0]
    # the reference on the same input: the model's square resize, boxes scaled to it
    image = Image.open(image_path).convert("RGB")
    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    pixels = recognition_transforms(32, mean, std, train=False)(image)[None]
    scale = torch.tensor([32 / 64, 32 / 48] * 2)
    got = {}
    for (h, o), i, s in zip(rec["pair_idx"], rec["interactions"], rec["scores"]):
        got[(tuple(rec["boxes_xyxy"][h]), tuple(rec["boxes_xyxy"][o]), i)] = s
    inter_obj = space.interaction_object
    want = {}
    for h in (0, 2):
        for o in range(3):
            if o == h:
                continue
            pair = torch.tensor([boxes[h], boxes[o]])[None] * scale
            with torch.no_grad():
                s_hoi = _reference_pair_logits(state, pixels, pair, mask_layers).sigmoid()[0]
            prior = scores[h] ** 6 * scores[o] ** 3
            for i in (inter_obj == labels[o]).nonzero().squeeze(1).tolist():
                want[(tuple(boxes[h]), tuple(boxes[o]), i)] = float(s_hoi[i]) * prior
    assert got.keys() == want.keys() and len(want) > 30
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-4, abs=1e-9)
