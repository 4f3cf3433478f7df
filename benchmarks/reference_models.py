"""The official HOICLIP / GEN-VLKT model classes, built from checkouts the user names, for timing.

No reference code is part of openhoi. ``build_reference(arch, root)`` imports the model from
unmodified checkouts ``root/HOICLIP`` (Artanic30/HOICLIP) and ``root/gen-vlkt``
(YueLiao/gen-vlkt) with the HICO-DET recipe's flags (ResNet-50, 64 query pairs, 3 decoder
layers, CLIP ViT-B/32) and random weights. Offline stand-ins replace the few packages their
imports need and that this environment lacks or that would download weights: ``clip``
(OpenAI's pip package: tokenizer and a random ViT-B/32 from open_clip), ``threadpool``,
``cv2`` and ``pkg_resources`` (only imported, never used by the forward pass).

``build_reference_training(arch, root)`` builds the same model in training mode with its
criterion and AdamW optimiser as their ``main.py`` sets them up (parameters frozen and grouped
by its name rules, the recipe's learning rates); ``ReferenceTraining.step`` is one iteration of
their ``engine.train_one_epoch``.

The forward pass timed is the one their ``engine.evaluate_hoi`` runs:
``model(samples, is_training=False, clip_input=...)`` (HOICLIP; the CLIP input is made by the
data loader, ``clip_preprocess`` on the PIL image) and ``model(samples, is_training=False)``
(GEN-VLKT, which runs no CLIP at inference).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import os
import sys
import tempfile
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

CHECKOUTS = {"hoiclip": "HOICLIP", "gen_vlkt": "gen-vlkt"}
_TOP_LEVEL = ("models", "datasets", "util", "engine", "main", "ModifiedCLIP", "clip")


def reference_dir(root: str | Path, arch: str) -> Path | None:
    """``root/<checkout>`` when it holds the reference's ``main.py``, else None."""
    path = Path(root) / CHECKOUTS[arch]
    return path if (path / "main.py").is_file() else None


def _stub_modules(clip_loader: Callable[[str, object], tuple[nn.Module, None]]) -> dict:
    """Offline stand-ins for ``clip``, ``threadpool``, ``cv2``, ``pkg_resources``."""
    import open_clip
    import packaging.version

    clip_mod = types.ModuleType("clip")
    clip_mod.tokenize = lambda texts, context_length=77, truncate=False: open_clip.tokenize(
        texts, context_length)
    clip_mod.load = lambda name, device="cpu", jit=False, download_root=None: clip_loader(
        name, device)
    threadpool = types.ModuleType("threadpool")  # used by their evaluators only
    cv2 = types.ModuleType("cv2")
    pkg = types.ModuleType("pkg_resources")
    pkg.packaging = packaging
    return {"clip": clip_mod, "threadpool": threadpool, "cv2": cv2, "pkg_resources": pkg}


@contextlib.contextmanager
def _reference_imports(path: Path, stubs: dict) -> Iterator[None]:
    """Import from ``path`` with the stubs, then forget every module imported from there (both
    checkouts have top-level ``models``, ``util``, ``datasets``)."""
    import torchvision

    saved_modules = {k: sys.modules.get(k) for k in stubs}
    saved_cwd, saved_version = os.getcwd(), torchvision.__version__
    sys.modules.update(stubs)
    sys.path.insert(0, str(path))
    os.chdir(path)
    torchvision.__version__ = "9.9"  # their util/misc.py parses version[:3] as a float
    try:
        yield
    finally:
        torchvision.__version__ = saved_version
        os.chdir(saved_cwd)
        sys.path.remove(str(path))
        for name in list(sys.modules):
            if name.split(".")[0] in _TOP_LEVEL:
                del sys.modules[name]
        for k, v in saved_modules.items():
            if v is not None:
                sys.modules[k] = v


