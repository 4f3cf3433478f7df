"""CLIP image embeddings of a recipe's training object crops, for ViLD-image.

``openhoi vild-crops --config RECIPE [--set a.b=c ...] --cache-dir DIR`` crops every object of
the training pairs the recipe trains on (after its zero-shot / low-data / validation rules)
by ``model.vild.crop_scale``, encodes the crops with the recipe's CLIP and writes them to
DIR under a name keyed by CLIP's weights, the crop rule and the dataset; an existing file with
the same key is reused. It prints the ``--set`` that points training at the file. A
random-init CLIP (``openhoi-tiny``) is seeded with ``train.seed`` exactly as training seeds
it, so the crops and the model see the same CLIP.
"""

from __future__ import annotations

import argparse
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="recipe YAML (path or shipped name)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config value (repeatable)")
    parser.add_argument("--cache-dir", required=True, metavar="DIR",
                        help="folder of crop-embedding files (created)")
    parser.add_argument("--batch-size", type=int, default=64, help="crops per CLIP forward")
    parser.add_argument("--device", default="cpu")


def run(args: argparse.Namespace) -> int:
    from openhoi.config import load_config, replace
    from openhoi.data.dataset import resolve_label_space
    from openhoi.engine.run import build_run_data, seed_everything
    from openhoi.errors import ConfigError
    from openhoi.models.clip.clip_knowledge import build_clip_knowledge
    from openhoi.models.clip.vild_crops import cached_crop_embeddings

    config = load_config(args.config, args.overrides)
    if config.data.root is None and os.environ.get("OPENHOI_DATA"):
        config = replace(config, {"data.root": os.environ["OPENHOI_DATA"]})
    model = config.model
    if getattr(getattr(model, "detector", None), "obj_head", None) != "vild":
        raise ConfigError(f"{args.config}: model.detector.obj_head is not 'vild'")
    space = resolve_label_space(config.data)
    train = build_run_data(replace(config, {"train.eval_test": False}), space).train
    train.transforms = None  # crops of the stored pixels
    seed_everything(config.train.seed)  # the CLIP training builds first (random-init CLIP)
    clip = build_clip_knowledge(model.clip, device=args.device)
    path, built = cached_crop_embeddings(args.cache_dir, clip, train, model.vild.crop_scale,
                                         space.fingerprint, model.clip.precision,
                                         args.batch_size)
    print(f"{'wrote' if built else 'reused'} {path} ({len(train)} training images)")
    print(f"--set model.vild.crop_embeddings={path}")
    return 0
