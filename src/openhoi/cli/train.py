"""Train an HOI detector: ``openhoi train --config RECIPE [--set a.b=c ...] --output RUN_DIR``.

  openhoi make-synthetic --out data/synthetic
  openhoi train --config synthetic_tiny --set data.root=data/synthetic --output runs/tiny \\
      --epochs 2 --batch-size 4 --seed 1
  openhoi train --resume runs/tiny --epochs 4

A run folder holds checkpoints/last.pt and checkpoints/best.pt (training checkpoints: weights,
optimizer, progress) and model.safetensors (the selected weights alone, for ``openhoi
predict`` / ``evaluate --checkpoint``). Continue a killed run with ``openhoi train --resume
RUN_DIR`` (its config.yaml and checkpoints/last.pt). Several GPUs or nodes: launch with
``torchrun --nproc_per_node=N -m openhoi train ...``; ``train.batch_size`` stays the total
over all processes.

Environment: ``OPENHOI_DATA`` gives ``data.root`` when neither the recipe nor ``--set`` does;
``RANK``/``LOCAL_RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT`` are torchrun's.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="recipe YAML (path or shipped name, e.g. synthetic_tiny)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config value (repeatable)")
    parser.add_argument("--output", help="run folder to create")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue the run in RUN_DIR from its last checkpoint")
    parser.add_argument("--verb-repr", metavar="FILE",
                        help="verb representations E_v (`openhoi verb-repr` output or HOICLIP's "
                             "verb.pth), needed when model.interaction.verb_repr_init=file")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda, cuda:1... (default: this process's GPU, else cpu)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"],
                        help="autocast of the training forward pass on CPU or CUDA (sets "
                             "train.amp): auto = bf16 where the device computes it natively, "
                             "else fp32 (default: the recipe's train.amp, fp32 in every shipped "
                             "recipe); validation and test evaluation stay fp32")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--epochs", type=int, help="same as --set train.epochs=N")
    parser.add_argument("--batch-size", type=int,
                        help="same as --set train.batch_size=N (total over all processes)")
    parser.add_argument("--seed", type=int, help="same as --set train.seed=N")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="skip unreadable images and invalid annotation records (logged) "
                             "instead of stopping; same as --set data.skip_invalid=true")


def _device(requested: str | None, local_rank: int):
    import torch

    if requested is not None:
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` values plus the shortcut options (which win)."""
    out = list(args.overrides)
    for key, value in (("train.epochs", args.epochs), ("train.batch_size", args.batch_size),
                       ("train.seed", args.seed)):
        if value is not None:
            out.append(f"{key}={value}")
    if args.skip_invalid:
        out.append("data.skip_invalid=true")
    return out


def _config(args: argparse.Namespace):
    from openhoi.config import load_config, replace
    from openhoi.errors import ConfigError

    if args.resume:
        if args.config or args.output:
            raise ConfigError("--resume RUN_DIR continues a run with its own config.yaml and "
                              "folder: drop --config/--output (use --set to change a value)")
        run_dir = Path(args.resume)
        if not (run_dir / "config.yaml").is_file():
            raise ConfigError(f"--resume {run_dir}: no config.yaml there (not a run folder)")
        return load_config(run_dir / "config.yaml", _overrides(args)), run_dir
    if not args.config or not args.output:
        raise ConfigError("give --config RECIPE and --output RUN_DIR (or --resume RUN_DIR)")
    run_dir = Path(args.output)
    if (run_dir / "config.yaml").exists() or (run_dir / "checkpoints").exists():
        raise ConfigError(f"--output {run_dir} already holds a run: continue it with --resume "
                          f"{run_dir}, or choose another folder")
    config = load_config(args.config, _overrides(args))
    if config.data.root is None and os.environ.get("OPENHOI_DATA"):
        config = replace(config, {"data.root": os.environ["OPENHOI_DATA"]})
    return config, run_dir


def _remove_unstarted_run(run_dir: Path, handler: logging.Handler | None) -> None:
    """Remove a run folder this call created when the run failed before writing its config
    (bad data, bad recipe): a folder that ``--resume`` would reject ("no config.yaml") and
    ``--output`` would refuse is worse than none. A started run is always kept."""
    if (run_dir / "config.yaml").exists():
        return
    if handler is not None:
        logging.getLogger().removeHandler(handler)
        handler.close()
    (run_dir / "train.log").unlink(missing_ok=True)
    try:
        run_dir.rmdir()  # only if empty: never delete anything else
    except OSError:
        pass


def run(args: argparse.Namespace) -> int:
    from openhoi.config import replace
    from openhoi.engine.distributed import (
        destroy_distributed,
        init_distributed,
        parse_torchrun_env,
    )
    from openhoi.engine.recognition import is_recognition, train_recognition_run
    from openhoi.engine.run import train_run
    from openhoi.engine.train import NonFiniteLossError
    from openhoi.fileio import check_writable_dir

    config, run_dir = _config(args)
    if args.precision:
        config = replace(config, {"train.amp": {"fp32": "off"}.get(args.precision,
                                                                   args.precision)})
    env = parse_torchrun_env(os.environ)
    device = _device(args.device, env.local_rank)
    main = env.rank == 0
    new_folder = not run_dir.exists()
    handler = None
    if main:
        check_writable_dir(run_dir, "--resume" if args.resume else "--output")
        handler = logging.FileHandler(run_dir / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
    else:
        logging.getLogger().setLevel(logging.WARNING)  # one copy of every message
    init_distributed(env, device.type)
    try:
        if is_recognition(config):
            state = train_recognition_run(config, run_dir, device, resume=bool(args.resume),
                                          progress=main and not args.no_progress)
        else:
            state = train_run(config, run_dir, device, resume=bool(args.resume),
                              verb_repr=args.verb_repr, progress=main and not args.no_progress)
    except NonFiniteLossError as err:
        print(f"openhoi train: stopped: {err}", file=sys.stderr)
        return 3
    except BaseException:
        if main and new_folder:
            _remove_unstarted_run(run_dir, handler)
        raise
    finally:
        destroy_distributed()
    if main:
        print(f"trained {state.epoch} epochs ({state.step} steps) into {run_dir}")
        if state.best_value is not None:
            print(f"best {config.train.best_metric} on validation: {state.best_value:.4f} "
                  f"(after epoch {state.best_epoch})")
    return 0
