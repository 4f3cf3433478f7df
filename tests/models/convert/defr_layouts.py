"""Checkpoints shaped like DEFR's (drjinying/hts), from key/shape tables written from the
reference architecture (``clip/clip_hico.py`` ``ClipViT`` + ``clip/layers.py``
``VisualTransformer``), not from openhoi's modules; saved the way ``train_dist.py`` saves them
(``checkpointer.save_checkpoint``: ``{'epoch', 'model_state_dict', 'optimizer_state_dict'}``,
keys prefixed ``module.`` by DDP).

Tiny sizes: width 64 (DEFR's heads are ``width // 64``, so one head), 2 blocks, patch 8, and a
4 x 4 grid (32 px input, the tower's pre-training size being 16 px: DEFR interpolates the
position embeddings to ``model.image_size``). ``TINY_ARCH`` is the open_clip config that builds
the same tower; ``register_tiny_arch`` makes it known to open_clip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from reference_layouts import _attn, _linear, _norm

WIDTH, LAYERS, PATCH, GRID = 64, 2, 8, 4
TINY_ARCH = "defr-test-tiny"
_TINY_CONFIG = {"embed_dim": 32, "quick_gelu": True,
                "vision_cfg": {"image_size": 16, "layers": LAYERS, "width": WIDTH,
                               "patch_size": PATCH},
                "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32,
                             "heads": 2, "layers": 1}}


def register_tiny_arch(folder: Path) -> str:
    """Write ``TINY_ARCH``'s config into ``folder`` and register it with open_clip."""
    import open_clip

    path = Path(folder) / f"{TINY_ARCH}.json"
    path.write_text(json.dumps(_TINY_CONFIG))
    open_clip.add_model_config(path)
    return TINY_ARCH


def defr_layout(num_classes: int = 600, classifier: str = "clip", width: int = WIDTH,
                layers: int = LAYERS, patch: int = PATCH, grid: int = GRID,
                embed_dim: int = 32) -> dict[str, tuple]:
    """``ClipViT`` state dict keys and shapes for DEFR classifier type ``classifier``
    (``clip``, ``clip-linear``, ``i-clip``, ``rand-512``, ``rand-512-linear``)."""
    v = "visual_encoder.visual."
    out: dict[str, tuple] = {
        "logit_scale": (), f"{v}class_embedding": (width,),
        f"{v}positional_embedding": (grid * grid + 1, width),
        f"{v}conv1.weight": (width, 3, patch, patch),
        **_norm(f"{v}ln_pre", width), **_norm(f"{v}ln_post", width)}
    for i in range(layers):
        p = f"{v}transformer.resblocks.{i}"
        out.update({**_attn(f"{p}.attn", width), **_norm(f"{p}.ln_1", width),
                    **_norm(f"{p}.ln_2", width), **_linear(f"{p}.mlp.c_fc", width, 4 * width),
                    **_linear(f"{p}.mlp.c_proj", 4 * width, width)})
    dim = width
    if classifier.startswith("rand-512"):  # visual.proj kept: features in CLIP's joint space
        out[f"{v}proj"] = (width, embed_dim)
        dim = embed_dim
    if classifier.endswith("-linear"):
        out.update(_linear("classifier", dim, num_classes))
    else:
        out["classifier"] = (num_classes, dim)
    if classifier.startswith("i-"):
        out["m_classifier"] = (num_classes, num_classes)
    return out


def defr_state(shapes: dict[str, tuple], seed: int = 0,
               logit_scale: float = 4.61) -> dict[str, torch.Tensor]:
    """Random tensors of ``shapes`` (LayerNorm gains around 1, DEFR's fixed logit scale)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in shapes.items():
        t = torch.randn(shape, generator=g) * 0.1
        if key.endswith(("ln_pre.weight", "ln_post.weight", "ln_1.weight", "ln_2.weight")):
            t = t + 1.0
        out[key] = t
    out["logit_scale"] = torch.tensor(logit_scale)
    return out


def defr_release(state: dict[str, torch.Tensor], epoch: int = 9) -> dict[str, Any]:
    """What DEFR's ``checkpointer.save_checkpoint`` writes for a DDP-wrapped model."""
    return {"epoch": epoch,
            "model_state_dict": {f"module.{k}": v for k, v in state.items()},
            "optimizer_state_dict": {"state": {}, "param_groups": []}}
