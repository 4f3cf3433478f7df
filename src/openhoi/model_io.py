"""Self-describing models: rebuild a trained HOI detector from its checkpoint alone, export it.

A checkpoint (``engine.checkpoint``) or exported safetensors file carries the resolved config,
the label space (its JSON, and the fingerprint of its classes) and every weight, CLIP's text
tower included, so ``predict``/``evaluate`` need no model flags and no CLIP or DETR files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from openhoi.checkpoint import (
    checkpoint_config,
    load_model_weights,
    load_weights_file,
    save_safetensors,
)
from openhoi.config import Config
from openhoi.errors import CheckpointError, OpenHOIError
from openhoi.label_space import LabelSpace, label_space_from_dict, load_label_space
from openhoi.models.detr.hoi_detector import HOIDetector


def checkpoint_label_space(checkpoint: Mapping[str, Any], config: Config,
                           where: str = "checkpoint") -> LabelSpace:
    """The label space a checkpoint was trained on: its embedded JSON when present, else the
    config's named label space, checked against the stored fingerprint."""
    stored = checkpoint.get("label_space")
    embedded = checkpoint.get("label_space_json")
    if embedded:
        space = label_space_from_dict(json.loads(embedded), where=f"{where}: label_space_json")
    else:
        name = config.data.label_space or config.data.dataset
        try:
            space = load_label_space(name)
        except OpenHOIError as err:
            raise CheckpointError(
                f"{where}: carries no label space and its config names {name!r}, which cannot "
                f"be loaded ({err})") from None
    if stored is not None and space.fingerprint != stored:
        raise CheckpointError(
            f"{where}: trained on label space {stored!r} but {space.fingerprint!r} was found "
            "(the classes or their order differ)")
    return space


def build_model_from_checkpoint(
    checkpoint: Mapping[str, Any], where: str = "checkpoint",
) -> tuple[HOIDetector, Config, LabelSpace]:
    """``(model, config, label_space)`` rebuilt from a loaded checkpoint dict, weights loaded.

    Nothing is read from disk besides the checkpoint: CLIP is built without its weight file
    and the text classifiers start from zeros, then every tensor comes from the checkpoint
    (a missing or extra tensor is a ``CheckpointError`` listing which).
    """
    from openhoi.models.clip.clip_knowledge import build_clip_knowledge
    from openhoi.models.detr.hoi_detector import build_hoi_detector

    config = checkpoint_config(checkpoint, where)
    space = checkpoint_label_space(checkpoint, config, where)
    mcfg = config.model
    clip = build_clip_knowledge(mcfg.clip, device="cpu", load_weights=False)
    embed = clip.embed_dim
    model = build_hoi_detector(  # placeholders only: the checkpoint overwrites all of them
        mcfg, space, clip=clip,
        verb_repr=torch.zeros(space.num_verbs, embed),
        interaction_text=torch.zeros(space.num_interactions, embed),
        object_text=torch.zeros(space.num_objects + 1, embed),
    )
    load_model_weights(model, checkpoint, space.fingerprint, where=where)
    return model.eval(), config, space


def export_model(checkpoint_path: str | Path, out: str | Path) -> Path:
    """Write a checkpoint's model as one safetensors file (weights + config + label space)."""
    checkpoint = load_weights_file(checkpoint_path)
    model, config, space = build_model_from_checkpoint(checkpoint, where=str(checkpoint_path))
    return save_safetensors(out, model, config, space)
