"""HOICLIP checkpoints (Artanic30/HOICLIP, ``models/models_hoiclip/hoiclip.py`` + ``gen.py``).

Key map (reference -> openhoi), besides the detector and classifiers of ``common``:

- ``transformer.queries2spacial_proj`` / ``_norm`` -> ``head.query_builder.proj`` / ``.norm``
  (Q_inter, eq. 4);
- ``transformer.obj_class_fc`` / ``obj_class_ln`` -> ``head.memory_proj.proj`` / ``.norm``
  (V_d', eq. 3);
- ``transformer.clip_interaction_decoder.layers.N`` -> ``head.decoder.layers.N`` (eq. 5):
  ``self_attn``/``norm1`` -> ``self_attn``/``norm_self``; ``multihead_attn``/``norm2``, shared
  by the V_s and V_d' cross-attentions -> ``clip_attn``/``norm_clip`` (shared mode);
  ``linear1/2``/``norm3`` -> ``linear1/2``/``norm_ffn``; ``...clip_interaction_decoder.norm``
  -> ``head.decoder.norm``;
- ``logit_scale`` -> ``head.logit_scale``; ``(eval_)visual_projection`` -> ``head.classifier``
  (eq. 9);
- ``inter2verb.layers.N`` -> ``head.verb_adapter.mlp.layers.N`` (eq. 7); ``verb_projection``
  -> ``head.verb_adapter.verb_classifier`` (E_v); ``verb2hoi_proj(_eval)`` ->
  ``head.verb_adapter.verb_to_interaction``;
- ``clip_model.*`` -> ``clip.model.*`` (OpenAI's key layout is open_clip's).

Built by the reference but never used by its forward (ignored): ``hoi_class_fc``,
``transformer.interaction_decoder`` (GEN-VLKT's), ``transformer.inter_guided_embedd``, the
fusion layers' ``norm4``. The zero-shot text embeddings (``transformer.hoi_cls``) and CLIP's
visual projection copy (``clip_visual_proj``) are plain attributes, not saved: the first is
recomputed from CLIP's text tower, the second is CLIP's own ``visual.proj``.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from openhoi.errors import CheckpointError
from openhoi.label_space import LabelSpace
from openhoi.models.convert import common
from openhoi.models.convert.infer import infer_detector, set_dotted
from openhoi.models.convert.mapping import Rule, TensorMap, apply_rules
from openhoi.models.convert.reader import ReferenceCheckpoint
from openhoi.models.convert.report import ConversionReport

ARCHITECTURE = "hoiclip"
SIGNATURE = "transformer.clip_interaction_decoder.layers.0.multihead_attn.in_proj_weight"
DECODER = "transformer.clip_interaction_decoder.layers."

RULES: list[Rule] = [
    *common.DETECTOR_RULES,
    (r"transformer\.queries2spacial_proj\.(weight|bias)", r"head.query_builder.proj.\1"),
    (r"transformer\.queries2spacial_proj_norm\.(weight|bias)", r"head.query_builder.norm.\1"),
    (r"transformer\.obj_class_fc\.(weight|bias)", r"head.memory_proj.proj.\1"),
    (r"transformer\.obj_class_ln\.(weight|bias)", r"head.memory_proj.norm.\1"),
    (r"transformer\.clip_interaction_decoder\.layers\.(\d+)\.multihead_attn\.(.+)",
     r"head.decoder.layers.\1.clip_attn.\2"),
    (r"transformer\.clip_interaction_decoder\.layers\.(\d+)\.norm1\.(.+)",
     r"head.decoder.layers.\1.norm_self.\2"),
    (r"transformer\.clip_interaction_decoder\.layers\.(\d+)\.norm2\.(.+)",
     r"head.decoder.layers.\1.norm_clip.\2"),
    (r"transformer\.clip_interaction_decoder\.layers\.(\d+)\.norm3\.(.+)",
     r"head.decoder.layers.\1.norm_ffn.\2"),
    (r"transformer\.clip_interaction_decoder\.layers\.(\d+)\.(self_attn|linear1|linear2)\.(.+)",
     r"head.decoder.layers.\1.\2.\3"),
    (r"transformer\.clip_interaction_decoder\.norm\.(weight|bias)", r"head.decoder.norm.\1"),
    (r"inter2verb\.(.+)", r"head.verb_adapter.mlp.\1"),
    (r"verb_projection\.weight", "head.verb_adapter.verb_classifier.weight"),
    *common.CLIP_RULES,
]

IGNORE: list[Rule] = [
    *common.COMMON_IGNORE,
    (r"hoi_class_fc\..+", "built by HOICLIP, unused by its forward with --with_clip_label"),
    (r"transformer\.interaction_decoder\..+",
     "GEN-VLKT's interaction decoder: built by HOICLIP's GEN, unused by its forward"),
    (r"transformer\.inter_guided_embedd\.weight", "built by HOICLIP's GEN, unused by its forward"),
    (r"transformer\.clip_interaction_decoder\.layers\.\d+\.norm4\..+",
     "built by TransformerDecoderFusionLayer, unused by its forward"),
]


def check_layout(ckpt: ReferenceCheckpoint) -> None:
    if not ckpt.has(SIGNATURE):
        hint = (" (it looks like GEN-VLKT: use --from gen-vlkt)"
                if ckpt.has("transformer.interaction_decoder.layers.0.linear1.weight")
                else " (it looks like DEFR: use --from defr)"
                if ckpt.has("visual_encoder.visual.conv1.weight") else "")
        raise CheckpointError(f"{ckpt.path}: not a HOICLIP checkpoint: no {SIGNATURE}{hint}")
    if not ckpt.has("clip_model.visual.proj"):
        raise CheckpointError(f"{ckpt.path}: HOICLIP checkpoints hold CLIP as clip_model.*, "
                              "this one has no clip_model.visual.proj")


interaction_rows = common.interaction_rows


def verb_rows(ckpt: ReferenceCheckpoint) -> tuple[str, int] | None:
    key = "verb_projection.weight"
    return (key, ckpt.shape(key)[0]) if ckpt.has(key) else None


def settings(ckpt: ReferenceCheckpoint, report: ConversionReport,
             clip_file_state: dict | None = None, clip_file: str | None = None
             ) -> dict[str, Any]:
    """Nested config values of the HOICLIP model (shapes, then ``args``). HOICLIP
    checkpoints hold their CLIP: a CLIP file is not used."""
    if clip_file is not None:
        report.notes.append(f"--clip-weights {clip_file} not used: the checkpoint holds CLIP")
    tree: dict[str, Any] = {"model": {"architecture": ARCHITECTURE,
                                      "detector": infer_detector(ckpt, report)}}

    def put(key: str, value: Any, origin: str) -> None:
        set_dotted(tree, key, report.infer(key, value, origin))

    set_dotted(tree, "model.clip.arch",
               common.clip_arch(common.clip_state(ckpt), "clip_model.*", ckpt, report))
    put("model.interaction.num_layers", ckpt.count(DECODER), f"count of {DECODER}N")
    put("model.interaction.dim_feedforward", ckpt.shape(f"{DECODER}0.linear1.weight")[0],
        f"shape of {DECODER}0.linear1.weight")
    put("model.interaction.shared_cross_attention", True,
        "TransformerDecoderFusionLayer shares multihead_attn and norm2 between V_s and V_d'")
    put("model.interaction.mask_detector_padding", False,
        "the reference's V_d' cross-attention has no padding mask")
    cls = common.interaction_classifier_key(ckpt)
    put("model.interaction.classifier_bias", ckpt.has(f"{cls}.bias"), f"presence of {cls}.bias")
    has_adapter = ckpt.has("verb_projection.weight")
    put("model.interaction.verb_adapter", has_adapter, "presence of verb_projection")
    if has_adapter:
        put("model.interaction.verb_adapter_layers", ckpt.count("inter2verb.layers."),
            "count of inter2verb.layers.N")
    for name, key, convert in (("nheads", "model.interaction.num_heads", int),
                               ("dropout", "model.interaction.dropout", float),
                               ("verb_weight", "model.interaction.verb_weight", float)):
        if ckpt.arg(name) is not None:
            put(key, convert(ckpt.arg(name)), f"args.{name}")
    if ckpt.arg("fix_clip") is not None:
        put("model.freeze_text_classifiers", bool(ckpt.arg("fix_clip")), "args.fix_clip")
        put("model.clip.trainable", not ckpt.arg("fix_clip"), "args.fix_clip")
        if not ckpt.arg("fix_clip"):
            report.notes.append(
                "trained without --fix_clip: HOICLIP projects O_inter with a copy of CLIP's "
                "visual.proj and scores S_zs with text embeddings, both taken from CLIP at "
                "start-up and not saved; openhoi uses the saved (fine-tuned) CLIP for both, so "
                "interaction logits and S_zs can differ from the reference's")
    if ckpt.arg("with_mimic") is not None:
        coef = float(ckpt.arg("mimic_loss_coef", 0.0)) if ckpt.arg("with_mimic") else 0.0
        put("model.interaction.mimic_loss_coef", coef, "args.with_mimic / mimic_loss_coef")
    return tree


def _verb_to_interaction(ckpt: ReferenceCheckpoint, space: LabelSpace, out: TensorMap,
                         report: ConversionReport, use: Literal["checkpoint", "label_space"]
                         ) -> None:
    """``verb2hoi_proj_eval`` (zero-shot) or ``verb2hoi_proj``, compared with the label space.

    HOICLIP's V-COCO matrix differs from the label space's: ``hoiclip.py`` sets
    ``verb2hoi_proj[verb][obj] = 1`` over ``vcoco_hoi_text_label``'s (verb, object) keys, so
    verb v's score lands in the column numbered like the object, not in the (v, o)
    interaction's. ``use="checkpoint"`` keeps the released matrix (outputs equal the
    reference's); ``use="label_space"`` puts the label space's in its place.
    """
    name = "verb2hoi_proj_eval" if ckpt.has("verb2hoi_proj_eval") else "verb2hoi_proj"
    if name == "verb2hoi_proj_eval" and ckpt.has("verb2hoi_proj"):
        out.ignore("verb2hoi_proj", "training copy of verb2hoi_proj_eval (its seen-interaction "
                   "columns under --del_unseen)")
    if not ckpt.has(name):
        raise CheckpointError(f"{ckpt.path}: HOICLIP model with verb_projection but no {name}")
    theirs = ckpt.state[name].float()
    ours = space.verb_to_interaction
    if theirs.shape != ours.shape:
        raise CheckpointError(f"{ckpt.path}: {name} has shape {list(theirs.shape)}, label space "
                              f"{space.name!r} needs {list(ours.shape)} (verbs x interactions)")
    differ = int((theirs != ours).sum())
    if differ:
        what = ("kept, so outputs match the reference (--verb-to-interaction label_space "
                "replaces it)" if use == "checkpoint" else
                "replaced by the label space's (--verb-to-interaction label_space): S_v now "
                "differs from the reference's")
        report.notes.append(f"{name} differs from the label space's verb->interaction matrix in "
                            f"{differ} entries; {what}")
    out.put("head.verb_adapter.verb_to_interaction", name,
            theirs if use == "checkpoint" else ours.clone())


def gather(ckpt: ReferenceCheckpoint, space: LabelSpace, report: ConversionReport,
           verb_to_interaction: Literal["checkpoint", "label_space"] = "checkpoint"
           ) -> tuple[TensorMap, dict[str, str]]:
    """Every tensor of the openhoi model from ``ckpt``, and the keys derived instead."""
    out = TensorMap()
    common.object_classifier(ckpt, space, out, report)
    common.interaction_classifier(ckpt, out)
    if ckpt.has("verb_projection.weight"):
        _verb_to_interaction(ckpt, space, out, report, verb_to_interaction)
    apply_rules(ckpt, out, RULES, IGNORE)
    if any(v.dtype == torch.float16 for k, v in ckpt.state.items() if k.startswith("clip_model.")):
        report.notes.append(
            "CLIP is stored in float16 (the reference ran CLIP in fp16 on GPU); it runs in "
            "float32 here (model.clip.precision): CLIP-dependent logits differ from the "
            "reference's by about 1e-4 (fp16 rounding), boxes and object logits do not")
    return out, {"zero_shot.text_embed": common.ZERO_SHOT_TEXT}
