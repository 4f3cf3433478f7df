"""What bf16 costs in accuracy and buys in time: a trained checkpoint scored on its test split in
fp32 and under bf16 (and fp16) autocast, from the same process and the same loader.

Prints, per precision: test mAP (Full / Rare / Non-rare), the largest change of an image's
best triplet score against fp32 (same images, same post-processing), and the wall time of the
forward passes, with the CPU model, whether it computes bf16 natively, and the load. This is
the number each command's default precision comes from (README, "Precision").

    bash scripts/env.sh openhoi demo                          # a trained synthetic model
    bash scripts/env.sh python benchmarks/bench_precision.py openhoi-demo/run/model.safetensors
"""

from __future__ import annotations

import argparse
import time

import torch
from infer_measure import LoadMonitor, machine_line

from openhoi.config import replace
from openhoi.data.dataset import build_dataset
from openhoi.data.loader import collate
from openhoi.engine.evaluate import predict_loader
from openhoi.engine.loaders import eval_loader
from openhoi.engine.run import ground_truth
from openhoi.evaluation.build import build_evaluator
from openhoi.models.build import load_model
from openhoi.precision import DTYPES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="trained checkpoint or model.safetensors")
    parser.add_argument("--data-root", help="dataset folder (default: the checkpoint's)")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"],
                        choices=sorted(DTYPES))
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    monitor = LoadMonitor()
    print(machine_line(monitor), flush=True)
    loaded = load_model(args.checkpoint)
    model, config, space = loaded.model, loaded.config, loaded.label_space
    if args.data_root:
        config = replace(config, {"data.root": args.data_root})
    device = torch.device("cpu")
    test = build_dataset(config.data, "test", space)
    loader = eval_loader(test, args.batch_size, collate, 0)
    post = loaded.parts.postprocess
    evaluator = build_evaluator(config, ground_truth(test), space, model.task, "test")
    reference = None
    print("| precision | mAP | rare | non-rare | max change of best score vs fp32 | "
          "forward + post (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in ["fp32", *[p for p in args.precisions if p != "fp32"]]:
        t0 = time.perf_counter()
        preds = predict_loader(model, {"": post}, loader, device, DTYPES[name])[""]
        seconds = time.perf_counter() - t0
        evaluator.reset()
        evaluator.process(preds)
        res = evaluator.evaluate()
        if reference is None:
            reference, change = preds, 0.0
        else:  # same images in the same order; the sets of triplets kept may differ
            change = max(abs(float(a.scores.max()) - float(b.scores.max()))
                         for a, b in zip(reference, preds) if len(a.scores) and len(b.scores))
        print(f"| {name} | {100 * res['mAP']:.2f} | {100 * res['mAP_rare']:.2f} | "
              f"{100 * res['mAP_non_rare']:.2f} | {change:.4f} | {seconds:.1f} |", flush=True)
    print(machine_line(monitor) + " (at the end)")


if __name__ == "__main__":
    main()
