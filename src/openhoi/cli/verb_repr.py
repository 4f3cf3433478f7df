"""Compute verb representations E_v by visual semantic arithmetic (HOICLIP Sec. 3.4).

CLIP encodes the union, human and object regions of every annotated pair of the training split;
E_v per verb follows ``--rule`` (see ``openhoi.models.hoiclip.verb_repr``). In a zero-shot
setting the pairs showing unseen classes are left out; ``--include-unseen`` keeps them,
reproducing HOICLIP, whose released verb.pth was computed on the full training set (which
leaks unseen classes).
Writes a safetensors file with E_v [V, E], per-verb sample counts and what produced them.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from openhoi.cli.embed_text import add_clip_arguments, clip_config_from_args

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", default=os.environ.get("OPENHOI_DATA"), metavar="DIR",
                        help="dataset folder (default: $OPENHOI_DATA)")
    parser.add_argument("--dataset", choices=["hicodet", "synthetic", "vcoco", "custom"],
                        default="hicodet", help="custom: your own dataset (its label space is "
                        "<data-root>/label_space.json unless --label-space)")
    parser.add_argument("--label-space", default=None,
                        help="label space name or JSON (default: the dataset's)")
    parser.add_argument("--split", choices=["train", "test"], default="train")
    add_clip_arguments(parser)
    parser.add_argument("--rule", choices=["hoiclip", "paper", "variant_a"], default="hoiclip")
    parser.add_argument("--zero-shot", default=None, metavar="SPLIT",
                        help="zero-shot setting (rf_uc, nf_uc, uo, uv...): its unseen classes' "
                             "regions are left out")
    parser.add_argument("--include-unseen", action="store_true",
                        help="keep unseen classes' regions (HOICLIP's released verb.pth did)")
    parser.add_argument("--normalize-features", action="store_true",
                        help="L2-normalise each region feature first (HOICLIP does not)")
    parser.add_argument("--batch-size", type=int, default=64, help="pairs per CLIP forward")
    parser.add_argument("--workers", type=int, default=2, help="image decoding workers")
    parser.add_argument("--cache", default=None, metavar="FILE",
                        help="region-feature cache: reused when it matches, else written")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--out", required=True, metavar="FILE.safetensors")


def _region_features(args: argparse.Namespace, clip: Any, cfg: Any, space: Any, dataset: Any,
                     annotation_file: Any) -> Any:
    """Pair region features from ``--cache`` when it matches, else computed (and cached)."""
    from openhoi.errors import CheckpointError
    from openhoi.models.clip.region_features import (
        extract_pair_features,
        load_pair_features,
        save_pair_features,
    )

    meta = {"arch": cfg.arch, "weights_sha256": clip.weights_sha256, "precision": cfg.precision,
            "image_resize": cfg.image_resize, "annotation_file": str(annotation_file),
            "split": args.split, "label_space": space.fingerprint, "num_images": len(dataset)}
    if args.cache and Path(args.cache).is_file():
        try:
            feats = load_pair_features(args.cache, **meta)
            log.info("region features from cache %s (%d pairs)", args.cache, len(feats))
            return feats
        except CheckpointError as err:
            log.warning("cache not used: %s; recomputing", err)
    feats = extract_pair_features(clip, dataset.load, len(dataset), args.batch_size,
                                  args.workers, progress=not args.no_progress)
    if args.cache:
        save_pair_features(args.cache, feats, meta)
    return feats


def run(args: argparse.Namespace) -> int:
    from openhoi.config import DataConfig
    from openhoi.data.dataset import LAYOUTS, build_dataset, resolve_label_space
    from openhoi.errors import ConfigError
    from openhoi.models.clip.clip_knowledge import build_clip_knowledge
    from openhoi.models.hoiclip.verb_repr import (
        exclude_unseen,
        save_verb_representations,
        verb_representations,
    )

    if not args.data_root:
        raise ConfigError("give the dataset folder with --data-root DIR or OPENHOI_DATA=DIR")
    data_cfg = DataConfig(dataset=args.dataset, root=args.data_root, label_space=args.label_space)
    space = resolve_label_space(data_cfg)
    if args.include_unseen and args.zero_shot is None:
        raise ConfigError("--include-unseen only makes sense with --zero-shot")
    if args.zero_shot is not None:
        space.zero_shot_split(args.zero_shot)  # unknown split: error before any CLIP work
    cfg = clip_config_from_args(args)
    clip = build_clip_knowledge(cfg, device=args.device)
    dataset = build_dataset(data_cfg, args.split, space, transforms=None)
    annotation_file = LAYOUTS[args.dataset](args.data_root, args.split).annotation_file
    feats = _region_features(args, clip, cfg, space, dataset, annotation_file)
    if args.zero_shot is not None and not args.include_unseen:
        before = len(feats)
        feats = exclude_unseen(feats, space, args.zero_shot)
        log.info("zero-shot %s: left out %d of %d pairs showing unseen classes",
                 args.zero_shot, before - len(feats), before)
    elif args.include_unseen:
        log.warning("--include-unseen: regions of %s's unseen classes are used, as in HOICLIP's "
                    "released verb.pth; zero-shot results are then not zero-shot", args.zero_shot)
    emb, counts = verb_representations(feats, space, args.rule, args.normalize_features)
    missing = [space.verbs[v] for v in (counts == 0).nonzero().flatten().tolist()]
    if missing:
        log.warning("%d verbs have no samples and get a zero E_v: %s", len(missing),
                    ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else ""))
    save_verb_representations(args.out, emb, counts, {
        "rule": args.rule, "arch": cfg.arch, "weights_sha256": clip.weights_sha256,
        "weights_file": Path(cfg.weights).name if cfg.weights else None,
        "precision": cfg.precision, "annotation_file": str(annotation_file),
        "split": args.split, "zero_shot": args.zero_shot,
        "include_unseen": bool(args.include_unseen), "label_space": space.fingerprint,
        "verbs": list(space.verbs), "normalize_features": bool(args.normalize_features),
        "num_pairs": len(feats)})
    print(f"wrote {args.out}: E_v [{emb.shape[0]}, {emb.shape[1]}] from {len(feats)} pairs "
          f"({args.rule} rule, {len(missing)} verbs without samples)")
    return 0