def _flags(arch: str, verb_file: str, out_dir: str) -> list[str]:
    flags = ["--dataset_file", "hico", "--hoi_path", "none", "--num_queries", "64",
             "--dec_layers", "3", "--epochs", "90", "--lr_drop", "60", "--use_nms_filter",
             "--with_clip_label", "--with_obj_clip_label", "--device", "cpu",
             "--output_dir", out_dir, "--clip_embed_dim", "512", "--zero_shot_type", "default",
             "--num_obj_classes", "80", "--num_verb_classes", "117", "--backbone", "resnet50"]
    if arch == "hoiclip":
        return flags + ["--fix_clip", "--model_name", "HOICLIP", "--dataset_root", "GEN",
                        "--verb_pth", verb_file, "--verb_weight", "0.5"]
    return flags + ["--ft_clip_with_small_lr", "--with_mimic", "--mimic_loss_coef", "20"]


class ReferenceModel:
    """A reference model and the call that runs its inference forward on an image batch."""

    def __init__(self, model: nn.Module, arch: str, nested: Callable[[list[Tensor]], object],
                 clip_preprocess: Callable | None = None) -> None:
        self.model, self.arch, self._nested = model, arch, nested
        self.clip_preprocess = clip_preprocess
        """HOICLIP: CLIP's PIL transform as their data loader applies it to the augmented
        image (``clip_preprocess(img_0)``, ``ModifiedCLIP.clip._transform``); None for
        GEN-VLKT."""

    def samples(self, images: Tensor) -> object:
        """Their ``NestedTensor`` of a ``[B, 3, H, W]`` unpadded batch (the collate's work)."""
        return self._nested(list(images))

    def __call__(self, samples: object, clip_input: Tensor | None = None) -> dict:
        if self.arch == "hoiclip":
            return self.model(samples, is_training=False, clip_input=clip_input)
        return self.model(samples, is_training=False)

    def parameters(self) -> Iterator[nn.Parameter]:
        return self.model.parameters()


def _build_parts(arch: str, root: str | Path, seed: int) -> tuple[tuple, Callable, object]:
    """``build(args)``'s (model, criterion, postprocessors), the nested-tensor maker and
    HOICLIP's CLIP transform (None for GEN-VLKT), from the checkout under ``root``."""
    import open_clip

    path = reference_dir(root, arch)
    if path is None:
        raise FileNotFoundError(f"no {CHECKOUTS[arch]} checkout (main.py) under {root}")
    torch.manual_seed(seed)
    clip_ref = open_clip.create_model("ViT-B-32-quickgelu", pretrained=None)  # OpenAI layout
    clip_sd = clip_ref.state_dict()
    stubs = _stub_modules(lambda name, device: (copy.deepcopy(clip_ref).to(device), None))
    with tempfile.TemporaryDirectory() as tmp, _reference_imports(path, stubs):
        if arch == "hoiclip":
            from ModifiedCLIP import clip as modified_clip
            from ModifiedCLIP.model import build_model as build_clip

            def load(name, device="cpu", jit=False, download_root=None):
                return build_clip(copy.deepcopy(clip_sd)).to(device).float(), None

            modified_clip.load = load  # clip.load on CPU: fp32
            clip_preprocess = modified_clip._transform(224)
        else:
            clip_preprocess = None
        verb_file = f"{tmp}/verb.pth"
        torch.save(nn.functional.normalize(torch.randn(117, 512), dim=-1), verb_file)
        main = importlib.import_module("main")
        args = argparse.ArgumentParser(parents=[main.get_args_parser()]).parse_args(
            _flags(arch, verb_file, tmp))
        module = "models.models_hoiclip.hoiclip" if arch == "hoiclip" else "models"
        build = getattr(importlib.import_module(module),
                        "build" if arch == "hoiclip" else "build_model")
        parts = build(args)
        nested = importlib.import_module("util.misc").nested_tensor_from_tensor_list
    return parts, nested, clip_preprocess


def build_reference(arch: str, root: str | Path, seed: int = 0) -> ReferenceModel:
    """The reference ``arch`` (``hoiclip`` / ``gen_vlkt``) with random weights, in eval mode.

    Raises:
        FileNotFoundError: ``root`` has no checkout of ``arch``.
    """
    (model, _, _), nested, clip_preprocess = _build_parts(arch, root, seed)
    model = model.eval().requires_grad_(False)  # inference only
    return ReferenceModel(model, arch, nested, clip_preprocess)


