"""The build table: every model family in one dict, and the one place that builds a model,
fresh or for a checkpoint.

``ARCHITECTURES[model.architecture]`` is the only reader of ``model.architecture``. The
engine, ``evaluate``, ``predict``, ``serve``, the converter, tests and benchmarks build models
through ``build_model_parts`` (fresh, pretrained files loaded) or ``load_model`` (a checkpoint
or exported file: config, label space and weights from the file alone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from openhoi.checkpoint import (
    checkpoint_config,
    checkpoint_label_space,
    load_model_weights,
    load_weights_file,
    save_safetensors,
)
from openhoi.config import Config, ModelConfig
from openhoi.errors import ConfigError
from openhoi.finite import check_finite_weights
from openhoi.label_space import LabelSpace
from openhoi.models.contract import Architecture, HOIModel, ModelParts, PostProcess
from openhoi.models.defr.build import ARCHITECTURE as DEFR
from openhoi.models.detr.attention import adopt_attention
from openhoi.models.ez_hoi.build import ARCHITECTURE as EZ_HOI
from openhoi.models.gen_vlkt.build import ARCHITECTURE as GEN_VLKT
from openhoi.models.hoiclip.build import ARCHITECTURE as HOICLIP
from openhoi.ops.conv import use_fast_conv
from openhoi.ops.linear import use_onednn_linear

ARCHITECTURES: dict[str, Architecture] = {
    "hoiclip": HOICLIP,
    "gen_vlkt": GEN_VLKT,
    "defr": DEFR,
    "ez_hoi": EZ_HOI,
}
"""Model families by ``model.architecture``: one line per family."""


def architecture_entry(name: str) -> Architecture:
    """The table line of family ``name`` (a ``ConfigError`` listing the known ones if none)."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ConfigError(f"model.architecture: unknown model family {name!r}; known: "
                          f"{sorted(ARCHITECTURES)}") from None


def build_model(cfg: ModelConfig, label_space: LabelSpace, **kwargs: Any) -> HOIModel:
    """The model alone of model config ``cfg`` (see ``Architecture.model`` for ``kwargs``)."""
    model = architecture_entry(cfg.architecture).model(cfg, label_space, **kwargs)
    use_cpu_kernels(model, cfg)
    return model


def use_cpu_kernels(model: nn.Module, cfg: ModelConfig) -> None:
    """openhoi's CPU kernels in ``model`` as ``cfg.onednn_linear`` and ``cfg.fast_conv`` say:
    every linear layer and attention projection (open_clip's towers included) in oneDNN's
    matmul, or torch's own; the 3x3 convolutions that gain by openhoi's kernels
    (``openhoi.ops.conv``), or all by oneDNN's."""
    if cfg.onednn_linear:
        adopt_attention(model)
    use_onednn_linear(model, cfg.onednn_linear)
    use_fast_conv(model, cfg.fast_conv)


def build_criterion(cfg: ModelConfig, label_space: LabelSpace,
                    interaction_columns: torch.Tensor | None = None) -> nn.Module:
    """The criterion of model config ``cfg``."""
    return architecture_entry(cfg.architecture).criterion(cfg, label_space, interaction_columns)


def build_postprocess(cfg: ModelConfig, label_space: LabelSpace) -> PostProcess:
    """The post-processor of model config ``cfg`` for ``label_space`` (rebuilt after an
    open-vocabulary ``retarget``)."""
    return architecture_entry(cfg.architecture).postprocess(cfg, label_space)


def build_model_parts(config: Config, label_space: LabelSpace,
                      device: torch.device | str | None = None, *, pretrained: bool = True,
                      **files: Any) -> ModelParts:
    """Model, criterion and post-processor of ``config`` (on ``device``, default CPU).

    Args:
        pretrained: load the pretrained files the config names (CLIP, DETR...) and ``files``
            (e.g. ``verb_repr``); False for a model whose weights a checkpoint overwrites.
        files: the family's own pretrained inputs (``Architecture.model``).
    """
    arch = architecture_entry(config.model.architecture)
    model = build_model(config.model, label_space, pretrained=pretrained, **files)
    columns = None
    if config.data.zero_shot is not None:  # HOICLIP --del_unseen: losses over seen classes
        columns = torch.tensor(label_space.seen_interactions(config.data.zero_shot))
    criterion = arch.criterion(config.model, label_space, columns)
    device = torch.device(device or "cpu")
    return ModelParts(model.to(device), criterion.to(device),
                      arch.postprocess(config.model, label_space), arch.group_lrs(config.model))


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint: its parts (weights loaded, eval mode), the resolved
    config it was trained with and its label space."""

    parts: ModelParts
    config: Config
    label_space: LabelSpace

    @property
    def model(self) -> HOIModel:
        return self.parts.model


def load_model(source: str | Path | Mapping[str, Any], where: str | None = None) -> LoadedModel:
    """Rebuild a trained model from a checkpoint or exported safetensors file (a path, or a
    checkpoint dict already read with ``openhoi.checkpoint.load_weights_file``).

    Nothing is read from disk besides the checkpoint: the model is built without pretrained
    files (CLIP without its weight file, zero text embeddings), then every tensor comes from
    the checkpoint (a missing or extra tensor is a ``CheckpointError`` listing which).
    """
    if isinstance(source, str | Path):
        where = where or str(source)
        source = load_weights_file(source)
    where = where or "checkpoint"
    check_finite_weights(source["model"], where)  # a diverged run's weights predict nothing
    config = checkpoint_config(source, where)
    space = checkpoint_label_space(source, config, where)
    parts = build_model_parts(config, space, pretrained=False)
    load_model_weights(parts.model, source, space.fingerprint, where=where)
    parts.model.eval()
    return LoadedModel(parts, config, space)


def export_model(checkpoint_path: str | Path, out: str | Path) -> Path:
    """Write a checkpoint's model as one safetensors file (weights + config + label space)."""
    loaded = load_model(checkpoint_path)
    return save_safetensors(out, loaded.model, loaded.config, loaded.label_space)
