"""CLIP text embeddings of a label space's interaction and object prompts, computed or from file.

``class_text_embeddings`` is what model builders call to initialise the interaction and object
classifiers: it reads an ``openhoi embed-text`` file when the config names one (checking that
the file's architecture, weights and prompts are the ones asked for), else runs the text tower.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from openhoi.config import ClipConfig
from openhoi.errors import CheckpointError
from openhoi.label_space import LabelSpace
from openhoi.models.clip.clip_files import check_metadata, load_tensor_file, save_tensor_file
from openhoi.models.clip.clip_knowledge import ClipKnowledge
from openhoi.models.clip.text_classifier import interaction_prompts, object_prompts, text_embeddings

TEXT_EMBEDDINGS_FORMAT = "openhoi.text_embeddings/1"


@dataclass
class ClassTextEmbeddings:
    """L2-normalised CLIP text embeddings of the classes of one label space.

    Attributes:
        interactions: ``[I, E]`` one row per interaction, official order.
        objects: ``[O + 1, E]`` one row per object, then the no-object row (``[O, E]`` when
            the config has no no-object prompt).
        metadata: ``arch``, ``weights_sha256``, ``weights_file``, ``precision``,
            ``label_space`` (fingerprint), ``interaction_prompts``, ``object_prompts``,
            ``embed_dim``.
    """

    interactions: Tensor
    objects: Tensor
    metadata: dict[str, Any]


def prompts_for(cfg: ClipConfig, space: LabelSpace) -> tuple[list[str], list[str]]:
    """The interaction and object prompts the config asks for."""
    return (interaction_prompts(space, cfg.interaction_template),
            object_prompts(space, cfg.object_template, cfg.no_object_prompt or None))


def compute_class_text_embeddings(clip: ClipKnowledge, space: LabelSpace,
                                  cfg: ClipConfig) -> ClassTextEmbeddings:
    """Run CLIP's text tower over the config's prompts for ``space``."""
    inter_p, obj_p = prompts_for(cfg, space)
    meta = {"arch": clip.arch, "weights_sha256": clip.weights_sha256,
            "weights_file": Path(cfg.weights).name if cfg.weights else None,
            "precision": cfg.precision, "label_space": space.fingerprint,
            "interaction_prompts": inter_p, "object_prompts": obj_p,
            "embed_dim": clip.embed_dim}
    return ClassTextEmbeddings(text_embeddings(clip, inter_p).cpu(),
                               text_embeddings(clip, obj_p).cpu(), meta)


def save_class_text_embeddings(path: str | Path, emb: ClassTextEmbeddings) -> None:
    save_tensor_file(path, TEXT_EMBEDDINGS_FORMAT,
                     {"interaction_embeddings": emb.interactions,
                      "object_embeddings": emb.objects}, emb.metadata)


def load_class_text_embeddings(path: str | Path, **expected: Any) -> ClassTextEmbeddings:
    """Read an ``embed-text`` file; ``expected`` metadata fields must match (``None``: any).

    Raises:
        CheckpointError: naming the file and the first field that differs.
    """
    tensors, meta = load_tensor_file(path, TEXT_EMBEDDINGS_FORMAT,
                                     ("interaction_embeddings", "object_embeddings"))
    check_metadata(path, meta, expected)
    emb = ClassTextEmbeddings(tensors["interaction_embeddings"].float(),
                              tensors["object_embeddings"].float(), meta)
    for name, t, prompts in (("interaction_embeddings", emb.interactions,
                              meta.get("interaction_prompts")),
                             ("object_embeddings", emb.objects, meta.get("object_prompts"))):
        if prompts is not None and t.shape[0] != len(prompts):
            raise CheckpointError(f"{path}: tensor {name!r} has {t.shape[0]} rows for "
                                  f"{len(prompts)} prompts")
    return emb


def class_text_embeddings(cfg: ClipConfig, space: LabelSpace,
                          clip: ClipKnowledge | None) -> ClassTextEmbeddings:
    """Classifier initialisation for ``space``: from ``cfg.text_embeddings`` or the text tower.

    A file must match the label space, the prompts, and (when ``clip`` is given) the CLIP
    architecture, weights hash and embedding size.
    """
    if cfg.text_embeddings is None:
        if clip is None:
            raise CheckpointError("class text embeddings need CLIP's text tower or an "
                                  "embed-text file (model.clip.text_embeddings)")
        return compute_class_text_embeddings(clip, space, cfg)
    inter_p, obj_p = prompts_for(cfg, space)
    return load_class_text_embeddings(
        cfg.text_embeddings, label_space=space.fingerprint, interaction_prompts=inter_p,
        object_prompts=obj_p, arch=cfg.arch,
        weights_sha256=clip.weights_sha256 if clip is not None else None,
        embed_dim=clip.embed_dim if clip is not None else None)
