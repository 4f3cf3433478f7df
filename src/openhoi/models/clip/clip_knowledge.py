"""``ClipKnowledge``: the frozen (or slowly fine-tuned) CLIP that HOICLIP draws knowledge from.

A thin adapter over an open_clip ViT. From CLIP's image tower it gives the global feature V_g
(``ln_post`` of the class token times the visual projection, HOICLIP's ``clip_cls_feature``
before normalisation) and the spatial tokens V_s (``ln_post`` of *all* last-layer tokens,
class token first, HOICLIP's ``clip_visual``: ``ModifiedCLIP/model.py`` ``VisionTransformer``
returns ``self.ln_post(x[:, :, :])``), plus the visual projection ``[W, E]``. Its text tower
encodes prompts. The CLIP input is made from the detector's padded ``ImageBatch`` the way
HOICLIP's data pipeline makes it from the augmented PIL image (see ``prepare_clip_input``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from openhoi.errors import ConfigError
from openhoi.structures import ImageBatch

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ClipVisualFeatures:
    """CLIP image-tower outputs for a batch of ``B`` images (float32 whatever CLIP's precision).

    Attributes:
        global_feature: ``[B, E]`` V_g, the projected class token (not L2-normalised; HOICLIP
            normalises it before use, ``models_hoiclip/gen.py``).
        spatial_tokens: ``[B, 1 + N, W]`` V_s, ``ln_post`` of every last-layer token, class
            token first, N = grid_h * grid_w patches in row-major order. This is exactly the
            memory HOICLIP's interaction decoder attends to (class token included).
    """

    global_feature: Tensor
    spatial_tokens: Tensor

    @property
    def patch_tokens(self) -> Tensor:
        """``[B, N, W]`` the patch tokens alone (``spatial_tokens`` without the class token)."""
        return self.spatial_tokens[:, 1:]


def _resize_hw(h: int, w: int, size: int, mode: str) -> tuple[int, int]:
    if mode == "squash":
        return size, size
    # torchvision Resize(int): short side -> size, long side truncated (as in CLIP's _transform)
    if h <= w:
        return size, int(size * w / h)
    return int(size * h / w), size


def prepare_clip_input(
    images: Tensor,
    sizes: Tensor,
    size: int,
    clip_mean: Sequence[float],
    clip_std: Sequence[float],
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    mode: Literal["center_crop", "squash"] = "center_crop",
) -> Tensor:
    """Turn detector images into CLIP input, as HOICLIP's ``clip_preprocess(img_0)``.

    HOICLIP feeds CLIP the augmented PIL image at detector resolution through CLIP's own
    transform: bicubic resize of the short side to ``size``, centre crop, CLIP normalisation.
    Here each unpadded image is de-normalised (detector mean/std), clamped to [0, 1], resized
    with antialiased bicubic interpolation (PIL's kernel, but on float pixels where PIL rounds to
    uint8 between passes: measured against HOICLIP's PIL path, at most 2 and on average 0.3 grey
    levels apart) and cropped the same way.

    Args:
        images: ``[B, 3, H, W]`` padded batch normalised with ``mean``/``std``.
        sizes: ``[B, 2]`` (height, width) of each unpadded image.
        size: CLIP's square input size.
        clip_mean, clip_std: CLIP's normalisation.
        mean, std: the detector's normalisation of ``images``.
        mode: ``center_crop`` (HOICLIP) or ``squash`` (whole image resized to the square).

    Returns:
        ``[B, 3, size, size]`` float32 CLIP input.
    """
    dev = images.device
    mean_t = torch.tensor(mean, device=dev).view(3, 1, 1)
    std_t = torch.tensor(std, device=dev).view(3, 1, 1)
    clip_mean_t = torch.tensor(clip_mean, device=dev).view(3, 1, 1)
    clip_std_t = torch.tensor(clip_std, device=dev).view(3, 1, 1)
    out = []
    for img, (h, w) in zip(images, sizes.tolist()):
        pixels = (img[:, :h, :w].float() * std_t + mean_t).clamp(0, 1)  # [3, h, w] in [0, 1]
        rh, rw = _resize_hw(h, w, size, mode)
        pixels = F.interpolate(pixels[None], size=(rh, rw), mode="bicubic", align_corners=False,
                               antialias=True)[0].clamp(0, 1)  # [3, rh, rw]
        top, left = int(round((rh - size) / 2.0)), int(round((rw - size) / 2.0))
        pixels = pixels[:, top:top + size, left:left + size]  # [3, size, size]
        out.append((pixels - clip_mean_t) / clip_std_t)
    return torch.stack(out)  # [B, 3, size, size]


class ClipKnowledge(nn.Module):
    """CLIP image and text towers behind one small interface.

    Args:
        model: an open_clip ``CLIP`` whose image tower is a ViT with a class token (OpenAI
            layout: ``visual.conv1 / class_embedding / positional_embedding / ln_pre /
            transformer / ln_post / proj``). Build it with ``build_clip_knowledge``.
        tokenizer: open_clip tokenizer of the architecture (``texts -> [T, L]`` int64).
        trainable: fine-tune CLIP; otherwise every parameter is frozen, the module stays in
            eval mode and runs under ``no_grad``.
        image_resize: ``center_crop`` or ``squash``, see ``prepare_clip_input``.
        arch: architecture name (metadata only).
        weights_sha256: sha256 of the weight file (metadata only; ``None`` for random init).
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Callable[[Sequence[str]], Tensor],
        trainable: bool = False,
        image_resize: Literal["center_crop", "squash"] = "center_crop",
        arch: str = "",
        weights_sha256: str | None = None,
    ) -> None:
        super().__init__()
        visual = getattr(model, "visual", None)
        if (visual is None or not hasattr(visual, "class_embedding")
                or getattr(visual, "attn_pool", None) is not None
                or getattr(visual, "pool_type", "tok") != "tok"
                or getattr(visual, "final_ln_after_pool", False)):
            raise ConfigError(
                f"model.clip.arch: {arch or type(model).__name__} is not a ViT CLIP with a class "
                "token; HOICLIP needs the ViT's spatial tokens (use a ViT-*-quickgelu arch)")
        self.model = model
        self.tokenizer = tokenizer
        self.trainable = trainable
        self.image_resize = image_resize
        self.arch = arch
        self.weights_sha256 = weights_sha256
        cfg = getattr(visual, "preprocess_cfg", {})
        self.clip_mean = tuple(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)))
        self.clip_std = tuple(cfg.get("std", (0.26862954, 0.26130258, 0.27577711)))
        if not trainable:
            for p in self.model.parameters():
                p.requires_grad_(False)
            self.model.eval()

    # ---- sizes -------------------------------------------------------------------------------
    @property
    def width(self) -> int:
        """W, the image tower's token width (768 for ViT-B/32)."""
        return int(self.model.visual.conv1.out_channels)

    @property
    def embed_dim(self) -> int:
        """E, the joint image-text embedding size (512 for ViT-B/32)."""
        return int(self.model.visual.proj.shape[1])

    @property
    def image_size(self) -> int:
        """CLIP's square input size (224 for ViT-B/32)."""
        return int(self.model.visual.image_size[0])

    @property
    def grid_size(self) -> tuple[int, int]:
        """Patch grid (7, 7) for ViT-B/32 at 224 px; N = grid_h * grid_w."""
        return tuple(self.model.visual.grid_size)

    @property
    def visual_projection(self) -> Tensor:
        """``[W, E]`` CLIP's visual projection (HOICLIP's ``clip_visual_proj``); the parameter
        itself, trainable only when CLIP is."""
        return self.model.visual.proj

    @property
    def dtype(self) -> torch.dtype:
        return self.model.visual.conv1.weight.dtype

    def train(self, mode: bool = True) -> ClipKnowledge:
        super().train(mode)
        if not self.trainable:
            self.model.eval()  # a frozen CLIP never leaves eval mode
        return self

    # ---- image tower -------------------------------------------------------------------------
    def prepare_images(
        self,
        batch: ImageBatch,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> Tensor:
        """``[B, 3, S, S]`` CLIP input from a detector batch (see ``prepare_clip_input``)."""
        return prepare_clip_input(batch.images, batch.sizes, self.image_size, self.clip_mean,
                                  self.clip_std, mean, std, self.image_resize)

    def encode_image(self, pixels: Tensor) -> ClipVisualFeatures:
        """V_g and V_s of CLIP-ready pixels ``[B, 3, S, S]`` (CLIP-normalised)."""
        with torch.set_grad_enabled(self.trainable and torch.is_grad_enabled()):
            visual = self.model.visual
            x = visual.conv1(pixels.to(self.dtype))  # [B, W, gh, gw]
            x = x.flatten(2).transpose(1, 2)  # [B, N, W]
            cls = visual.class_embedding.to(x.dtype).view(1, 1, -1)
            cls = cls.expand(x.shape[0], -1, -1)  # [B, 1, W]
            x = torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype)  # [B, 1+N, W]
            x = visual.patch_dropout(x)
            x = visual.transformer(visual.ln_pre(x))  # [B, 1+N, W]
            tokens = visual.ln_post(x)  # [B, 1+N, W], HOICLIP: ln_post on every token
            global_feature = tokens[:, 0] @ visual.proj  # [B, E]
        return ClipVisualFeatures(global_feature.float(), tokens.float())

    def forward(
        self,
        batch: ImageBatch,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> ClipVisualFeatures:
        """V_g ``[B, E]`` and V_s ``[B, 1 + N, W]`` of a detector batch."""
        return self.encode_image(self.prepare_images(batch, mean, std))

    # ---- text tower --------------------------------------------------------------------------
    def encode_text(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        """``[T, E]`` float32 text features (projected end-of-text token, not normalised)."""
        device = self.visual_projection.device
        out = []
        with torch.set_grad_enabled(self.trainable and torch.is_grad_enabled()):
            for i in range(0, len(texts), batch_size):
                tokens = self.tokenizer(list(texts[i:i + batch_size])).to(device)  # [t, 77]
                out.append(self._encode_tokens(tokens).float())  # [t, E]
        if not out:
            return torch.zeros(0, self.embed_dim, device=device)
        return torch.cat(out)

    def _encode_tokens(self, tokens: Tensor) -> Tensor:
        """open_clip's ``CLIP.encode_text`` on the prompt tokens only.

        CLIP's text attention is causal and reads the end-of-text token (the largest id, hence
        ``argmax``), so the padding after it never influences the result: dropping it computes
        the same features (up to float summation order) 5-7x faster for short prompts.
        """
        m = self.model
        if (getattr(m, "text_pool_type", None) != "argmax" or getattr(m, "attn_mask", None) is None
                or not hasattr(m, "token_embedding")):
            return m.encode_text(tokens)  # another text tower: no shortcut
        length = int(tokens.argmax(dim=-1).max()) + 1
        tokens = tokens[:, :length]  # [t, L']
        cast = m.transformer.get_cast_dtype()
        x = m.token_embedding(tokens).to(cast) + m.positional_embedding[:length].to(cast)
        x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask[:length, :length]))  # [t, L', D]
        x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]  # [t, D]
        proj = m.text_projection
        return proj(x) if isinstance(proj, nn.Linear) else x @ proj  # [t, E]


