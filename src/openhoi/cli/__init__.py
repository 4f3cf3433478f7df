"""The `openhoi` command line: every subcommand is wired here, in one table.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and ``run(args)``.
Modules import torch and the rest lazily inside ``run`` so that ``openhoi --help`` is instant.
"""

from __future__ import annotations

import argparse
import logging
import sys
from types import ModuleType

from openhoi import __version__
from openhoi.cli import (
    convert,
    convert_annotations,
    data_report,
    demo,
    detect_instances,
    embed_text,
    evaluate,
    export,
    label_space,
    make_synthetic,
    plot_embeddings,
    predict,
    recognize,
    serve,
    tune_alpha,
    verb_repr,
    vild_crops,
)
from openhoi.cli import plot as plot_cmd
from openhoi.cli import train as train_cmd
from openhoi.errors import OpenHOIError
from openhoi.fileio import describe_write_error
from openhoi.host_memory import apply_host_memory_env

# (name, module, one-line help). Order is the order shown by `openhoi --help`.
COMMANDS: list[tuple[str, ModuleType, str]] = [
    ("demo", demo, "the whole job in minutes: synthetic data, train, evaluate, predict"),
    ("predict", predict, "detect human-object interactions in your images (JSON lines, pictures)"),
    ("recognize", recognize, "list the interactions in whole images (recognition models, DEFR)"),
    ("detect-instances", detect_instances,
     "write a detections file (boxes, scores, classes) with an HOI detector"),
    ("serve", serve, "a local web page and JSON API: drop a photo, see its interactions"),
    ("train", train_cmd, "train an HOI detector or recognizer (fresh or --resume), evaluate"),
    ("evaluate", evaluate, "score predictions or a checkpoint (HICO-DET, V-COCO, recognition)"),
    ("tune-alpha", tune_alpha, "choose CLIP-Adapter's alpha on validation data (one run each)"),
    ("plot", plot_cmd, "draw a training run's loss and mAP curves to PNG"),
    ("export", export, "write a checkpoint's model as one safetensors file"),
    ("convert", convert, "convert a HOICLIP / GEN-VLKT checkpoint into an openhoi checkpoint"),
    ("make-synthetic", make_synthetic, "write the seeded synthetic HOI dataset (HICO-DET layout)"),
    ("verb-repr", verb_repr, "compute verb representations E_v from CLIP region features"),
    ("vild-crops", vild_crops, "cache CLIP embeddings of training object crops (ViLD-image)"),
    ("embed-text", embed_text, "write (or reuse) text embeddings of a label space's prompts"),
    ("plot-embeddings", plot_embeddings, "t-SNE map of class text embeddings by verb/object"),
    ("label-space", label_space, "print a label space's classes and splits, or build one"),
    ("convert-annotations", convert_annotations,
     "convert your CSV annotations into a dataset folder (HICO-DET layout)"),
    ("data-report", data_report, "check a dataset before training: counts, gaps, bad boxes"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openhoi",
        description="Human-object interaction detection and recognition with CLIP knowledge.",
    )
    parser.add_argument("--version", action="version", version=f"openhoi {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module, help_text in COMMANDS:
        # Raw: module docstrings are wrapped by hand and their example lines must stay apart.
        p = sub.add_parser(name, help=help_text, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


RUNS_MODELS = frozenset({"predict", "recognize", "detect-instances", "serve", "evaluate"})
"""Commands that run a model's forward: they keep freed host memory for the next image
(``openhoi.host_memory``; ``OPENHOI_HOST_MEMORY=system`` leaves glibc's policy)."""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Our loggers at INFO (DEBUG with -v); third-party libraries (open_clip logs its model
    # construction on the root logger) only from WARNING up.
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("openhoi").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if args.command in RUNS_MODELS:  # train and demo: engine.train.fit applies it
        apply_host_memory_env()  # no page faults for large activation maps after the first
    try:
        return int(args._run(args) or 0)
    except OpenHOIError as err:
        print(f"openhoi {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a write outside openhoi.fileio: still say what happened
        message = describe_write_error(err, err.filename or "an output file")
        if message is None:
            raise
        print(f"openhoi {args.command}: error: {message}", file=sys.stderr)
        return 2
