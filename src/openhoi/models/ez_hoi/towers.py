"""open_clip's two towers run block by block with deep prompt tokens inserted (MaPLe), and
ADA-CM's instance adapters in the image tower. No CLIP code is copied: the towers' own
modules (embeddings, ``resblocks``, ``ln_*``, projections) are called in order, so CLIP's
weights stay where ``ClipKnowledge`` keeps them, frozen.

Image tower (EZ-HOI ``CLIP_models_adapter_prior2.VisionTransformer_MAPLE``): the layer-0
visual prompts are appended *after* the patch tokens, before ``ln_pre``; before each block
``1..depth-1`` the last ``n`` tokens are replaced by that layer's prompts
(``ResidualAttentionBlock_MAPLE``); with instance adapters each block's input gets
``x + adapter(x, instances)`` first. ``ln_post`` and the projection apply to every token;
the projected patch tokens form the feature map that pair RoIs are pooled from.

Text tower (MaPLe ``TextEncoder``): prompt tokens replace positions ``1..n`` (after the
start token) of the layer-0 embeddings and, before blocks ``1..depth-1``, of the hidden
states; the feature is the projected end-of-text token.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from openhoi.models.ez_hoi.adapters import InstanceAdapter


def _blocks(transformer: nn.Module) -> tuple[Sequence[nn.Module], bool]:
    return transformer.resblocks, bool(getattr(transformer, "batch_first", True))


def encode_prompted_text(clip_model: nn.Module, embeds: Tensor, eot_idx: Tensor,
                         deep_prompts: Sequence[Tensor], start: int) -> Tensor:
    """``[C, E]`` text features of token embeddings with deep prompts.

    Args:
        clip_model: open_clip ``CLIP`` (its text tower).
        embeds: ``[C, L, D]`` token embeddings, layer-0 prompts already in place.
        eot_idx: ``[C]`` end-of-text position of each sequence.
        deep_prompts: ``depth - 1`` tensors ``[C, n, D]`` for blocks ``1..depth-1``.
        start: first prompt position (1, after the start token).
    """
    m = clip_model
    length = int(eot_idx.max()) + 1  # causal attention: later positions never reach the EOT
    cast = m.transformer.get_cast_dtype()
    x = embeds[:, :length].to(cast) + m.positional_embedding[:length].to(cast)  # [C, L', D]
    mask = m.attn_mask[:length, :length] if m.attn_mask is not None else None
    blocks, batch_first = _blocks(m.transformer)
    for i, block in enumerate(blocks):
        if 1 <= i <= len(deep_prompts):
            p = deep_prompts[i - 1].to(x.dtype)  # [C, n, D]
            x = torch.cat([x[:, :start], p, x[:, start + p.shape[1]:]], dim=1)
        x = _run_block(block, x, batch_first, mask)
    x = m.ln_final(x)  # [C, L', D]
    x = x[torch.arange(x.shape[0], device=x.device), eot_idx]  # [C, D]
    proj = m.text_projection
    return proj(x) if isinstance(proj, nn.Linear) else x @ proj  # [C, E]


def _run_block(block: nn.Module, x: Tensor, batch_first: bool, mask: Tensor | None) -> Tensor:
    if batch_first:
        return block(x, attn_mask=mask)
    return block(x.transpose(0, 1), attn_mask=mask).transpose(0, 1)


class PromptedImageTower(nn.Module):
    """CLIP's image tower with deep visual prompts and optional instance adapters.

    The positional embedding, ``ln_post`` and projection are fine-tuned *copies* when
    ``train_head`` (EZ-HOI trains ``visual.positional_embedding``, ``visual.ln_post`` and
    ``visual.proj``); the frozen tower itself is never modified.

    Args:
        visual: open_clip ``VisionTransformer`` (frozen; not registered here, the model owns it).
        adapters: one ``InstanceAdapter`` per block, or None.
        fp16_prompts: round the prompts to float16 before inserting them (EZ-HOI's ``.half()``).
    """

    def __init__(self, visual: nn.Module, train_head: bool,
                 adapters: nn.ModuleList | None, fp16_prompts: bool = False) -> None:
        super().__init__()
        self.train_head = train_head
        self.fp16_prompts = fp16_prompts
        if train_head:
            self.positional_embedding = nn.Parameter(visual.positional_embedding.detach().clone())
            self.ln_post = _copy_layernorm(visual.ln_post)
            self.proj = nn.Parameter(visual.proj.detach().clone())
        self.adapters = adapters

    def forward(self, visual: nn.Module, pixels: Tensor, prompts: Sequence[Tensor],
                instances: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
        """Global feature ``[B, E]`` and projected patch map ``[B, E, gh, gw]``.

        Args:
            visual: the frozen tower whose modules run.
            pixels: ``[B, 3, S, S]`` CLIP-normalised.
            prompts: ``depth`` tensors ``[B, n, W]``, one per prompted block.
            instances: ``([B, N, d], pad [B, N])`` projected instance priors, or None.
        """
        pos = self.positional_embedding if self.train_head else visual.positional_embedding
        ln_post = self.ln_post if self.train_head else visual.ln_post
        proj = self.proj if self.train_head else visual.proj
        x = visual.conv1(pixels.to(visual.conv1.weight.dtype))  # [B, W, gh, gw]
        gh, gw = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)  # [B, N, W]
        cls = visual.class_embedding.to(x.dtype).view(1, 1, -1).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + pos.to(x.dtype)  # [B, 1 + N, W]
        if self.fp16_prompts:
            prompts = [p.half() for p in prompts]
        n = prompts[0].shape[1]
        x = visual.ln_pre(torch.cat([x, prompts[0].to(x.dtype)], dim=1))  # [B, 1 + N + n, W]
        blocks, batch_first = _blocks(visual.transformer)
        for i, block in enumerate(blocks):
            if 1 <= i < len(prompts):
                x = torch.cat([x[:, :-n], prompts[i].to(x.dtype)], dim=1)
            if self.adapters is not None and instances is not None:
                x = x + self.adapters[i](x, *instances).to(x.dtype)
            x = _run_block(block, x, batch_first, None)
        tokens = ln_post(x.float()) @ proj.float()  # [B, 1 + N + n, E]
        patches = tokens[:, 1:1 + gh * gw].transpose(1, 2)  # [B, E, N]
        return tokens[:, 0], patches.reshape(x.shape[0], -1, gh, gw)


def _copy_layernorm(ln: nn.Module) -> nn.LayerNorm:
    out = nn.LayerNorm(ln.normalized_shape, eps=ln.eps)
    out.load_state_dict(ln.state_dict())
    return out


def build_instance_adapters(width: int, num_layers: int, dim: int, heads: int,
                            dropout: float) -> nn.ModuleList:
    """One ADA-CM instance adapter per image-tower block (``adapter_pos='all'``)."""
    return nn.ModuleList(InstanceAdapter(width, dim, heads, dropout) for _ in range(num_layers))
