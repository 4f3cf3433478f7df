"""Training-step speed of HOICLIP and the GEN-VLKT baseline, ours and (optionally) the reference.

One training step = forward, criterion (Hungarian matching and every loss term), backward,
gradient clipping and the AdamW step, on the same batch of ``--batch`` images of ``--size``
with two annotated human-object pairs each. For each implementation, architecture and precision
(fp32, bf16 autocast) it prints the step time (min / median of ``--runs`` steps after
``--warmup`` untimed ones; the implementations take turns, step by step, so that the drifts of
a shared virtual machine, which reach 10% over a minute, hit both alike) and images per second,
with the CPU model and the load (the 1-minute load average when the block started, and the
cores other processes kept busy during it: on a shared machine that is the error bar). It also
counts the step's FLOPs (forward and backward, 2 per multiply-add,
``torch.utils.flop_counter``) and prints the achieved FLOP/s as a fraction of this machine's
matmul peak for the same dtype and thread count, measured in the same run: two implementations
that compute the same FLOPs can differ at most by how close each gets to that peak. ``--clock
cpu`` takes that fraction (and the peak) from CPU seconds, which a shared machine disturbs less
than wall time (use it with ``--threads 1``).

Each implementation runs in a process of its own (``step_process``), as it ships: openhoi's
keeps freed host memory for the next step as ``openhoi train`` does (``openhoi.host_memory``;
``OPENHOI_HOST_MEMORY=system`` turns that off), the reference's leaves glibc's malloc alone
(``--reference-host-memory reuse`` gives it openhoi's policy, to compare the code alone). The
table's "host memory" column says which.

Implementations (``--impls``):

* ``openhoi``: ``openhoi.engine.train.train_one_epoch``'s step: the recipe's model (random
  weights), its criterion and ``openhoi.engine.optim.build_optimizer`` (fused AdamW).
* ``reference``: the official model, criterion and optimiser from ``--reference-root DIR``
  (unmodified checkouts ``DIR/HOICLIP``, ``DIR/gen-vlkt``), built and frozen as their
  ``main.py`` does (``reference_models.build_reference_training``); HOICLIP's CLIP input is made
  outside the step, as their data loader does.

    bash scripts/env.sh python benchmarks/bench_train.py --reference-root /tmp/ref_perf
    bash scripts/env.sh python benchmarks/bench_train.py --archs hoiclip --size 512x640 --batch 2
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
from collections.abc import Callable

import torch
from bench_infer import DTYPES, RECIPES, to_pil
from infer_measure import (
    LoadMonitor,
    count_flops,
    machine_line,
    matmul_peak,
    native_bf16_cpu,
    timed,
    use_cpu_clock,
)
from step_process import StepProcess, serve, turns

from openhoi.config import load_config
from openhoi.engine.optim import build_optimizer
from openhoi.host_memory import apply_host_memory_env, set_host_memory
from openhoi.label_space import LabelSpace, load_label_space
from openhoi.models.build import architecture_entry, build_criterion, build_model
from openhoi.ops.boxes import box_xyxy_to_cxcywh
from openhoi.precision import outputs_to_float
from openhoi.structures import HOITargets, ImageBatch


def make_batch(space: LabelSpace, batch: int, h: int, w: int, pairs: int = 2
               ) -> tuple[ImageBatch, list[HOITargets]]:
    """``batch`` random images of ``h x w`` with ``pairs`` human-object pairs each (valid
    interactions of ``space``, boxes inside the image)."""
    g = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, h, w, generator=g)
    targets = []
    for b in range(batch):
        inter = torch.randint(space.num_interactions, (pairs,), generator=g)
        boxes, labels, verbs = [], [], torch.zeros(pairs, space.num_verbs)
        for k, i in enumerate(inter.tolist()):
            verb, obj = space.interactions[i]
            verbs[k, verb] = 1.0
            for label in (space.human_label, obj):
                lo = torch.rand(2, generator=g) * torch.tensor([w, h]) * 0.6
                size = (0.1 + 0.3 * torch.rand(2, generator=g)) * torch.tensor([w, h])
                boxes.append(torch.cat([lo, lo + size]))
                labels.append(label)
        targets.append(HOITargets(
            boxes_xyxy=torch.stack(boxes), labels=torch.tensor(labels),
            pair_idx=torch.arange(2 * pairs).view(pairs, 2), verbs=verbs,
            image_id=f"bench_{b}.jpg", size=(h, w), orig_size=(h, w)))
    batch_ = ImageBatch(images, torch.zeros(batch, h, w, dtype=torch.bool),
                        torch.tensor([[h, w]] * batch))
    return batch_, targets


def reference_targets(targets: list[HOITargets], space: LabelSpace, clip_input: torch.Tensor
                      ) -> list[dict]:
    """The same ground truth in their data loader's format (``datasets_gen/hico.py``: boxes
    cxcywh normalised, one row per pair with verb and interaction multi-hots)."""
    out = []
    for t, clip in zip(targets, clip_input):
        h, w = t.size
        scale = torch.tensor([w, h, w, h], dtype=torch.float32)
        hb, ob = t.pair_boxes_xyxy()
        objects = t.pair_object_labels(space.num_objects)
        hoi = torch.zeros(t.num_pairs, space.num_interactions)
        for k in range(t.num_pairs):
            for v in t.verbs[k].nonzero().flatten().tolist():
                hoi[k, space.interaction_index(v, int(objects[k]))] = 1.0
        out.append({
            "boxes": box_xyxy_to_cxcywh(t.boxes_xyxy) / scale, "labels": t.labels,
            "obj_labels": objects, "verb_labels": t.verbs, "hoi_labels": hoi,
            "sub_boxes": box_xyxy_to_cxcywh(hb) / scale,
            "obj_boxes": box_xyxy_to_cxcywh(ob) / scale,
            "clip_inputs": clip, "orig_size": torch.tensor([h, w]), "size": torch.tensor([h, w]),
            "filename": t.image_id})
    return out


def openhoi_step(arch: str, space: LabelSpace) -> Callable[..., float]:
    """One step of ``train_one_epoch`` for the recipe of ``arch`` with random weights."""
    config = load_config(RECIPES[arch])
    torch.manual_seed(0)
    e = 512  # ViT-B/32; random text embeddings and verb representations stand in
    model = build_model(
        config.model, space, pretrained=False,
        verb_repr=torch.randn(space.num_verbs, e),
        interaction_text=torch.randn(space.num_interactions, e),
        object_text=torch.randn(space.num_objects + 1, e)).train()
    criterion = build_criterion(config.model, space).train()
    optimizer = build_optimizer(model, config.train,
                                architecture_entry(config.model.architecture).group_lrs(
                                    config.model))
    params = [p for g in optimizer.param_groups for p in g["params"]]

    def step(images: ImageBatch, targets: list[HOITargets], autocast) -> float:
        num_pairs = max(sum(t.num_pairs for t in targets), 1)
        with autocast:
            raw = model(images)
        loss = sum(criterion(outputs_to_float(raw), targets, float(num_pairs)).values())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.train.clip_max_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss)

    return step


def autocast_for(dtype: str) -> contextlib.AbstractContextManager:
    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16)


def peak_flops(dtype: str, cache: dict[str, float]) -> float:
    """Best matmul FLOP/s of ``dtype`` with the run's threads (measured once per run)."""
    if dtype not in cache:
        cache[dtype] = matmul_peak(torch.device("cpu"), DTYPES[dtype])
    return cache[dtype]