LR, LR_BACKBONE, LR_CLIP, WEIGHT_DECAY, CLIP_MAX_NORM = 1e-4, 1e-5, 1e-5, 1e-4, 0.1
"""The recipes' optimiser settings (``main.py`` defaults, ``--lr_backbone`` of the scripts)."""


def _freeze_and_group(model: nn.Module, arch: str) -> list[dict]:
    """``main.py``'s trainable parameters and AdamW groups for the recipe's flags: HOICLIP
    ``--fix_clip`` (CLIP and the visual projections frozen; groups rest / backbone), GEN-VLKT
    ``--ft_clip_with_small_lr --with_clip_label --with_obj_clip_label`` (the visual
    projections at ``lr_clip``)."""
    for name, p in model.named_parameters():
        if "eval_visual_projection" in name:
            p.requires_grad_(False)
        if arch == "hoiclip" and ("visual_projection" in name or "clip_model" in name):
            p.requires_grad_(False)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if arch == "hoiclip":
        return [{"params": [p for n, p in named if "backbone" not in n]},
                {"params": [p for n, p in named if "backbone" in n], "lr": LR_BACKBONE}]
    return [{"params": [p for n, p in named
                        if "backbone" not in n and "visual_projection" not in n]},
            {"params": [p for n, p in named if "backbone" in n], "lr": LR_BACKBONE},
            {"params": [p for n, p in named if "visual_projection" in n], "lr": LR_CLIP}]


def _to_float(x: object) -> object:
    """Floating-point tensors in nested dicts / lists / tuples as float32."""
    if isinstance(x, Tensor):
        return x.float() if x.is_floating_point() else x
    if isinstance(x, dict):
        return {k: _to_float(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_to_float(v) for v in x)
    return x


class ReferenceTraining:
    """The reference model, criterion and optimiser; ``step`` is one training iteration."""

    def __init__(self, model: nn.Module, criterion: nn.Module, arch: str,
                 nested: Callable[[list[Tensor]], object], clip_preprocess: Callable | None,
                 fused: bool = False) -> None:
        self.model, self.criterion, self.arch = model.train(), criterion.train(), arch
        self.nested, self.clip_preprocess = nested, clip_preprocess
        self.optimizer = torch.optim.AdamW(_freeze_and_group(model, arch), lr=LR,
                                           weight_decay=WEIGHT_DECAY, fused=fused)

    def step(self, samples: object, clip_input: Tensor, targets: list[dict],
             autocast: contextlib.AbstractContextManager | None = None) -> float:
        """Their ``engine.train_one_epoch`` body: forward, weighted loss sum, backward,
        ``clip_grad_norm_(max_norm=0.1)``, AdamW step. For HOICLIP ``autocast`` wraps forward
        and loss as its ``--enable_amp`` does on CUDA; GEN-VLKT has no mixed precision of its
        own and its criterion cannot take bfloat16 outputs (``index_put`` of float targets), so
        there ``autocast`` wraps the forward and the criterion gets the outputs in float32, as
        openhoi's training step does."""
        with autocast or contextlib.nullcontext():
            if self.arch == "hoiclip":
                outputs = self.model(samples, clip_input=clip_input, targets=targets)
                loss_dict = self.criterion(outputs, targets)
            else:
                outputs = self.model(samples)
        if self.arch != "hoiclip":
            loss_dict = self.criterion(_to_float(outputs), targets)
        weights = self.criterion.weight_dict
        loss = sum(loss_dict[k] * weights[k] for k in loss_dict if k in weights)
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), CLIP_MAX_NORM)
        self.optimizer.step()
        return float(loss)


def build_reference_training(arch: str, root: str | Path, seed: int = 0) -> ReferenceTraining:
    """The reference ``arch`` with random weights, set up for training as ``main.py`` does."""
    (model, criterion, _), nested, clip_preprocess = _build_parts(arch, root, seed)
    return ReferenceTraining(model, criterion, arch, nested, clip_preprocess)
