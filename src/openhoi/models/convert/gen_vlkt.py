"""GEN-VLKT checkpoints (YueLiao/gen-vlkt ``models/gen_vlkt.py`` + ``models/gen.py``; also the
copy in Artanic30/HOICLIP ``models/models_gen``, which additionally saves CLIP).

Key map (reference -> openhoi), besides the detector and classifiers of ``common``:

=========================================================  ====================================
``transformer.interaction_decoder.layers.N``               ``head.decoder.layers.N`` (GEN's
  (``multihead_attn`` -> ``cross_attn``, rest as named)      guided-embedding decoder)
``transformer.interaction_decoder.norm``                   ``head.decoder.norm``
``hoi_class_fc.0`` / ``.1``                                ``head.embed.0`` / ``.1``
``logit_scale``                                            ``head.logit_scale``
``(eval_)visual_projection``                               ``head.classifier``
``clip_model.*`` (HOICLIP's copy only)                     ``clip.model.*``
=========================================================  ====================================

YueLiao/gen-vlkt loads CLIP only to initialise the classifiers and deletes it: its checkpoints
hold no CLIP. openhoi's model keeps CLIP for the zero-shot scores and the mimic loss, so the
conversion needs the CLIP file the model was trained with (``--clip-weights``); GEN-VLKT's own
outputs (boxes, object and interaction logits) do not depend on it.
"""

from __future__ import annotations

from typing import Any

import torch

from openhoi.errors import CheckpointError
from openhoi.label_space import LabelSpace
from openhoi.models.convert import common
from openhoi.models.convert.infer import infer_detector, set_dotted
from openhoi.models.convert.mapping import Rule, TensorMap, apply_rules
from openhoi.models.convert.reader import ReferenceCheckpoint
from openhoi.models.convert.report import ConversionReport

ARCHITECTURE = "gen_vlkt"
SIGNATURE = "transformer.interaction_decoder.layers.0.multihead_attn.in_proj_weight"

RULES: list[Rule] = [
    *common.DETECTOR_RULES,
    (r"transformer\.interaction_decoder\.layers\.(\d+)\.multihead_attn\.(.+)",
     r"head.decoder.layers.\1.cross_attn.\2"),
    (r"transformer\.interaction_decoder\.(.+)", r"head.decoder.\1"),
    (r"hoi_class_fc\.([01])\.(weight|bias)", r"head.embed.\1.\2"),
    *common.CLIP_RULES,
]

IGNORE: list[Rule] = list(common.COMMON_IGNORE)


def check_layout(ckpt: ReferenceCheckpoint) -> None:
    if ckpt.has("transformer.clip_interaction_decoder.layers.0.linear1.weight"):
        raise CheckpointError(f"{ckpt.path}: this is a HOICLIP checkpoint (it has "
                              "transformer.clip_interaction_decoder): use --from hoiclip")
    if not ckpt.has(SIGNATURE) or not ckpt.has("hoi_class_fc.0.weight"):
        hint = (" (it looks like DEFR: use --from defr)"
                if ckpt.has("visual_encoder.visual.conv1.weight") else "")
        raise CheckpointError(f"{ckpt.path}: not a GEN-VLKT checkpoint: no {SIGNATURE} or "
                              f"hoi_class_fc.0.weight{hint}")
    if not ckpt.has("visual_projection.weight"):
        raise CheckpointError(f"{ckpt.path}: GEN-VLKT without --with_clip_label (no "
                              "visual_projection) is not supported")


interaction_rows = common.interaction_rows


def verb_rows(ckpt: ReferenceCheckpoint) -> tuple[str, int] | None:
    return None


def has_clip(ckpt: ReferenceCheckpoint) -> bool:
    return ckpt.has("clip_model.visual.proj")


def settings(ckpt: ReferenceCheckpoint, report: ConversionReport,
             clip_file_state: dict | None = None, clip_file: str | None = None
             ) -> dict[str, Any]:
    """Nested config values of the GEN-VLKT model (shapes, then ``args``).

    Args:
        clip_file_state: CLIP state dict read from ``--clip-weights`` (needed when the
            checkpoint holds no CLIP).
        clip_file: its path, for messages.
    """
    tree: dict[str, Any] = {"model": {"architecture": ARCHITECTURE,
                                      "detector": infer_detector(ckpt, report)}}
    if has_clip(ckpt):
        arch = common.clip_arch(common.clip_state(ckpt), "clip_model.*", ckpt, report)
    elif clip_file_state is not None:
        arch = common.clip_arch(clip_file_state, str(clip_file), ckpt, report)
    else:
        raise CheckpointError(
            f"{ckpt.path}: GEN-VLKT checkpoints hold no CLIP (models/gen_vlkt.py deletes it "
            "after initialising the classifiers); pass the CLIP file the model was trained "
            f"with: --clip-weights ViT-B-32.pt (args.clip_model={ckpt.arg('clip_model')!r})")
    set_dotted(tree, "model.clip.arch", arch)
    embed_dim = ckpt.shape("hoi_class_fc.0.weight")[0]
    vis_proj = common.clip_state(ckpt).get("visual.proj") if has_clip(ckpt) else (
        clip_file_state or {}).get("visual.proj")
    if vis_proj is not None and vis_proj.shape[1] != embed_dim:
        raise CheckpointError(f"{ckpt.path}: hoi_class_fc.0.weight maps to a {embed_dim}-d CLIP "
                              f"space but CLIP {arch} embeds in {vis_proj.shape[1]} dimensions")
    cls = common.interaction_classifier_key(ckpt)
    set_dotted(tree, "model.interaction.classifier_bias",
               report.infer("model.interaction.classifier_bias", ckpt.has(f"{cls}.bias"),
                            f"presence of {cls}.bias"))
    if ckpt.arg("fix_clip") is not None:
        set_dotted(tree, "model.freeze_text_classifiers",
                   report.infer("model.freeze_text_classifiers", bool(ckpt.arg("fix_clip")),
                                "args.fix_clip"))
    if ckpt.arg("with_mimic") is not None:
        coef = float(ckpt.arg("mimic_loss_coef", 0.0)) if ckpt.arg("with_mimic") else 0.0
        set_dotted(tree, "model.interaction.mimic_loss_coef",
                   report.infer("model.interaction.mimic_loss_coef", coef,
                                "args.with_mimic / mimic_loss_coef"))
    return tree


def gather(ckpt: ReferenceCheckpoint, space: LabelSpace, report: ConversionReport,
           clip_file: str | None = None) -> tuple[TensorMap, dict[str, str]]:
    """Every tensor of the openhoi model from ``ckpt``, and the keys derived instead."""
    out = TensorMap()
    common.object_classifier(ckpt, space, out, report)
    common.interaction_classifier(ckpt, out)
    apply_rules(ckpt, out, RULES, IGNORE)
    derived = {"zero_shot.text_embed": common.ZERO_SHOT_TEXT}
    if not has_clip(ckpt):
        derived["clip.model.*"] = f"CLIP weights from {clip_file} (not in GEN-VLKT checkpoints)"
    elif any(v.dtype == torch.float16 for k, v in ckpt.state.items() if k.startswith("clip_")):
        report.notes.append("CLIP is stored in float16; it is loaded in float32")
    return out, derived
