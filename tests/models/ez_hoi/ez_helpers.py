"""Tiny EZ-HOI builds for the tests: a two-layer toy CLIP (deep prompts need >= 2 layers in
both towers) saved with random weights, detections files written in the documented layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from openhoi.config import ClipConfig
from openhoi.models.ez_hoi.config import EZHOIConfig, InstancesConfig, PromptConfig
from openhoi.structures import HOITargets, ImageBatch

TINY2 = {
    "embed_dim": 32, "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 48, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
ARCH = "ezhoi-test-tiny2"


def tiny2_weights(folder: Path) -> Path:
    """Register the two-layer toy CLIP with open_clip and save random weights for it."""
    import open_clip

    from openhoi.models.clip.clip_loading import load_clip_model

    cfg = folder / f"{ARCH}.json"
    cfg.write_text(json.dumps(TINY2))
    open_clip.add_model_config(cfg)
    weights = folder / "tiny2.pt"
    if not weights.exists():
        torch.manual_seed(123)
        model, _ = load_clip_model(ARCH, None)
        torch.save(model.state_dict(), weights)
    return weights


def write_detections(path: Path, images: dict[str, dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"format": "openhoi-detections", "version": 1,
                                "boxes": "xyxy_abs", "images": images}))
    return path


DETS = {
    "a": {"size": [128, 160], "boxes": [[0, 0, 60, 120], [40, 40, 100, 100], [10, 10, 50, 50],
                                        [0, 0, 30, 30]],
          "scores": [0.9, 0.8, 0.5, 0.1], "labels": [0, 1, 3, 0]},
    "b": {"size": [120, 140], "boxes": [[0, 0, 60, 120]], "scores": [0.9], "labels": [0]},
}


def tiny_config(weights: Path, dets: Path, **kw: Any) -> EZHOIConfig:
    prompts = kw.pop("prompts", {})
    return EZHOIConfig(
        clip=ClipConfig(arch=ARCH, weights=str(weights), image_resize="squash"),
        instances=InstancesConfig(source="file", detections_file=str(dets)),
        prompts=PromptConfig(depth=2, **prompts), **kw)


def batch() -> ImageBatch:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(2, 3, 64, 80, generator=g)
    return ImageBatch(images, torch.zeros(2, 64, 80, dtype=torch.bool),
                      torch.tensor([[64, 80], [60, 70]]), ("a", "b"))


def targets(num_verbs: int, obj: int = 1) -> list[HOITargets]:
    """Image a: the first detected human holds object ``obj`` (detected box 1, half size)."""
    verbs = torch.zeros(1, num_verbs)
    verbs[0, 0] = 1
    a = HOITargets(torch.tensor([[0., 0, 30, 60], [20, 20, 50, 50]]), torch.tensor([0, obj]),
                   torch.tensor([[0, 1]]), verbs, "a", (64, 80), (128, 160))
    b = HOITargets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long),
                   torch.zeros(0, 2, dtype=torch.long), torch.zeros(0, num_verbs), "b",
                   (60, 70), (120, 140))
    return [a, b]
