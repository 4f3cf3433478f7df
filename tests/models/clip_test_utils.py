"""Tiny CLIP models and weight files for the CLIP tests (no downloads, CPU, milliseconds)."""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import torch

from openhoi.models.clip.clip_loading import TINY_ARCH, arch_config, register_openhoi_configs


def tiny_open_clip(seed: int = 0, **overrides) -> torch.nn.Module:
    """A random ``openhoi-tiny`` open_clip model (``overrides`` go to the CLIP constructor)."""
    register_openhoi_configs()
    torch.manual_seed(seed)
    return open_clip.create_model(TINY_ARCH, pretrained=None, **overrides).eval()


def register_variant(tmp_path: Path, name: str, quick_gelu: bool = True, **vision) -> str:
    """Register a throw-away open_clip config: openhoi-tiny with other vision settings."""
    cfg = arch_config(TINY_ARCH)
    cfg["quick_gelu"] = quick_gelu
    cfg["vision_cfg"].update(vision)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg))
    open_clip.add_model_config(path)
    return name


def save_torchscript(model: torch.nn.Module, path: Path, openai_meta: bool = False) -> Path:
    """Script and save ``model`` like OpenAI's release archives (optionally with the extra
    ``input_resolution`` entry their state dicts carry)."""
    if openai_meta:
        model.register_buffer("input_resolution", torch.tensor(32))
    torch.jit.save(torch.jit.script(model), str(path))
    return path
