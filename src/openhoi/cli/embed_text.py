"""Write CLIP text embeddings of a label space's interaction and object prompts to a file.

The file (safetensors) holds ``interaction_embeddings [I, E]`` and ``object_embeddings
[O + 1, E]`` (last row: the no-object prompt), L2-normalised, with the CLIP architecture, the
weight file's sha256, the label space and every prompt as metadata. Point
``model.clip.text_embeddings`` at it to initialise classifiers without running the text tower.
"""

from __future__ import annotations

import argparse


def add_clip_arguments(parser: argparse.ArgumentParser) -> None:
    """``--clip-arch/--clip-weights/--precision/--device`` (shared with verb-repr)."""
    parser.add_argument("--clip-arch", default=None,
                        help="open_clip architecture (default: the config's, ViT-B-32-quickgelu)")
    parser.add_argument("--clip-weights", default=None, metavar="FILE",
                        help="local CLIP weights (OpenAI .pt release or a state dict)")
    parser.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default=None,
                        help="CLIP precision (default: the config's, fp32)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--config", default=None, metavar="RECIPE",
                        help="recipe whose model.clip section (prompt templates...) to use")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="dotted config override, repeatable")


def clip_config_from_args(args: argparse.Namespace):
    """``ClipConfig`` from the recipe/overrides, with the ``--clip-*`` flags on top."""
    from openhoi.config import load_config, replace

    cfg = load_config(args.config, args.overrides).model.clip
    updates = {k: v for k, v in (("arch", args.clip_arch), ("weights", args.clip_weights),
                                 ("precision", args.precision)) if v is not None}
    return replace(cfg, updates) if updates else cfg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_clip_arguments(parser)
    parser.add_argument("--label-space", required=True,
                        help="shipped label space (hicodet, vcoco, synthetic) or JSON path")
    parser.add_argument("--out", required=True, metavar="FILE.safetensors")


def run(args: argparse.Namespace) -> int:
    from openhoi.label_space import load_label_space
    from openhoi.models.clip.class_text_embeddings import (
        compute_class_text_embeddings,
        save_class_text_embeddings,
    )
    from openhoi.models.clip.clip_knowledge import build_clip_knowledge

    cfg = clip_config_from_args(args)
    space = load_label_space(args.label_space)
    clip = build_clip_knowledge(cfg, device=args.device)
    emb = compute_class_text_embeddings(clip, space, cfg)
    save_class_text_embeddings(args.out, emb)
    print(f"wrote {args.out}: {emb.interactions.shape[0]} interaction and "
          f"{emb.objects.shape[0]} object embeddings of size {emb.interactions.shape[1]} "
          f"({cfg.arch}, weights sha256 {clip.weights_sha256 or 'none (random init)'})")
    return 0
