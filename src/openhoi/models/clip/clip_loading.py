"""Load CLIP weights from a local file into an open_clip model, with errors a user can act on.

Reads OpenAI's released files (TorchScript archives such as ``ViT-B-32.pt``) and plain state
dicts (``.pt/.pth/.bin`` pickles, ``.safetensors``) in OpenAI's or open_clip's key layout. Never
downloads. OpenAI's weights were trained with QuickGELU: loaded into a plain-GELU architecture
they fit every shape yet give different features, so the activation is checked whenever the
file reveals it (TorchScript module types, the sha256 of OpenAI's released files).
"""

from __future__ import annotations

import hashlib
import logging
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from openhoi.errors import CheckpointError, ConfigError
from openhoi.models.clip.residual_dtype import keep_residual_dtype

log = logging.getLogger(__name__)

TINY_ARCH = "openhoi-tiny"
"""A random-init toy CLIP (32 px input, width 48, embed dim 32) for tests and the demo."""

CONFIG_DIR = Path(__file__).parent / "clip_configs"

# sha256 of OpenAI's released ViT files: the digest is part of each download URL in
# openai/CLIP's clip.py (_MODELS), which also verifies it after download.
OPENAI_RELEASE_SHA256 = {
    "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af": "ViT-B-32-quickgelu",
    "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f": "ViT-B-16-quickgelu",
    "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836": "ViT-L-14-quickgelu",
    "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02": "ViT-L-14-336-quickgelu",
}

# Attributes that OpenAI's TorchScript archives keep next to the weights.
_OPENAI_META_KEYS = ("input_resolution", "context_length", "vocab_size")

_registered = False


def register_openhoi_configs() -> None:
    """Make openhoi's own architectures (``openhoi-tiny``) known to open_clip (idempotent)."""
    global _registered
    if not _registered:
        import open_clip

        open_clip.add_model_config(CONFIG_DIR)
        _registered = True


def arch_config(arch: str) -> dict[str, Any]:
    """open_clip's config dict of ``arch``; ``ConfigError`` listing close names if unknown."""
    import difflib

    import open_clip

    register_openhoi_configs()
    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        names = open_clip.list_models()
        close = difflib.get_close_matches(arch, names, n=3)
        raise ConfigError(f"model.clip.arch: unknown open_clip architecture {arch!r}"
                          + (f" (did you mean {close}?)" if close else ""))
    return cfg


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class ClipWeights:
    """A CLIP state dict read from a file, with what the file says about its origin.

    Attributes:
        state_dict: tensors in open_clip's ``CLIP`` key layout (``module.`` prefixes removed,
            OpenAI's metadata entries dropped).
        path: the file.
        sha256: hex sha256 of the file (recorded in every derived artefact).
        kind: ``torchscript`` (OpenAI's release format) or ``state_dict``.
        quick_gelu: whether the weights were trained with QuickGELU, when the file reveals it
            (TorchScript module types, or a known OpenAI release hash); ``None`` if unknown.
        openai_release: the open_clip architecture of a recognised OpenAI release file.
    """

    state_dict: dict[str, Tensor]
    path: Path
    sha256: str
    kind: Literal["torchscript", "state_dict"]
    quick_gelu: bool | None = None
    openai_release: str | None = None


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())


def _torchscript_activation(module: torch.jit.ScriptModule) -> bool | None:
    names = {getattr(m, "original_name", "") for _, m in module.named_modules()}
    if "QuickGELU" in names:
        return True
    if "GELU" in names:
        return False
    return None