def build_clip_knowledge(cfg, device: torch.device | str = "cpu",
                         load_weights: bool = True) -> ClipKnowledge:
    """Build ``ClipKnowledge`` from a ``ClipConfig``, loading ``cfg.weights`` once.

    Args:
        cfg: ``openhoi.config.ClipConfig``.
        device: where CLIP lives.
        load_weights: read ``cfg.weights``; ``False`` leaves a random init that an openhoi
            checkpoint will overwrite (evaluation, prediction).

    Raises:
        ConfigError: no weights file for a real architecture, or an unsupported architecture.
        CheckpointError: the file does not fit the architecture (see ``clip_loading``).
    """
    import open_clip

    from openhoi.models.clip.clip_loading import (
        TINY_ARCH,
        load_clip_model,
        register_openhoi_configs,
    )

    register_openhoi_configs()
    weights = cfg.weights if load_weights else None
    if load_weights and weights is None:
        if cfg.arch != TINY_ARCH:
            raise ConfigError(
                f"model.clip.weights: {cfg.arch!r} needs a local CLIP weight file (e.g. OpenAI's "
                f"ViT-B-32.pt); only {TINY_ARCH!r} may run with random weights")
        log.info("CLIP %s: random initialisation (no weight file)", cfg.arch)
    model, info = load_clip_model(cfg.arch, weights, cfg.precision, device)
    return ClipKnowledge(model, open_clip.get_tokenizer(cfg.arch), trainable=cfg.trainable,
                         image_resize=cfg.image_resize, arch=cfg.arch,
                         weights_sha256=info.sha256 if info else None)
