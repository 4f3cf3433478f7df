"""The CLIP towers' residual stream stays in the weights' dtype under bfloat16 autocast."""

from __future__ import annotations

import torch
from tests.models.clip_test_utils import tiny_open_clip

from openhoi.models.clip.clip_loading import TINY_ARCH, load_clip_model
from openhoi.models.clip.residual_dtype import keep_residual_dtype


def _blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in model.modules() if type(m).__name__ == "ResidualAttentionBlock"]


def _spy_inputs(model: torch.nn.Module) -> list[torch.dtype]:
    seen: list[torch.dtype] = []
    for block in _blocks(model):  # registered after keep_residual_dtype's hook: sees its output
        block.register_forward_pre_hook(lambda _m, args: seen.append(args[0].dtype))
    return seen


def test_loaded_towers_get_the_hook_once() -> None:
    model, _ = load_clip_model(TINY_ARCH, None)
    blocks = _blocks(model)
    assert len(blocks) == 3  # openhoi-tiny: two image blocks, one text block
    assert all(len(b._forward_pre_hooks) == 1 for b in blocks)
    keep_residual_dtype(model)  # idempotent
    assert all(len(b._forward_pre_hooks) == 1 for b in blocks)


def test_blocks_see_float32_under_bf16_autocast() -> None:
    model = keep_residual_dtype(tiny_open_clip())
    seen = _spy_inputs(model)
    pixels = torch.randn(3, 3, 32, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        model.encode_image(pixels)
    assert seen == [torch.float32, torch.float32]  # both image blocks
    plain_model = tiny_open_clip()  # without the hook the conv's bf16 reaches the block
    plain = _spy_inputs(plain_model)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        plain_model.encode_image(pixels)
    assert plain[0] == torch.bfloat16


def test_no_op_without_autocast() -> None:
    hooked, plain = keep_residual_dtype(tiny_open_clip(seed=3)), tiny_open_clip(seed=3)
    pixels = torch.randn(2, 3, 32, 32)
    tokens = torch.randint(1, 400, (2, 77))
    with torch.no_grad():
        assert torch.equal(hooked.encode_image(pixels), plain.encode_image(pixels))
        assert torch.equal(hooked.encode_text(tokens), plain.encode_text(tokens))


def test_bf16_features_stay_close_to_fp32() -> None:
    model = keep_residual_dtype(tiny_open_clip(seed=1))
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model.encode_image(pixels)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model.encode_image(pixels).float()
    assert torch.allclose(low, ref, atol=0.05 * ref.abs().max().item())
