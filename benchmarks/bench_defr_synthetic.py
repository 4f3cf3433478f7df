"""DEFR's four-way comparison on a synthetic benchmark: classifier initialisation (language:
real all-MiniLM-L6-v2 embeddings, or random) x loss (LSE-Sign or BCE), each trained with a
shipped ``{family}_{lang,rand}_{lse,bce}`` recipe through ``openhoi train`` and scored by the
project's recognition evaluator (test split; Few@k over the training images after
``data.rare_cap``).

    python benchmarks/bench_defr_synthetic.py --images 2000 --seeds 0 1 2 3 4 --out runs/defr_bench

The default family, ``synthetic_defr_semantic``, runs on the semantic benchmark
(``make-synthetic --semantic``, label space ``synthetic_semantic``: class names follow the
drawings, Few@1 = the ``uc`` split's unseen verb-object combinations capped at one training
image). ``--family synthetic_defr --images 300`` runs the original benchmark's recipes. The
benchmark follows the family's label space. Prints a Markdown table (mean ± standard
deviation over seeds, per-seed values in brackets) and the seconds per run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ARMS = [("language", "LSE-Sign", "lang_lse"), ("language", "BCE", "lang_bce"),
        ("random", "LSE-Sign", "rand_lse"), ("random", "BCE", "rand_bce")]
KEYS = ("mAP", "mAP_few@1")


def run_arm(recipe: str, data: Path, out: Path, seed: int, extra: list[str]) -> dict:
    """Train one arm (skipped when its run folder has test metrics); its test metrics with
    the training seconds under ``seconds`` (None when the run was already there)."""
    from openhoi.cli import main

    run = out / f"{recipe}_seed{seed}"
    seconds = None
    if not (run / "test_metrics.json").is_file():
        args = ["train", "--config", recipe, "--set", f"data.root={data}", "--set",
                f"train.seed={seed}", *[x for s in extra for x in ("--set", s)],
                "--output", str(run), "--device", "cpu", "--no-progress"]
        start = time.perf_counter()
        if main(args) != 0:
            raise SystemExit(f"training {recipe} failed")
        seconds = time.perf_counter() - start
    return {**json.loads((run / "test_metrics.json").read_text()), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="synthetic_defr_semantic",
                        help="recipe prefix: {family}_{lang,rand}_{lse,bce}")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--arms", nargs="+", default=[a[2] for a in ARMS])
    parser.add_argument("--set", dest="extra", action="append", default=[])
    parser.add_argument("--out", default="runs/defr_bench")
    args = parser.parse_args()
    from openhoi.config import load_config
    from openhoi.data.synthetic import generate_synthetic

    semantic = load_config(f"{args.family}_lang_lse").data.label_space == "synthetic_semantic"
    out = Path(args.out)
    kind = "semantic" if semantic else "synthetic"
    data = out / f"{kind}_{args.images}_{args.data_seed}_{args.test_fraction}"
    if not (data / "annotations").is_dir():
        generate_synthetic(data, args.images, seed=args.data_seed,
                           test_fraction=args.test_fraction, semantic=semantic)
    print("| Classifier init | Loss | Full mAP | Few@1 mAP | s / run |")
    print("|---|---|---:|---:|---:|")
    for init, loss, arm in ARMS:
        if arm not in args.arms:
            continue
        res = [run_arm(f"{args.family}_{arm}", data, out, s, args.extra) for s in args.seeds]
        cells = []
        for k in KEYS:
            vals = [100 * r[k] for r in res]
            per = ", ".join(f"{v:.1f}" for v in vals)
            cells.append(f"{np.mean(vals):.1f} ± {np.std(vals):.1f} ({per})")
        secs = [r["seconds"] for r in res if r["seconds"] is not None]
        took = f"{np.mean(secs):.0f}" if secs else "cached"
        print(f"| {init} | {loss} | {cells[0]} | {cells[1]} | {took} |", flush=True)


if __name__ == "__main__":
    main()
