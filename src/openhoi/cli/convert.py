"""Convert a released HOICLIP, GEN-VLKT, DEFR or EZ-HOI checkpoint into an openhoi checkpoint.

    openhoi convert --from hoiclip hoiclip_hico.pth hoiclip_hico.pt
    openhoi convert --from gen-vlkt gen-vlkt_s.pth gen-vlkt_s.pt --clip-weights ViT-B-32.pt
    openhoi convert --from defr DEFR-vitbp16-b4-lr75e6-65.62.pt defr_vitb16.pt
    openhoi convert --from ez-hoi ckpt_41940_12.pt ez_hoi_uv.pt --zero-shot uv \
        --prompts ez_prompts.pt \
        --descriptions hico_HOI_descrip.txt --difference-descriptions unseen_verb_diff.txt

The architecture (backbone, widths, layers, queries, CLIP model, input size, label space,
zero-shot split) is read from the tensor shapes and the run's saved ``args``; ``--set`` fixes
anything else.
Every tensor is accounted for: copied, derived (listed with how) or ignored (listed with why);
a tensor that fits nowhere, a missing one or a shape mismatch is an error naming it. OUT
(``.pt``, or ``.safetensors`` for weights + metadata only) loads in ``openhoi predict`` /
``evaluate`` without model flags.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", required=True,
                        choices=["hoiclip", "gen-vlkt", "defr", "ez-hoi"],
                        help="toolbox that wrote IN")
    parser.add_argument("input", metavar="IN", help="the released checkpoint (.pth)")
    parser.add_argument("output", metavar="OUT",
                        help="openhoi checkpoint to write (.pt; .safetensors: weights only)")
    parser.add_argument("--clip-weights", metavar="FILE",
                        help="CLIP file the model was trained with (OpenAI ViT-B-32.pt or a "
                             "state dict); needed for GEN-VLKT, whose checkpoints hold no CLIP")
    parser.add_argument("--label-space", metavar="NAME_OR_JSON",
                        help="label space (default: from the checkpoint's args or class counts)")
    parser.add_argument("--verb-to-interaction", choices=["checkpoint", "label_space"],
                        default="checkpoint",
                        help="HOICLIP's verb->interaction matrix: keep the released one (the "
                             "reference's outputs; default) or use the label space's")
    ez = parser.add_argument_group("EZ-HOI (inputs its checkpoints do not hold)")
    ez.add_argument("--prompts", metavar="FILE",
                    help="EZ-HOI's per-layer prompts txtcls_ctx_pt as a [depth, n, D] tensor "
                         "(not saved in its checkpoints; see the README)")
    ez.add_argument("--detections", metavar="JSON",
                    help="detections file the converted model reads its instances from "
                         "(default: the checkpoint's own DETR, detector.*)")
    ez.add_argument("--zero-shot", metavar="SPLIT",
                    help="zero-shot split the model was trained for (uv, rf_uc, nf_uc, uo)")
    ez.add_argument("--descriptions", metavar="FILE", help="hico_HOI_descrip.txt (or JSON)")
    ez.add_argument("--difference-descriptions", metavar="FILE",
                    help="zs_possibility/<split>_diff.txt (or JSON)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="config override applied last (repeatable)")
    parser.add_argument("--verbose", action="store_true", help="list every ignored/derived key")


def run(args: argparse.Namespace) -> int:
    from openhoi.errors import ConfigError
    from openhoi.models.convert import convert_checkpoint, save_converted

    names = ("prompts", "detections", "zero_shot", "descriptions", "difference_descriptions")
    given = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    if args.source != "ez-hoi" and given:
        raise ConfigError(f"--{next(iter(given)).replace('_', '-')} is for --from ez-hoi only")
    kwargs = ({k: getattr(args, k) for k in names} if args.source == "ez-hoi"
              else {"verb_to_interaction": args.verb_to_interaction})
    converted = convert_checkpoint(args.input, args.source, clip_weights=args.clip_weights,
                                   label_space=args.label_space, overrides=args.overrides,
                                   **kwargs)
    print("\n".join(converted.report.lines(verbose=args.verbose)))
    out = save_converted(converted, args.output)
    print(f"wrote {out} (label space {converted.label_space.fingerprint})")
    return 0
