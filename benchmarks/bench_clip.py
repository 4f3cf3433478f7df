"""CLIP-knowledge speed: detector batch -> CLIP input, image tower (V_g, V_s), text tower, and
pair-region feature extraction for ``openhoi verb-repr``. Prints a table.

    bash scripts/env.sh python benchmarks/bench_clip.py [--arch ViT-B-32-quickgelu]
        [--device cuda] [--batch 8] [--repeat 5]

Weights are random (same cost as real ones), so no weight file is needed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import open_clip
import torch
from PIL import Image

from openhoi.label_space import load_label_space
from openhoi.models.clip.clip_knowledge import ClipKnowledge
from openhoi.models.clip.clip_loading import load_clip_model
from openhoi.models.clip.region_features import extract_pair_features
from openhoi.models.clip.text_classifier import interaction_prompts
from openhoi.structures import HOITargets, ImageBatch


def timed(fn: Callable[[], object], repeat: int, device: str) -> float:
    fn()  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", default="ViT-B-32-quickgelu")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    model, _ = load_clip_model(args.arch, None, args.precision, args.device)
    clip = ClipKnowledge(model, open_clip.get_tokenizer(args.arch), arch=args.arch)
    b, dev = args.batch, args.device
    batch = ImageBatch(torch.randn(b, 3, 800, 1216, device=dev),
                       torch.zeros(b, 800, 1216, dtype=torch.bool, device=dev),
                       torch.tensor([[800, 1216 - 16 * i] for i in range(b)], device=dev))
    pixels = clip.prepare_images(batch)
    prompts = interaction_prompts(load_label_space("hicodet"))
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
    targets = HOITargets(torch.tensor([[10.0, 20, 200, 400], [150, 100, 500, 300],
                                       [300, 50, 600, 460]]), torch.tensor([0, 1, 2]),
                         torch.tensor([[0, 1], [0, 2]]), torch.ones(2, 4), "x", (480, 640),
                         (480, 640))
    rows = [
        (f"prepare_clip_input, {b} images 800x1216", timed(lambda: clip.prepare_images(batch),
                                                             args.repeat, dev), b, "img"),
        (f"image tower, batch {b}", timed(lambda: clip.encode_image(pixels), args.repeat, dev),
         b, "img"),
        (f"text tower, {len(prompts)} HICO-DET prompts", timed(
            lambda: clip.encode_text(prompts), 1, dev), len(prompts), "prompt"),
        ("verb-repr regions, 16 images x 2 pairs", timed(lambda: extract_pair_features(
            clip, lambda i: (image, targets), 16, batch_size=64, progress=False), 1, dev),
         16, "img"),
    ]
    print(f"{args.arch} on {dev} ({args.precision})")
    print(f"{'operation':48s} {'seconds':>9s} {'throughput':>16s}")
    for name, sec, n, unit in rows:
        print(f"{name:48s} {sec:9.3f} {n / sec:11.1f} {unit}/s")


if __name__ == "__main__":
    main()
