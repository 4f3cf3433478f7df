"""EZ-HOI's own model class (``UPT`` of ChelsieLei/EZ-HOI), built on the CPU with random weights
from a checkout the user names, with the released scripts' flags.

No reference code is part of openhoi. ``build_ez_reference(root, clip_arch)`` imports
``upt_tip_cache_model_free_finetune_distillself.build_detector`` from an unmodified checkout
(``git archive`` of ChelsieLei/EZ-HOI) and calls it as ``main_tip_finetune.main`` does, with the
flags of ``scripts/hico_test_vitB_zs.sh`` / ``hico_test_vitL_zs.sh`` (``--zs_type`` as asked).
What this environment lacks is replaced for the duration of the build only:

- CLIP: ``torch.load(<clip file>).state_dict()`` returns the state dict of a random open_clip
  model of the same architecture (OpenAI's key layout);
- DETR's ResNet-50 is built without ImageNet weights (``pretrained=is_main_process()`` would
  download them); ``--pretrained`` names no file, so the DETR stays random too;
- CUDA: EZ-HOI puts a few tensors on ``"cuda"`` at start-up (text features, the class tables);
  those calls land on the CPU;
- ``cv2`` (imported, not used by the model) is an empty module.

The module's ``MAIN``-style trainable parameters (``trainable_parameters``) follow
``main_tip_finetune.main``'s ``requires_grad`` loop exactly.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import importlib
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

CLIP_ARCHS = {"ViT-B/16": ("ViT-B-16-quickgelu", "ViT-B-16.pt"),
              "ViT-L/14@336px": ("ViT-L-14-336-quickgelu", "ViT-L-14-336px.pt")}
"""EZ-HOI's CLIP (``args.clip_model_name``) -> (open_clip architecture, file name)."""

ZS_TYPES = {"rf_uc": "rare_first", "nf_uc": "non_rare_first", "uo": "unseen_object",
            "uv": "unseen_verb"}
"""openhoi zero-shot split -> EZ-HOI ``--zs_type``."""

_TOP_LEVEL = ("upt_tip_cache_model_free_finetune_distillself", "CLIP_models_adapter_prior2",
              "transformer_module", "ops", "hico_list", "vcoco_list", "hico_text_label",
              "vcoco_text_label", "models", "util", "clip", "detr", "cv2")


def _parser(root: Path) -> argparse.ArgumentParser:
    """``main_tip_finetune.py``'s argument parser: the statements of its ``__main__`` block up
    to ``parse_args`` (the parser is built inline there), run on their own."""
    tree = ast.parse((root / "main_tip_finetune.py").read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If)
                 and "__main__" in ast.unparse(n.test))
    stmts = []
    for stmt in block.body:
        if "parse_args" in ast.unparse(stmt):
            break
        stmts.append(stmt)
    import numpy as np

    scope: dict = {"argparse": argparse, "np": np}
    exec(compile(ast.Module(stmts, []), "main_tip_finetune.py", "exec"), scope)  # noqa: S102
    return scope["parser"]


def flags(clip_file: str, zs_type: str | None, clip_img_dir: str) -> list[str]:
    """The released test scripts' flags (``scripts/hico_test_vit{B,L}_zs.sh``)."""
    out = ["--world-size", "1", "--pretrained", "none.pth", "--epochs", "12",
           "--use_insadapter", "--num_classes", "117", "--use_multi_hot",
           "--file1", "none.p", "--clip_dir_vit", clip_file, "--batch-size", "1",
           "--logits_type", "HO", "--txtcls_pt", "--img_align", "--unseen_pt_inj",
           "--img_clip_pt", "--clip_img_file", clip_img_dir, "--eval", "--device", "cpu"]
    return out + (["--zs", "--zs_type", zs_type] if zs_type else [])


def _to_cpu(device: object) -> object:
    if isinstance(device, str) and device.startswith("cuda"):
        return "cpu"
    if isinstance(device, torch.device) and device.type == "cuda":
        return torch.device("cpu")
    return device


