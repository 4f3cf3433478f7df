"""Where the inference forward's time goes: torch.profiler totals per module, and top operators.

Each listed submodule's forward is wrapped in a ``record_function`` range (forward pre/post
hooks), so the profiler's self/total CPU time is reported per module, next to its FLOPs
(``infer_measure.count_flops`` per module). Same models and inputs as ``bench_infer.py``.

    bash scripts/env.sh python benchmarks/profile_infer.py --arch hoiclip --size 800x1200
    bash scripts/env.sh python benchmarks/profile_infer.py --impl openhoi-module --threads 1
"""

from __future__ import annotations

import argparse

import torch
from bench_infer import build, make_batch, time_calls
from infer_measure import CUSTOM_FLOPS, count_flops
from torch import nn
from torch.autograd.profiler import record_function
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

MODULES = ("detector.backbone", "detector.input_proj", "detector.position_encoding",
           "detector.encoder", "detector.instance_decoder", "detector.h_box_head",
           "detector.o_box_head", "detector.obj_classifier", "clip", "head", "zero_shot")


def label_modules(model: nn.Module, names: tuple[str, ...]) -> list:
    """Wrap each named submodule's forward in a profiler range; returns the hook handles."""
    handles = []
    for name in names:
        try:
            module = model.get_submodule(name)
        except AttributeError:
            continue
        stack: list = []

        def pre(mod, args, name=name, stack=stack):
            stack.append(record_function(f"## {name}"))
            stack[-1].__enter__()

        def post(mod, args, out, stack=stack):
            stack.pop().__exit__(None, None, None)

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    return handles


def module_flops(model: nn.Module, batch, names: tuple[str, ...]) -> dict[str, int]:
    """FLOPs per named submodule (``FlopCounterMode``'s per-module tally, keyed
    ``<RootClass>.<name>``)."""
    counter = FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS)
    with counter:
        model(batch)
    per_module = counter.get_flop_counts()
    root = type(model).__name__
    return {name: int(sum(per_module.get(f"{root}.{name}", {}).values())) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="hoiclip", choices=["hoiclip", "gen_vlkt"])
    parser.add_argument("--impl", default="openhoi", choices=["openhoi", "openhoi-module"])
    parser.add_argument("--size", default="800x1200")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--ops", type=int, default=15, help="top operators to list")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    model, reads_extras = build(args.arch, device)
    if args.impl == "openhoi":
        from openhoi.models.detr.inference import inference_model

        model = inference_model(model, clip_extras=reads_extras)
    h, w = (int(x) for x in args.size.split("x"))
    batch = make_batch(h, w, device)
    with torch.inference_mode():
        total = min(time_calls(lambda: model(batch), device, 1, 3))
        flops = module_flops(model, batch, MODULES)
        total_flops = count_flops(lambda: model(batch))
        handles = label_modules(model, MODULES)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model(batch)
        for hnd in handles:
            hnd.remove()
    events = {e.key: e for e in prof.key_averages()}
    profiled = sum(e.self_cpu_time_total for e in events.values()) / 1e6
    print(f"{args.impl} {args.arch} {h}x{w}, {torch.get_num_threads()} threads: forward "
          f"{total:.3f} s (best of 3, unprofiled), {total_flops / 1e9:.1f} GFLOPs\n")
    print("| module | time (s) | share | GFLOPs | GFLOP/s |\n|---|---|---|---|---|")
    for name in MODULES:
        e = events.get(f"## {name}")
        if e is None:
            continue
        t = e.cpu_time_total / 1e6
        print(f"| {name} | {t:.3f} | {t / profiled:.0%} | {flops[name] / 1e9:.2f} | "
              f"{flops[name] / 1e9 / t:.1f} |")
    print(f"\ntop operators by self CPU time (profiled forward {profiled:.3f} s):")
    ops = sorted((e for k, e in events.items() if not k.startswith("## ")),
                 key=lambda e: -e.self_cpu_time_total)[:args.ops]
    for e in ops:
        print(f"  {e.key:<48} {e.self_cpu_time_total / 1e6:7.3f} s  x{e.count}")


if __name__ == "__main__":
    main()
