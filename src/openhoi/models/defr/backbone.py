"""DEFR's image towers: CLIP's (open_clip, any architecture, ViTs at a larger input with
interpolated position embeddings) or a torchvision ImageNet model, returning one feature vector
per image."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from openhoi.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

TORCHVISION_ARCHS = ("resnet18", "resnet50", "vit_b_16", "mobilenet_v3_small")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def interpolate_grid_positions(pos: Tensor, new_grid: tuple[int, int]) -> Tensor:
    """``[1 + g*g, W]`` class + grid position embeddings resized to ``new_grid`` (bicubic), the
    class position kept (DEFR ``clip/utils.py``: ``F.interpolate(..., mode='bicubic',
    align_corners=False)``)."""
    cls, grid = pos[:1], pos[1:]
    g = math.isqrt(grid.shape[0])
    if g * g != grid.shape[0]:
        raise CheckpointError(f"position embedding of {grid.shape[0]} tokens is not a square grid")
    if (g, g) == tuple(new_grid):
        return pos
    grid = grid.reshape(1, g, g, -1).permute(0, 3, 1, 2)  # [1, W, g, g]
    grid = F.interpolate(grid.float(), size=new_grid, mode="bicubic", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(new_grid[0] * new_grid[1], -1)  # [g'*g', W]
    return torch.cat([cls, grid.to(pos.dtype)])


def resize_vit_input(visual: nn.Module, image_size: int) -> None:
    """Make an open_clip ``VisionTransformer`` run at ``image_size`` (in place)."""
    patch = visual.conv1.kernel_size[0]
    if image_size % patch:
        raise ConfigError(f"model.backbone.image_size={image_size} is not a multiple of the "
                          f"patch size {patch}")
    grid = (image_size // patch, image_size // patch)
    new = interpolate_grid_positions(visual.positional_embedding.data, grid)
    visual.positional_embedding = nn.Parameter(new, requires_grad=True)
    visual.image_size, visual.grid_size = (image_size, image_size), grid


def box_attention_mask(boxes_grid: Tensor, grid: tuple[int, int], num_heads: int) -> Tensor:
    """DEFR ``HoiHead.build_attention_masks``: the class token may attend to itself and to the
    patches inside any of a pair's boxes; patch tokens attend everywhere.

    Args:
        boxes_grid: ``[P, K, 4]`` xyxy boxes in patch units (K boxes per pair: human, object).
        grid: (rows, columns) of the patch grid.

    Returns:
        ``[P * num_heads, L, L]`` additive float mask (``-inf`` where attention is cut),
        ``L = 1 + rows * columns``; DEFR's ``floor`` / ``ceil`` snapping of box edges.
    """
    gh, gw = grid
    p = boxes_grid.shape[0]
    lo = boxes_grid[..., :2].floor().clamp(min=0)  # [P, K, 2] (x, y)
    hi = torch.minimum(boxes_grid[..., 2:].ceil(), boxes_grid.new_tensor([gw, gh]))
    ys = torch.arange(gh, device=boxes_grid.device)[:, None] + 0.5  # [gh, 1] patch centres
    xs = torch.arange(gw, device=boxes_grid.device)[None, :] + 0.5  # [1, gw]
    inside = ((xs >= lo[..., 0, None, None]) & (xs < hi[..., 0, None, None])
              & (ys >= lo[..., 1, None, None]) & (ys < hi[..., 1, None, None]))  # [P, K, gh, gw]
    allowed = inside.any(1).flatten(1)  # [P, gh * gw]
    mask = boxes_grid.new_zeros(p, 1 + gh * gw, 1 + gh * gw)
    mask[:, 0, 1:] = torch.where(allowed, 0.0, float("-inf"))  # the class token's row only
    return mask.repeat_interleave(num_heads, 0)  # [P * heads, L, L], pair-major as MHA wants


class ClipImageBackbone(nn.Module):
    """CLIP's image tower: pooled feature ``[B, W]`` (projection dropped, DEFR) or ``[B, E]``
    (projection kept).

    Args:
        visual: open_clip ``model.visual`` (its ``proj`` set to None to drop the projection).
    """

    def __init__(self, visual: nn.Module, out_dim: int) -> None:
        super().__init__()
        self.visual = visual
        self.out_dim = out_dim

    def forward(self, pixels: Tensor) -> Tensor:
        dtype = next(self.visual.parameters()).dtype
        return self.visual(pixels.to(dtype)).float()  # [B, D]

    @property
    def supports_box_mask(self) -> bool:
        """A ViT with a class token pooled at the end: ``box_masked`` applies."""
        v = self.visual
        return (hasattr(v, "class_embedding") and hasattr(v, "_embeds")
                and getattr(v, "attn_pool", None) is None
                and getattr(v, "pool_type", "tok") == "tok")

    def box_masked(self, pixels: Tensor, boxes_xyxy: Tensor, mask_layers: int) -> Tensor:
        """``[P, D]`` pooled features of one image for P box pairs, the class token limited
        to the pairs' boxes in the last ``mask_layers`` blocks (DEFR ``DefrDet`` /
        ``HoiHead.forward``); the earlier blocks run once for all pairs.

        Args:
            pixels: ``[1, 3, S, S]`` the model's input.
            boxes_xyxy: ``[P, K, 4]`` pixels of that input (K = 2: human, object).
        """
        v = self.visual
        blocks = v.transformer.resblocks
        if not 1 <= mask_layers <= len(blocks):
            raise ConfigError(f"mask layers: {mask_layers} not in [1, {len(blocks)}]")
        dtype = next(v.parameters()).dtype
        x = v._embeds(pixels.to(dtype))  # [1, L, W]
        first = not v.transformer.batch_first
        x = x.transpose(0, 1) if first else x
        for block in blocks[:-mask_layers]:
            x = block(x)
        gh, gw = v.grid_size
        scale = boxes_xyxy.new_tensor([gw / pixels.shape[-1], gh / pixels.shape[-2]]).repeat(2)
        mask = box_attention_mask(boxes_xyxy * scale, (gh, gw), blocks[0].attn.num_heads)
        p = boxes_xyxy.shape[0]
        x = x.expand(-1, p, -1) if first else x.expand(p, -1, -1)  # [P, L, W] (or L, P, W)
        for block in blocks[-mask_layers:]:
            x = block(x, attn_mask=mask.to(x.dtype))
        x = x.transpose(0, 1) if first else x
        pooled, _ = v._pool(x)  # ln_post of the class token, [P, W]
        if v.proj is not None:
            pooled = pooled @ v.proj
        return pooled.float()


class TorchvisionBackbone(nn.Module):
    """A torchvision classifier with its head removed: ``[B, D]`` pooled features."""

    def __init__(self, body: nn.Module, out_dim: int) -> None:
        super().__init__()
        self.body = body
        self.out_dim = out_dim

    def forward(self, pixels: Tensor) -> Tensor:
        return self.body(pixels)


def build_torchvision_backbone(arch: str, weights: str | None, image_size: int,
                               load: bool = True) -> TorchvisionBackbone:
    """ResNet-18/50 or ViT-B/16 from a local state dict (ViT position embeddings interpolated
    to ``image_size``, torchvision's ``interpolate_embeddings``)."""
    import torchvision

    if arch not in TORCHVISION_ARCHS:
        raise ConfigError(f"model.backbone.arch: {arch!r} is not one of {TORCHVISION_ARCHS}")
    state = None
    if load and weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise CheckpointError(f"{path}: backbone weight file not found "
                                  "(model.backbone.weights)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises many types for corrupt files
            raise CheckpointError(f"{path}: cannot read backbone weights ({err})") from None
    elif load:
        log.warning("backbone %s: random initialisation (no model.backbone.weights)", arch)
    if arch == "vit_b_16":
        from torchvision.models.vision_transformer import interpolate_embeddings

        model = torchvision.models.vit_b_16(weights=None, image_size=image_size)
        if state is not None:
            state = interpolate_embeddings(image_size, 16, state)
        out_dim = model.hidden_dim
    elif arch == "mobilenet_v3_small":  # synthetic recipes: trains from scratch on a CPU
        model = torchvision.models.mobilenet_v3_small(weights=None)
        out_dim = model.classifier[0].in_features
    else:
        model = getattr(torchvision.models, arch)(weights=None)
        out_dim = model.fc.in_features
    if state is not None:
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise CheckpointError(f"{weights}: does not fit torchvision {arch} ({err})") from None
    if arch == "vit_b_16":
        model.heads = nn.Identity()
    elif arch == "mobilenet_v3_small":
        model.classifier = nn.Identity()
    else:
        model.fc = nn.Identity()
    return TorchvisionBackbone(model, out_dim)
