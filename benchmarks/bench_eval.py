"""Evaluator speed at full test scale, against loop implementations of the same protocols.

End to end (first table): the whole ``openhoi evaluate`` command, a fresh process reading a
test_hico.json-style file and a GEN-VLKT-style predictions json (9,658 images x 100 triplets),
against GEN-VLKT's evaluator re-written from its code (``gen_vlkt_evaluator.py``: ``json.load``
of both files, the set-up of ``HICOEvaluator.__init__``, its matching and AP); per-class APs
must be equal, bit for bit.

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

Times are wall / CPU seconds (of the command's process for the whole command): on a shared
machine CPU time is the stabler one.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from eval_cases import make_hico_case, make_vcoco_case
from gen_vlkt_evaluator import GenVLKTEvaluator
from gen_vlkt_evaluator import load as gen_vlkt_load

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


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def annotation_file(targets, space) -> list[dict]:
    """test_hico.json records of the case (COCO object ids, verb ids, entries in file order)."""
    out = []
    for t in targets:
        labels = t.labels.tolist()
        pairs = t.pair_idx.tolist()
        out.append({"file_name": t.image_id,
                    "annotations": [{"bbox": b, "category_id": space.object_ids[c]}
                                    for b, c in zip(t.boxes_xyxy.tolist(), labels)],
                    "hoi_annotation": [{"subject_id": pairs[r][0], "object_id": pairs[r][1],
                                        "category_id": space.verb_ids[v]}
                                       for r, v in t.hoi_entries.tolist()]})
    return out


def bench_end_to_end(args, space) -> None:
    targets, preds = make_hico_case(space, args.images, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        gt_path, pred_path = Path(tmp) / "test_hico.json", Path(tmp) / "preds.json"
        gt_path.write_text(json.dumps(annotation_file(targets, space)))
        write_gen_vlkt_predictions(pred_path, preds)
        size = pred_path.stat().st_size / 2**20
        print(f"End to end, python protocol: {len(targets)} images, "
              f"{sum(len(p) for p in preds)} triplets; predictions {size:.0f} MB (GEN-VLKT "
              f"records), ground truth {gt_path.stat().st_size / 2**20:.1f} MB\n")
        cmd = [sys.executable, "-m", "openhoi", "evaluate", "--dataset", "hicodet",
               "--annotations", str(gt_path), "--predictions", str(pred_path),
               "--output", str(Path(tmp) / "ours.json")]
        rows = []
        for _ in range(args.repeat):
            load = os.getloadavg()[0]
            child = resource.getrusage(resource.RUSAGE_CHILDREN)
            with Clock() as c_ours:
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            c_ours.cpu = (after.ru_utime + after.ru_stime) - (child.ru_utime + child.ru_stime)
            rows.append(("openhoi evaluate (whole command)", c_ours, load))
        ours = json.loads((Path(tmp) / "ours.json").read_text())["per_class"]["ap"]
        if not args.skip_loop:
            load = os.getloadavg()[0]
            with Clock() as c_load:
                annotations, results = gen_vlkt_load(gt_path, pred_path)
            with Clock() as c_setup:
                ref = GenVLKTEvaluator(annotations, results, space)
            with Clock() as c_dump:
                ref.dump(Path(tmp) / "results.json")
            with Clock() as c_match:
                aps = ref.evaluate()
            c_ref = Clock()
            c_ref.wall = c_load.wall + c_setup.wall + c_match.wall
            c_ref.cpu = c_load.cpu + c_setup.cpu + c_match.cpu
            c_all = Clock()
            c_all.wall, c_all.cpu = c_ref.wall + c_dump.wall, c_ref.cpu + c_dump.cpu
            rows.append(("GEN-VLKT evaluator: load + set-up + match", c_ref, load))
            rows.append(("... and the results file its `__init__` writes", c_all, load))
            same = all(ours[c] == v for c, v in aps.items()) and len(aps) == sum(
                v is not None for v in ours)
            if not same:
                raise SystemExit("MISMATCH (end to end): per-class APs differ")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores\n")
    print("| evaluator | wall (s) | CPU (s) | load (1 min) |")
    print("|---|---:|---:|---:|")
    for name, c, load in rows:
        print(f"| {name} | {c.wall:.2f} | {c.cpu:.2f} | {load:.2f} |")
    if not args.skip_loop:
        ours = [c for name, c, _ in rows if name.startswith("openhoi")]
        wall, cpu = min(c.wall for c in ours), min(c.cpu for c in ours)
        print(f"\nGEN-VLKT: load {c_load}, set-up {c_setup}, results file {c_dump}, match + AP "
              f"{c_match} (wall / CPU s)")
        print(f"speed-up: {c_ref.wall / wall:.1f}x wall, {c_ref.cpu / cpu:.1f}x CPU without "
              f"the results file; {c_all.wall / wall:.1f}x wall, {c_all.cpu / cpu:.1f}x CPU "
              "with it (best openhoi run); per-class APs identical, bit for bit\n", flush=True)


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
    parser.add_argument("--only-e2e", action="store_true", help="only the end-to-end table")
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end table")
    parser.add_argument("--repeat", type=int, default=2, help="openhoi end-to-end runs")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores, torch "
          f"threads {torch.get_num_threads()}; times: wall / CPU seconds\n")
    if args.images and not args.no_e2e:
        bench_end_to_end(args, load_label_space("hicodet"))
    if args.only_e2e:
        return
    if args.protocols and args.images:
        bench_hico(args, load_label_space("hicodet"))
    if args.vcoco_images:
        bench_vcoco(args, load_label_space("vcoco"))
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
