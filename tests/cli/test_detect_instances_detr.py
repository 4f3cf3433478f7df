"""`openhoi detect-instances --detr WEIGHTS`: a random checkpoint in DETR's layout writes the
detections file that DETR's own forward and ``PostProcess`` (written out in
``tests/models/detr_layout.py``) give, at DETR's test scale, in the pixels of the images."""

import sys
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms import functional as TF

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from detr_layout import HEADS, detr_state, reference_detr  # noqa: E402

from openhoi.cli import main  # noqa: E402
from openhoi.data.detections import read_detections  # noqa: E402
from openhoi.data.loader import pad_images  # noqa: E402
from openhoi.data.transforms import resize_shape  # noqa: E402
from openhoi.label_space import load_label_space  # noqa: E402

SCALE, MAX_SIZE = 64, 100


def _images(folder):
    folder.mkdir()
    g = torch.Generator().manual_seed(0)
    for name, (h, w) in {"a.jpg": (90, 120), "b.png": (150, 70)}.items():
        pixels = (torch.rand(h, w, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / name)
    return folder


def _reference(state, folder, names):
    images = [Image.open(folder / n).convert("RGB") for n in names]
    tensors = []
    for im in images:
        h, w = resize_shape((im.height, im.width), SCALE, MAX_SIZE)
        tensors.append(TF.normalize(TF.to_tensor(TF.resize(im, [h, w])),
                                    [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]))
    batch = pad_images(tensors)
    with torch.no_grad():
        logits, boxes = reference_detr(state, batch.images, batch.mask)
    scores, labels = logits[-1].softmax(-1)[..., :-1].max(-1)  # DETR PostProcess
    cx, cy, w, h = boxes[-1].unbind(-1)
    xyxy = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)
    scale = torch.tensor([[im.width, im.height] * 2 for im in images])[:, None]
    return xyxy * scale, scores, labels, [(im.height, im.width) for im in images]


def test_detr_weights_write_detr_detections(tmp_path):
    folder = _images(tmp_path / "images")
    state = detr_state(80)
    weights = tmp_path / "detr-r18-hicodet.pth"
    torch.save({"model_state_dict": state}, weights)  # pocket's layout, as UPT saves it
    out = tmp_path / "dets.json"
    assert main(["detect-instances", str(folder), "--detr", str(weights), "--out", str(out),
                 "--detr-heads", str(HEADS), "--test-scale", str(SCALE), "--max-size",
                 str(MAX_SIZE), "--batch-size", "2", "--device", "cpu"]) == 0
    read = read_detections(out, load_label_space("hicodet").num_objects)
    names = ["a.jpg", "b.png"]
    boxes, scores, labels, sizes = _reference(state, folder, names)
    assert sorted(read) == names
    for b, name in enumerate(names):
        entry = read[name]
        assert entry["size"].tolist() == list(sizes[b])
        torch.testing.assert_close(entry["boxes"], boxes[b], atol=6e-3, rtol=0)  # 2 decimals
        torch.testing.assert_close(entry["scores"], scores[b], atol=1e-6, rtol=0)
        assert torch.equal(entry["labels"], labels[b])  # 80-class head = HICO-DET's order


def test_weights_that_do_not_fit_exit_2(tmp_path, capsys):
    folder = _images(tmp_path / "images")
    state = detr_state(80)
    del state["transformer.decoder.norm.weight"]
    weights = tmp_path / "broken.pth"
    torch.save({"model": state}, weights)
    args = ["detect-instances", str(folder), "--out", str(tmp_path / "d.json"), "--device", "cpu"]
    assert main([*args, "--detr", str(weights), "--detr-heads", str(HEADS)]) == 2
    err = capsys.readouterr().err
    assert "broken.pth" in err and "decoder.norm.weight" in err
    torch.save({"model": detr_state(7)}, weights)
    assert main([*args, "--detr", str(weights), "--detr-heads", str(HEADS)]) == 2
    assert "7 classes" in capsys.readouterr().err
    assert main([*args, "--detr", str(tmp_path / "missing.pth")]) == 2
    assert "not found" in capsys.readouterr().err
