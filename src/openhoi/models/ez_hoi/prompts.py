"""EZ-HOI's prompt learner (``MultiModalPromptLearner`` with ``--txtcls_pt --img_clip_pt
--unseen_pt_inj``): per-layer learnable text prompts, made class-specific by an adapter that
attends to each class's description feature; unseen classes further adapted (UTPL); visual
prompts mapped from the text prompts by a per-layer linear map and adapted with the frozen
CLIP global image feature.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from openhoi.models.ez_hoi.adapters import PromptAdapter


@dataclass
class UnseenPriors:
    """UTPL inputs for ``U`` unseen prompted classes (rows of the prompted-class table).

    Attributes:
        unseen_rows: ``[U]`` rows of the unseen classes.
        seen_rows: ``[U]`` rows of each one's most similar seen class.
        sentences: ``[U, S, E]`` CLIP text features of its difference sentences (padded).
        pad: ``[U, S]`` bool, True on padding.
    """

    unseen_rows: Tensor
    seen_rows: Tensor
    sentences: Tensor
    pad: Tensor


class PromptLearner(nn.Module):
    """Learnable prompts of both towers.

    Args:
        init_tokens: ``[n, D]`` token embeddings of the init text (layer-0 text prompt).
        depth: prompted layers.
        text_width: D, the text tower width.
        image_width: W, the image tower width.
        embed_dim: E, CLIP's joint embedding size (description and image features).
        image_conditioned: adapt visual prompts with the global image feature.
        utpl: build the unseen-class adapter.
    """

    def __init__(self, init_tokens: Tensor, depth: int, text_width: int, image_width: int,
                 embed_dim: int, adapter_dim: int = 64, heads: int = 2, dropout: float = 0.1,
                 image_conditioned: bool = True, utpl: bool = True) -> None:
        super().__init__()
        n = init_tokens.shape[0]
        deep = torch.randn(depth - 1, n, text_width) * 0.02  # MaPLe: N(0, 0.02)
        self.text_prompts = nn.Parameter(torch.cat([init_tokens[None].float(), deep]))
        self.text_adapter = PromptAdapter(text_width, embed_dim, adapter_dim, heads, dropout)
        self.unseen_adapter = (PromptAdapter(text_width, text_width, adapter_dim, heads, dropout,
                                             self_attention=True) if utpl else None)
        self.to_visual = nn.ModuleList(nn.Linear(text_width, image_width) for _ in range(depth))
        self.image_adapter = (PromptAdapter(image_width, embed_dim, adapter_dim, heads, dropout)
                              if image_conditioned else None)

    @property
    def depth(self) -> int:
        return int(self.text_prompts.shape[0])

    def text(self, descriptions: Tensor, unseen: UnseenPriors | None) -> list[Tensor]:
        """Class-specific text prompts, ``depth`` tensors ``[C, n, D]``.

        Args:
            descriptions: ``[C, E]`` description features of the prompted classes (EZ-HOI's
                ``txtcls_feat[select_HOI_index]``, L2-normalised).
            unseen: UTPL inputs, or None.
        """
        c = descriptions.shape[0]
        memory = descriptions[:, None, :]  # [C, 1, E]; EZ-HOI repeats it n times (same result)
        out = []
        for layer in self.text_prompts:  # [n, D]
            p = self.text_adapter(layer.expand(c, -1, -1), memory)  # [C, n, D]
            if unseen is not None and self.unseen_adapter is not None:
                p = self._utpl(p, unseen)
            out.append(p)
        return out

    def _utpl(self, p: Tensor, u: UnseenPriors) -> Tensor:
        """EZ-HOI UTPL: an unseen class's prompt attends over its difference sentences, the
        detached prompt of its most similar seen class and its own prompt."""
        own = p[u.unseen_rows]  # [U, n, D]
        memory = torch.cat([u.sentences.to(p.dtype), p[u.seen_rows].detach(), own], 1)
        pad = torch.cat([u.pad, u.pad.new_zeros(len(own), 2 * own.shape[1])], 1)
        p = p.clone()
        p[u.unseen_rows] = self.unseen_adapter(own, memory, pad)
        return p

    def visual(self, image_features: Tensor | None, batch_size: int) -> list[Tensor]:
        """Visual prompts, ``depth`` tensors ``[B, n, W]``: each layer's shared text prompt
        through its linear map, then (if conditioned) the image adapter attending to the
        image's L2-normalised frozen CLIP global feature ``image_features [B, E]``."""
        out = []
        for layer, proj in zip(self.text_prompts, self.to_visual):
            v = proj(layer).expand(batch_size, -1, -1)  # [B, n, W]
            if self.image_adapter is not None and image_features is not None:
                v = self.image_adapter(v, image_features[:, None, :])
            out.append(v)
        return out
