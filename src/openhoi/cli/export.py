"""Export a trained checkpoint's model as one safetensors file (weights + config + label space).

The file is all ``predict`` and ``evaluate`` need; it holds no optimizer state and loads without
pickle.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="openhoi training checkpoint (.pth)")
    parser.add_argument("out", help="output file (.safetensors)")


def run(args: argparse.Namespace) -> int:
    from openhoi.errors import OpenHOIError
    from openhoi.models.build import export_model

    if not str(args.out).endswith(".safetensors"):
        raise OpenHOIError(f"{args.out}: the export file name must end in .safetensors")
    path = export_model(args.checkpoint, args.out)
    print(f"wrote {path}")
    return 0