def build_step(impl: str, arch: str, args: argparse.Namespace) -> Callable[[str], float]:
    """``step(dtype)`` of ``impl`` on the benchmark batch (the child's side)."""
    space = load_label_space("hicodet")
    h, w = (int(x) for x in args.size.lower().split("x"))
    images, targets = make_batch(space, args.batch, h, w)
    if impl == "openhoi":
        ours = openhoi_step(arch, space)
        return lambda dtype: ours(images, targets, autocast_for(dtype))
    from reference_models import build_reference_training

    ref = build_reference_training(arch, args.reference_root)
    clip = torch.zeros(args.batch, 3, 224, 224)
    if ref.clip_preprocess is not None:  # their loader: clip_preprocess(PIL image)
        pil = to_pil(images)
        clip = torch.stack([ref.clip_preprocess(pil)] * args.batch)
    samples = ref.nested(list(images.images))
    ref_targets = reference_targets(targets, space, clip)
    return lambda dtype: ref.step(samples, clip, ref_targets, autocast_for(dtype))


def worker(args: argparse.Namespace) -> None:
    """``--worker IMPL``: one implementation in this process, driven by the parent
    (``step_process``). openhoi's host memory is what ``openhoi train`` sets
    (``apply_host_memory_env``: keep freed memory unless ``OPENHOI_HOST_MEMORY=system``);
    the reference's is glibc's unless ``--reference-host-memory reuse``."""
    if args.worker == "openhoi":
        mode = apply_host_memory_env()
    else:
        mode = "reuse" if args.reference_host_memory == "reuse" and set_host_memory(
            "reuse") else None
    step = build_step(args.worker, args.archs[0], args)
    serve({"step": lambda dtype: dict(zip(("wall", "cpu"), timed(lambda: step(dtype)))),
           "flops": lambda dtype: {"flops": count_flops(lambda: step(dtype))},
           "memory": lambda _: {"host_memory": mode or "glibc"}})