def _unwrap(obj: Any, path: Path) -> dict[str, Tensor]:
    """The tensor dict inside a checkpoint (``state_dict``/``model`` nesting, ``module.``)."""
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{path}: not a CLIP state dict (found {type(obj).__name__})")
    tensors = {k: v for k, v in obj.items() if isinstance(v, Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: contains no tensors")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors


def read_clip_weights(path: str | Path) -> ClipWeights:
    """Read a CLIP weight file of any supported kind (see module docstring); never downloads.

    Raises:
        CheckpointError: the file is missing, unreadable, or holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: CLIP weight file not found")
    sha = file_sha256(path)
    quick_gelu = None
    try:
        if _is_torchscript(path):
            kind = "torchscript"
            with warnings.catch_warnings():  # torch>=2.9 deprecates TorchScript loudly
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(str(path), map_location="cpu")
            quick_gelu = _torchscript_activation(module)
            state = dict(module.state_dict())
        elif path.suffix == ".safetensors":
            from safetensors.torch import load_file

            kind, state = "state_dict", load_file(str(path), device="cpu")
        else:
            kind, state = "state_dict", torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as err:  # torch/safetensors raise many types for corrupt files
        raise CheckpointError(f"{path}: cannot read CLIP weights ({err})") from None
    state = _unwrap(state, path)
    for key in _OPENAI_META_KEYS:
        state.pop(key, None)
    openai = OPENAI_RELEASE_SHA256.get(sha)
    if openai is not None:
        quick_gelu = True
    return ClipWeights(state, path, sha, kind, quick_gelu, openai)


def _clip_layout(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """open_clip ``CustomTextCLIP`` keys (``text.token_embedding...``) as ``CLIP``/OpenAI keys."""
    return {k[len("text."):] if k.startswith("text.") else k: v for k, v in state.items()}


def _to_model_layout(state: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """``state`` in the key layout of ``model`` (``CLIP`` or ``CustomTextCLIP``)."""
    from open_clip.model import convert_to_custom_text_state_dict

    state = _clip_layout(state)
    if hasattr(model, "text"):
        state = convert_to_custom_text_state_dict(state)
    expected = model.state_dict()
    if "logit_scale" in state and "logit_scale" in expected:
        state["logit_scale"] = state["logit_scale"].reshape(expected["logit_scale"].shape)
    return state


def _shape_signature(cfg: dict[str, Any]) -> tuple:
    v, t = cfg.get("vision_cfg", {}), cfg.get("text_cfg", {})
    return (cfg.get("embed_dim"), v.get("width"), v.get("layers"), v.get("patch_size"),
            v.get("image_size"), t.get("width"), t.get("layers"), t.get("context_length"))


def _count_blocks(state: dict[str, Tensor], prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})


def suggest_arch(state: dict[str, Tensor], quick_gelu: bool | None) -> list[str]:
    """open_clip architectures whose shapes fit a ViT CLIP state dict (QuickGELU ones first)."""
    import open_clip

    try:
        grid = state["visual.positional_embedding"].shape[0] - 1
        patch = state["visual.conv1.weight"].shape[-1]
        layers = _count_blocks(state, "visual.transformer.resblocks.")
        t_layers = _count_blocks(state, "transformer.resblocks.")
        sig = (state["text_projection"].shape[1], state["visual.conv1.weight"].shape[0], layers,
               patch, round(grid ** 0.5) * patch, state["ln_final.weight"].shape[0], t_layers,
               state["positional_embedding"].shape[0])
    except (KeyError, IndexError):
        return []
    register_openhoi_configs()
    names = [n for n in open_clip.list_models()
             if _shape_signature(open_clip.get_model_config(n)) == sig]
    if quick_gelu is not None:
        names = [n for n in names
                 if bool(open_clip.get_model_config(n).get("quick_gelu", False)) == quick_gelu]
    return sorted(names, key=lambda n: (not n.endswith("-quickgelu"), len(n)))


def check_weights_fit(model: nn.Module, weights: ClipWeights, arch: str) -> dict[str, Tensor]:
    """State dict of ``weights`` in ``model``'s layout, or ``CheckpointError`` explaining why not.

    The error names the file, the first missing/unexpected/mismatched key with both shapes,
    and the architectures that would fit.
    """
    state = _to_model_layout(weights.state_dict, model)
    expected = model.state_dict()
    # TorchScript turns non-persistent buffers (open_clip's attn_mask) into saved ones
    transient = {name for name, _ in model.named_buffers()} - set(expected)
    state = {k: v for k, v in state.items() if k not in transient}
    problem = None
    for key, value in expected.items():
        if key not in state:
            problem = f"key {key!r} of the architecture is missing from the file"
            break
        if tuple(state[key].shape) != tuple(value.shape):
            problem = (f"key {key!r} has shape {list(state[key].shape)} in the file but "
                       f"{list(value.shape)} in the architecture")
            break
    if problem is None:
        extra = [k for k in state if k not in expected]
        if extra:
            problem = f"the file has key {extra[0]!r} that the architecture lacks"
    if problem is None:
        return state
    fits = suggest_arch(_clip_layout(weights.state_dict), weights.quick_gelu)
    hint = f"; the file fits {fits[:3]}" if fits else ""
    raise CheckpointError(f"{weights.path}: CLIP weights do not fit architecture {arch!r}: "
                          f"{problem}{hint}")


def check_activation(weights: ClipWeights, arch: str, arch_quick_gelu: bool) -> None:
    """Refuse QuickGELU-trained weights in a GELU architecture and vice versa, when known."""
    if weights.quick_gelu is None:
        log.info("%s: the file does not reveal its activation; make sure %r matches it "
                 "(OpenAI weights need a -quickgelu architecture)", weights.path, arch)
        return
    if weights.quick_gelu != arch_quick_gelu:
        want = "QuickGELU" if weights.quick_gelu else "GELU"
        fits = suggest_arch(_clip_layout(weights.state_dict), weights.quick_gelu)
        hint = f"; use {fits[0]!r}" if fits else ""
        origin = " (an OpenAI release file)" if weights.openai_release else ""
        raise CheckpointError(
            f"{weights.path}{origin}: weights were trained with {want} but architecture "
            f"{arch!r} uses {'QuickGELU' if arch_quick_gelu else 'GELU'}; every feature would "
            f"silently differ{hint}")


class _DropRandomInitWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No pretrained weights loaded")


def load_clip_model(
    arch: str,
    weights: str | Path | None,
    precision: str = "fp32",
    device: torch.device | str = "cpu",
) -> tuple[nn.Module, ClipWeights | None]:
    """Build open_clip ``arch`` and fill it from the local file ``weights``.

    Args:
        arch: open_clip architecture name (``ViT-B-32-quickgelu``, ``openhoi-tiny``...).
        weights: weight file; ``None`` leaves the random initialisation (tests, or a model whose
            weights come from an openhoi checkpoint afterwards).
        precision: ``fp32``, ``fp16`` or ``bf16`` (open_clip's; LayerNorm runs in fp32 for the
            low-precision ones, as in OpenAI's fp16 model).
        device: where the model lives.

    Returns:
        The model in eval mode, and the file's ``ClipWeights`` (``None`` without a file).
    """
    import open_clip

    cfg = arch_config(arch)
    root = logging.getLogger()
    quiet = _DropRandomInitWarning()
    root.addFilter(quiet)  # open_clip warns "initialized randomly": we load weights next
    try:
        model = open_clip.create_model(arch, pretrained=None, precision=precision, device="cpu",
                                       pretrained_text=False)
    finally:
        root.removeFilter(quiet)
    info = None
    if weights is not None:
        info = read_clip_weights(weights)
        state = check_weights_fit(model, info, arch)
        check_activation(info, arch, bool(cfg.get("quick_gelu", False)))
        model.load_state_dict(state, strict=True)
        info.state_dict = {}  # the model holds the weights now; free the copy
    return keep_residual_dtype(model).to(device).eval(), info
