"""Evaluator speed at full test scale, against loop implementations of the same protocols.

HICO-DET: a seeded synthetic test set the size of HICO-DET's (9,658 images, 600 interaction
classes, ~33k ground-truth instances, 100 scored triplets per image over 64 query pairs), with
annotation entries out of pair order and some listed twice.
``HICODetEvaluator`` is timed in its three stages (ground-truth set-up, ``process``,
``evaluate``) against the loop reference of ``tests/evaluation/loop_reference.py`` (per image,
per detection, per ground-truth pair, as GEN-VLKT's and the MATLAB code are written); both must
give the same per-class APs, bit for bit.

V-COCO: V-COCO-shaped official files (4,946 test images) and a GEN-VLKT-style vsrl_eval
pickle (64 detections per image, every action and role scored). Ours is timed at full size;
``tests/evaluation/vsrl_loop_reference.py`` on the first ``--vcoco-loop-images`` images,
where both must agree.

    bash scripts/env.sh python benchmarks/bench_eval.py
    bash scripts/env.sh python benchmarks/bench_eval.py --protocols python --images 2000 --skip-loop

Times are wall / CPU seconds of this process: on a shared machine CPU time is the stabler one.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from eval_cases import make_hico_case, make_vcoco_case

from openhoi.evaluation import (
    HICODetEvaluator,
    read_vcoco_ground_truth,
    read_vsrl_detections,
)
from openhoi.evaluation.prediction_files import (
    read_predictions,
    write_gen_vlkt_predictions,
    write_predictions,
)
from openhoi.evaluation.vcoco_ap import evaluate_vsrl
from openhoi.label_space import load_label_space

ROOT = Path(__file__).resolve().parents[1]


def load_test_module(name: str):
    path = ROOT / "tests" / "evaluation" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Clock:
    """Wall and CPU time of a block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall:.2f} / {self.cpu:.2f}"


def total(*clocks: Clock) -> str:
    return f"{sum(c.wall for c in clocks):.2f} / {sum(c.cpu for c in clocks):.2f}"


def to_loop_form(targets, preds, space):
    """Plain Python lists, as the reference codes hold their data (GEN-VLKT's set-up step)."""
    table = space.interaction_table.tolist()
    gts = []
    for t in targets:
        labels = t.labels.tolist()
        pairs = t.pair_idx.tolist()
        hois = [(pairs[r][0], pairs[r][1], table[v][labels[pairs[r][1]]])
                for r, v in t.hoi_entries.tolist()]  # annotation entries, file order, repeats
        gts.append((t.image_id, t.boxes_xyxy.tolist(), hois))
    ref_preds = {p.image_id: (p.boxes_xyxy.tolist(),
                              [(h, o, c, s) for (h, o), c, s in zip(p.pair_idx.tolist(),
                                                                     p.interactions.tolist(),
                                                                     p.scores.tolist())])
                 for p in preds}
    return gts, ref_preds


