"""HICO-DET evaluator speed at full test scale, against a loop implementation of the protocol.

Builds a seeded synthetic test set the size of HICO-DET's (9,658 images, 600 interaction
classes, ~33k ground-truth instances, 100 scored triplets per image over 64 query pairs),
times ``HICODetEvaluator`` (ground-truth set-up, ``process``, ``evaluate``) and the loop
reference of ``tests/evaluation/loop_reference.py`` (per image, per detection, per ground-truth
pair, as GEN-VLKT's and the MATLAB code are written), checks that both give the same per-class
APs (bit for bit) and mAP, and prints a table.

    bash scripts/env.sh python benchmarks/bench_eval.py                 # both protocols
    bash scripts/env.sh python benchmarks/bench_eval.py --protocols python --images 2000
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from openhoi.data.label_space import LabelSpace, load_label_space
from openhoi.evaluation import HICODetEvaluator
from openhoi.structures import HOIPredictions, HOITargets

ROOT = Path(__file__).resolve().parents[1]


def load_loop_reference():
    path = ROOT / "tests" / "evaluation" / "loop_reference.py"
    spec = importlib.util.spec_from_file_location("loop_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["loop_reference"] = module
    spec.loader.exec_module(module)
    return module


def _boxes(rng: np.random.Generator, n: int, hw: np.ndarray) -> np.ndarray:
    """``[n, 4]`` integer boxes inside an image of size ``hw``."""
    w = rng.integers(20, np.maximum(21, hw[1] // 2), n)
    h = rng.integers(20, np.maximum(21, hw[0] // 2), n)
    x = rng.integers(0, hw[1] - w)
    y = rng.integers(0, hw[0] - h)
    return np.stack([x, y, x + w, y + h], 1).astype(np.float64)


def make_case(space: LabelSpace, num_images: int, seed: int = 0, queries: int = 64,
              top_k: int = 100) -> tuple[list[HOITargets], list[HOIPredictions]]:
    """Ground truth with a long-tailed class distribution and plausible model output."""
    rng = np.random.default_rng(seed)
    obj_of = space.interaction_object.numpy()
    classes_of = [np.flatnonzero(obj_of == o) for o in range(space.num_objects)]
    objects = np.array([o for o in range(space.num_objects) if len(classes_of[o])])
    obj_weight = 1.0 / np.arange(1, len(objects) + 1) ** 0.8  # long tail over objects
    obj_weight /= obj_weight.sum()
    human = space.human_label
    targets, preds = [], []
    for k in range(num_images):
        hw = np.array([rng.integers(300, 640), rng.integers(400, 640)])
        n_h, n_o = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1])), int(rng.integers(1, 4))
        boxes = _boxes(rng, n_h + n_o, hw)
        labels = np.r_[np.full(n_h, human), rng.choice(objects, n_o, p=obj_weight)]
        pairs, pair_cls = [], []
        for o in range(n_h, n_h + n_o):
            cls = classes_of[labels[o]]
            take = rng.choice(cls, min(len(cls), int(rng.choice([1, 2, 3], p=[.5, .3, .2]))),
                              replace=False)
            pairs.append((int(rng.integers(0, n_h)), o))
            pair_cls.append(take)
        verbs = torch.zeros(len(pairs), space.num_verbs)
        for r, cls in enumerate(pair_cls):
            verbs[r, space.interaction_verb[torch.as_tensor(cls)]] = 1.0
        name = f"HICO_test2015_{k + 1:08d}.jpg"
        size = (int(hw[0]), int(hw[1]))
        targets.append(HOITargets(torch.as_tensor(boxes, dtype=torch.float32),
                                  torch.as_tensor(labels), torch.as_tensor(pairs), verbs,
                                  name, size, size))
        # model output: queries copy ground-truth pairs with jitter, the rest are random
        src = rng.integers(0, len(pairs), queries)
        real = rng.random(queries) < 0.6
        h_box = np.where(real[:, None], boxes[[pairs[s][0] for s in src]], _boxes(rng, queries, hw))
        o_box = np.where(real[:, None], boxes[[pairs[s][1] for s in src]], _boxes(rng, queries, hw))
        h_box = h_box + rng.normal(0, 0.08, (queries, 4)) * 60
        o_box = o_box + rng.normal(0, 0.08, (queries, 4)) * 60
        q = rng.integers(0, queries, top_k)
        right = real[q] & (rng.random(top_k) < 0.5)
        cls = np.array([rng.choice(pair_cls[src[i]]) if r else rng.integers(space.num_interactions)
                        for i, r in zip(q, right)])
        scores = -np.sort(-rng.random(top_k) * np.where(right, 1.0, 0.6))
        preds.append(HOIPredictions(
            boxes_xyxy=torch.as_tensor(np.r_[h_box, o_box], dtype=torch.float32),
            labels=torch.zeros(2 * queries, dtype=torch.long),
            pair_idx=torch.as_tensor(np.stack([q, q + queries], 1)),
            interactions=torch.as_tensor(cls), scores=torch.as_tensor(scores, dtype=torch.float32),
            image_id=name))
    return targets, preds


def to_loop_form(targets, preds, space):
    """Plain Python lists, as the reference codes hold their data (GEN-VLKT's set-up step)."""
    table = space.interaction_table.tolist()
    gts = []
    for t in targets:
        labels = t.labels.tolist()
        pairs = t.pair_idx.tolist()
        hois = [(pairs[r][0], pairs[r][1], table[v][labels[pairs[r][1]]])
                for r, v in t.verbs.nonzero().tolist()]
        gts.append((t.image_id, t.boxes_xyxy.tolist(), hois))
    ref_preds = {p.image_id: (p.boxes_xyxy.tolist(),
                              [(h, o, c, s) for (h, o), c, s in zip(p.pair_idx.tolist(),
                                                                     p.interactions.tolist(),
                                                                     p.scores.tolist())])
                 for p in preds}
    return gts, ref_preds


class Clock:
    """Wall and CPU time of a block (CPU time is robust to other jobs on a shared machine)."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall:.2f} / {self.cpu:.2f}"


def run_ours(targets, preds, space, protocol):
    with Clock() as c_gt:
        ev = HICODetEvaluator(targets, space, protocol=protocol)
    with Clock() as c_proc:
        ev.process(preds)
    with Clock() as c_eval:
        res = ev.evaluate()
    return res, (c_gt, c_proc, c_eval)


def run_loop(ref, targets, preds, space, protocol):
    with Clock() as c_setup:
        gts, ref_preds = to_loop_form(targets, preds, space)
    with Clock() as c_match:
        if protocol == "python":
            aps = ref.hico_python(gts, ref_preds, space.num_interactions)
        else:
            aps = ref.hico_official(gts, ref_preds, space.num_interactions)
    return aps, (c_setup, c_match)


def total(*clocks: Clock) -> str:
    return f"{sum(c.wall for c in clocks):.2f} / {sum(c.cpu for c in clocks):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=9658)
    parser.add_argument("--protocols", nargs="+", default=["python", "official"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label-space", default="hicodet", help="name or JSON path")
    parser.add_argument("--skip-loop", action="store_true", help="time only our evaluator")
    args = parser.parse_args()
    space = load_label_space(args.label_space)
    t0 = time.perf_counter()
    targets, preds = make_case(space, args.images, args.seed)
    num_gt = sum(int(t.verbs.sum()) for t in targets)
    print(f"case: {len(targets)} images, {space.num_interactions} classes, {num_gt} ground-truth "
          f"instances, {sum(len(p) for p in preds)} triplets (built in "
          f"{time.perf_counter() - t0:.1f} s), torch threads {torch.get_num_threads()}\n")
    ref = None if args.skip_loop else load_loop_reference()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print("times: wall / CPU seconds\n")
    print("| protocol | evaluator | set-up | process | match + AP | total | mAP (%) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for protocol in args.protocols:
        res, (t_gt, t_proc, t_eval) = run_ours(targets, preds, space, protocol)
        print(f"| {protocol} | openhoi | {t_gt} | {t_proc} | {t_eval} | "
              f"{total(t_gt, t_proc, t_eval)} | {100 * res['mAP']:.4f} |", flush=True)
        if ref is None:
            continue
        aps, (t_setup, t_match) = run_loop(ref, targets, preds, space, protocol)
        ours = res["per_class"]["ap"]
        same = all(ours[c] == v for c, v in aps.items()) and len(aps) == sum(
            v is not None for v in ours)
        ref_map = float(np.mean([aps[c] for c in sorted(aps)]))
        print(f"| {protocol} | loop reference | {t_setup} | - | {t_match} | "
              f"{total(t_setup, t_match)} | {100 * ref_map:.4f} |", flush=True)
        if not same or abs(ref_map - res["mAP"]) > 1e-12:
            raise SystemExit(f"MISMATCH ({protocol}): per-class APs equal: {same}, "
                             f"mAP {res['mAP']!r} vs {ref_map!r}")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    if ref is not None:
        print("per-class APs identical (bit for bit) and mAP equal for every protocol")


if __name__ == "__main__":
    main()