def child_argv(impl: str, arch: str, args: argparse.Namespace) -> list[str]:
    argv = [__file__, "--worker", impl, "--archs", arch, "--size", args.size,
            "--batch", str(args.batch), "--reference-host-memory", args.reference_host_memory]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    if args.reference_root:
        argv += ["--reference-root", args.reference_root]
    return argv


def run_arch(arch: str, args: argparse.Namespace, monitor: LoadMonitor,
             peaks: dict[str, float]) -> list[str]:
    h, w = (int(x) for x in args.size.lower().split("x"))
    impls = [i for i in args.impls if i == "openhoi" or args.reference_root]
    if "reference" in impls:
        from reference_models import reference_dir

        if reference_dir(args.reference_root, arch) is None:
            print(f"reference {arch}: no checkout under {args.reference_root}, skipped")
            impls.remove("reference")
    procs = [StepProcess(child_argv(impl, arch, args)) for impl in impls]
    monitor.children = [p.pid for p in procs]
    memory = [p.call("memory")["host_memory"] for p in procs]  # the malloc policy it runs
    rows = []
    try:
        for dtype in args.dtypes:
            load = monitor.wait_quiet(args.max_load, args.max_wait)
            with monitor.block(torch.get_num_threads()) as block:
                walls, cpu_lists = turns(procs, dtype, args.warmup, args.runs)
                peak = peak_flops(dtype, peaks)
            for impl, proc, mem, times, cpus in zip(impls, procs, memory, walls, cpu_lists):
                flops = proc.call("flops", dtype)["flops"]
                best, med = min(times), statistics.median(times)
                seconds = min(cpus) if args.clock == "cpu" else best
                row = (f"| {impl} | {arch} | {args.batch} x {h}x{w} | {dtype} | "
                       f"{torch.get_num_threads()} | {mem} | "
                       f"{best:.2f} / {med:.2f} | "
                       f"{min(cpus):.2f} / {statistics.median(cpus):.2f} | "
                       f"{args.batch / med:.2f} | {flops / 1e9:.0f} | "
                       f"{flops / seconds / 1e9:.0f} / {peak / 1e9:.0f} = "
                       f"{100 * flops / seconds / peak:.0f}% | "
                       f"{load:.2f} / {block.others_cpu:.2f} |")
                print(row, flush=True)
                rows.append(row)
    finally:
        for p in procs:
            p.close()
        monitor.children = []
    return rows


HEADER = ("| impl | model | batch | dtype | threads | host memory | step min / median (s) "
          "| CPU s min / median | images/s (median) | GFLOP / step "
          "| GFLOP/s / matmul peak | load / others' cores |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", nargs="+", default=["hoiclip", "gen_vlkt"],
                        choices=sorted(RECIPES))
    parser.add_argument("--impls", nargs="+", default=["openhoi", "reference"],
                        choices=["openhoi", "reference"])
    parser.add_argument("--reference-root", default=None,
                        help="folder with the reference checkouts HOICLIP/ and gen-vlkt/; "
                             "without it the reference is skipped")
    parser.add_argument("--size", default="512x640", help="HxW of every image of the batch")
    parser.add_argument("--batch", type=int, default=2, help="images per step")
    parser.add_argument("--dtypes", nargs="+", default=None, choices=["fp32", "bf16"],
                        help="default: fp32, plus bf16 where the CPU computes it natively")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op CPU threads (default: torch's default)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="time behind the FLOP/s fraction (and its matmul peak): the best "
                             "wall step, or the best CPU seconds (one thread, shared machines)")
    parser.add_argument("--max-load", type=float, default=0.5,
                        help="wait before each block until the 1-minute load average, less this "
                             "process's share, is below this (0: never wait)")
    parser.add_argument("--max-wait", type=float, default=600.0,
                        help="seconds to wait for quiet before measuring anyway")
    parser.add_argument("--reference-host-memory", choices=["glibc", "reuse"], default="glibc",
                        help="malloc policy of the reference's process: glibc's own (as it "
                             "ships) or openhoi's (openhoi.host_memory), to compare the code "
                             "alone; openhoi's follows OPENHOI_HOST_MEMORY as its commands do")
    parser.add_argument("--worker", choices=["openhoi", "reference"], default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dtypes is None:
        args.dtypes = ["fp32"] + (["bf16"] if native_bf16_cpu()[0] else [])
    return args


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        worker(args)
        return
    if args.clock == "cpu":
        use_cpu_clock()
    monitor = LoadMonitor()
    print(machine_line(monitor) + f"; threads {torch.get_num_threads()}", flush=True)
    peaks: dict[str, float] = {}
    rows = [row for arch in args.archs for row in run_arch(arch, args, monitor, peaks)]
    print()
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    print("\n".join(rows))
    print(machine_line(monitor) + " (at the end)")


if __name__ == "__main__":
    main()