def bench_hico(args, space) -> None:
    with Clock() as c:
        targets, preds = make_hico_case(space, args.images, args.seed)
    num_gt = sum(len(t.hoi_entries) for t in targets)
    print(f"HICO-DET case: {len(targets)} images, {space.num_interactions} classes, {num_gt} "
          f"ground-truth instances, {sum(len(p) for p in preds)} triplets (built in "
          f"{c.wall:.0f} s)\n")
    ref = None if args.skip_loop else load_test_module("loop_reference")
    print("| protocol | evaluator | set-up | process | match + AP | total | mAP (%) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for protocol in args.protocols:
        with Clock() as c_gt:
            ev = HICODetEvaluator(targets, space, protocol=protocol)
        with Clock() as c_proc:
            ev.process(preds)
        with Clock() as c_eval:
            res = ev.evaluate()
        print(f"| {protocol} | openhoi | {c_gt} | {c_proc} | {c_eval} | "
              f"{total(c_gt, c_proc, c_eval)} | {100 * res['mAP']:.4f} |", flush=True)
        if ref is None:
            continue
        with Clock() as c_setup:
            gts, ref_preds = to_loop_form(targets, preds, space)
        fn = ref.hico_python if protocol == "python" else ref.hico_official
        with Clock() as c_match:
            aps = fn(gts, ref_preds, space.num_interactions)
        ref_map = float(np.mean([aps[c] for c in sorted(aps)]))
        print(f"| {protocol} | loop reference | {c_setup} | - | {c_match} | "
              f"{total(c_setup, c_match)} | {100 * ref_map:.4f} |", flush=True)
        ours = res["per_class"]["ap"]
        same = all(ours[c] == v for c, v in aps.items()) and len(aps) == sum(
            v is not None for v in ours)
        if not same or abs(ref_map - res["mAP"]) > 1e-12:
            raise SystemExit(f"MISMATCH ({protocol}): per-class APs equal: {same}, "
                             f"mAP {res['mAP']!r} vs {ref_map!r}")
    if ref is not None:
        print("\nper-class APs identical (bit for bit) and mAP equal for every protocol\n")
    if args.io:
        bench_io(preds, space)


def bench_io(preds, space) -> None:
    """Reading a full-size predictions file in each format (writing is not timed)."""
    print("| predictions file | size (MB) | read |")
    print("|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, write in (("openhoi .npz", "p.npz"), ("openhoi .jsonl", "p.jsonl"),
                            ("openhoi .json", "p.json"), ("GEN-VLKT / HOICLIP .json", "g.json")):
            path = Path(tmp) / write
            if name.startswith("GEN-VLKT"):
                write_gen_vlkt_predictions(path, preds)
            else:
                write_predictions(path, preds, space)
            with Clock() as c:
                back = read_predictions(path, space)
            assert len(back) == len(preds)
            print(f"| {name} | {path.stat().st_size / 2**20:.0f} | {c} |", flush=True)
            path.unlink()
    print()


def _same(x, y) -> bool:
    return (x is None and math.isnan(y)) or x == y


def bench_vcoco(args, space) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with Clock() as c:
            files = make_vcoco_case(space, args.vcoco_images, Path(tmp), args.seed)
        print(f"V-COCO case: {args.vcoco_images} images, {args.vcoco_images * 64} detections "
              f"(built in {c.wall:.0f} s)\n")
        with Clock() as c_read:
            gt = read_vcoco_ground_truth(*files[:3])
            det = read_vsrl_detections(files[3], gt)
        with Clock() as c_eval:
            res = evaluate_vsrl(gt, det)
        print("| V-COCO | images | read files | evaluate | AP_role #1 (%) | AP_role #2 (%) |")
        print("|---|---:|---:|---:|---:|---:|")
        print(f"| openhoi | {args.vcoco_images} | {c_read} | {c_eval} | "
              f"{100 * res['AP_role_scenario_1']:.4f} | {100 * res['AP_role_scenario_2']:.4f} |",
              flush=True)
        if args.skip_loop:
            return
        n = args.vcoco_loop_images
        keep = np.isin(det.image_ids, gt.image_ids[:n])
        (Path(tmp) / "sub.ids").write_text("\n".join(map(str, gt.image_ids[:n].tolist())))
        gt_n = read_vcoco_ground_truth(files[0], files[1], Path(tmp) / "sub.ids")
        with Clock() as c_ours:
            sub = type(det)(*(getattr(det, f)[keep] for f in (
                "image_ids", "person_boxes", "agent_scores", "role_scores", "role_boxes")))
            res_n = evaluate_vsrl(gt_n, sub)
        ref = load_test_module("vsrl_loop_reference")
        import pickle

        dets = [d for d in pickle.loads(files[3].read_bytes()) if d["image_id"] in
                set(gt.image_ids[:n].tolist())]
        with Clock() as c_ref:
            db, actions = ref.build_db(files[0], files[1], Path(tmp) / "sub.ids")
            agent, role = ref.evaluate(db, actions, dets)
        print(f"| openhoi | {n} | - | {c_ours} | {100 * res_n['AP_role_scenario_1']:.4f} | "
              f"{100 * res_n['AP_role_scenario_2']:.4f} |")
        ref_s1 = np.nanmean(np.array([role[s][0] for s in gt.slots], dtype=np.float32))
        ref_s2 = np.nanmean(np.array([role[s][1] for s in gt.slots], dtype=np.float32))
        print(f"| loop reference | {n} | - | {c_ref} | {100 * ref_s1:.4f} | {100 * ref_s2:.4f} |")
        pc = res_n["per_class"]
        same = all(_same(x, y) for x, y in zip(pc["agent"]["ap"], agent)) and all(
            _same(pc["role"][f"ap_scenario_{k + 1}"][j], role[s][k])
            for j, s in enumerate(gt.slots) for k in (0, 1))
        if not same:
            raise SystemExit("MISMATCH (V-COCO): per-class APs differ")
        print("\nV-COCO per-class agent and role APs identical to the loop reference")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=9658)
    parser.add_argument("--protocols", nargs="*", default=["python", "official"])
    parser.add_argument("--vcoco-images", type=int, default=4946, help="0 skips V-COCO")
    parser.add_argument("--vcoco-loop-images", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-loop", action="store_true", help="time only our evaluators")
    parser.add_argument("--io", action="store_true", help="also time reading prediction files")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores, torch "
          f"threads {torch.get_num_threads()}; times: wall / CPU seconds\n")
    if args.protocols and args.images:
        bench_hico(args, load_label_space("hicodet"))
    if args.vcoco_images:
        bench_vcoco(args, load_label_space("vcoco"))
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