@contextlib.contextmanager
def cpu_only() -> Iterator[None]:
    """``.cuda()``, ``.to("cuda")`` and ``device="cuda"`` factories land on the CPU."""
    saved = {"t_cuda": torch.Tensor.cuda, "t_to": torch.Tensor.to, "m_to": nn.Module.to,
             "zeros": torch.zeros, "ones": torch.ones}

    def t_to(self, *args, **kwargs):
        args = tuple(_to_cpu(a) for a in args)
        if "device" in kwargs:
            kwargs["device"] = _to_cpu(kwargs["device"])
        return saved["t_to"](self, *args, **kwargs)

    def m_to(self, *args, **kwargs):
        args = tuple(_to_cpu(a) for a in args)
        if "device" in kwargs:
            kwargs["device"] = _to_cpu(kwargs["device"])
        return saved["m_to"](self, *args, **kwargs)

    def factory(fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            if "device" in kwargs:
                kwargs["device"] = _to_cpu(kwargs["device"])
            return fn(*args, **kwargs)
        return wrapped

    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.Tensor.to = t_to
    nn.Module.to = m_to
    torch.zeros, torch.ones = factory(saved["zeros"]), factory(saved["ones"])
    try:
        yield
    finally:
        torch.Tensor.cuda, torch.Tensor.to = saved["t_cuda"], saved["t_to"]
        nn.Module.to = saved["m_to"]
        torch.zeros, torch.ones = saved["zeros"], saved["ones"]


@contextlib.contextmanager
def reference_imports(root: Path, clip_file: str, clip_state: dict) -> Iterator[None]:
    """Import from the checkout (and its ``detr``, ``CLIP`` folders) with the stand-ins."""
    import torchvision

    saved_load, saved_resnet = torch.load, torchvision.models.resnet50
    saved_cwd, saved_modules = os.getcwd(), {k: sys.modules.get(k) for k in ("cv2",)}

    def load(f, *args, **kwargs):
        if str(f) == clip_file:
            return types.SimpleNamespace(state_dict=lambda: dict(clip_state))
        return saved_load(f, *args, **kwargs)

    def resnet50(*args, pretrained=False, **kwargs):
        return saved_resnet(*args, weights=None, **kwargs)

    sys.modules["cv2"] = types.ModuleType("cv2")
    paths = [str(root), str(root / "detr"), str(root / "CLIP")]
    sys.path[:0] = paths
    os.chdir(root)
    torch.load, torchvision.models.resnet50 = load, resnet50
    try:
        with cpu_only():
            yield
    finally:
        torch.load, torchvision.models.resnet50 = saved_load, saved_resnet
        os.chdir(saved_cwd)
        for p in paths:
            sys.path.remove(p)
        for name in list(sys.modules):
            if name.split(".")[0] in _TOP_LEVEL:
                del sys.modules[name]
        for k, v in saved_modules.items():
            if v is not None:
                sys.modules[k] = v


def _class_maps(hico_text_label: types.ModuleType) -> tuple[list[list[int]], list[list[float]]]:
    """HICO-DET's object -> verbs lists (the test set's ``object_to_verb``, which ``main``
    installs at evaluation) and the object x verb -> interaction table, from EZ-HOI's own
    ``HOI_TO_AO`` (interaction -> (verb, object))."""
    to_verbs: list[list[int]] = [[] for _ in range(80)]
    table = [[float("nan")] * 117 for _ in range(80)]
    for hoi, (verb, obj) in sorted(hico_text_label.HOI_TO_AO.items()):
        to_verbs[obj].append(verb)
        table[obj][verb] = float(hoi)
    return [sorted(v) for v in to_verbs], table


def build_ez_reference(root: str | Path, clip_arch: str = "ViT-B/16",
                       zero_shot: str | None = "uv", clip_img_dir: str = "clip_img",
                       seed: int = 66) -> tuple[nn.Module, argparse.Namespace, dict]:
    """EZ-HOI's ``UPT`` with random weights, in eval mode, and its args and CLIP state dict.

    Args:
        root: a checkout of ChelsieLei/EZ-HOI (``main_tip_finetune.py`` at its top).
        clip_arch: ``ViT-B/16`` or ``ViT-L/14@336px``.
        zero_shot: openhoi split name (``uv``, ``rf_uc``, ``nf_uc``, ``uo``) or None (default
            setting, as ``hico_test_vitL_default.sh``).
        clip_img_dir: folder of the pre-extracted CLIP image features
            (``<image stem>_clip.pkl``) that its prompt learner reads at every forward.
        seed: ``torch.manual_seed`` before the build, as ``main`` (``--seed 66``, rank 0).
    """
    import open_clip

    root = Path(root).resolve()
    if not (root / "upt_tip_cache_model_free_finetune_distillself.py").is_file():
        raise FileNotFoundError(f"{root}: not an EZ-HOI checkout")
    arch, file_name = CLIP_ARCHS[clip_arch]
    torch.manual_seed(seed)
    clip_state = open_clip.create_model(arch, pretrained=None).state_dict()
    zs_type = None if zero_shot is None else ZS_TYPES[zero_shot]
    args = _parser(root).parse_args(flags(file_name, zs_type, clip_img_dir))
    args.clip_model_name = clip_arch
    args.human_idx = 0
    with reference_imports(root, file_name, clip_state):
        upt_module = importlib.import_module("upt_tip_cache_model_free_finetune_distillself")
        to_verbs, table = _class_maps(importlib.import_module("hico_text_label"))
        torch.manual_seed(seed)
        upt = upt_module.build_detector(args, to_verbs, object_n_verb_to_interaction=table,
                                        clip_model_path=file_name, num_anno=None)
    upt.object_class_to_target_class = to_verbs
    return upt.eval(), args, clip_state


def trainable_parameters(upt: nn.Module) -> dict[str, int]:
    """``main_tip_finetune.main``'s trainable parameters, name -> count: the detector frozen;
    in ``clip_head`` only names starting with ``visual.positional_embedding``,
    ``visual.ln_post``, ``visual.proj`` or containing ``adaptermlp`` / ``prompt_learner``;
    every other parameter as constructed (``label_HO`` is built with ``requires_grad=False``)."""
    for p in upt.detector.parameters():
        p.requires_grad = False
    for n, p in upt.clip_head.named_parameters():
        if n.startswith(("visual.positional_embedding", "visual.ln_post", "visual.proj")):
            p.requires_grad = True
        elif "adaptermlp" in n or "prompt_learner" in n:
            p.requires_grad = True
        else:
            p.requires_grad = False
    return {n: p.numel() for n, p in upt.named_parameters() if p.requires_grad}
