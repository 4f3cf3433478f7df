"""Mapping pieces HOICLIP and GEN-VLKT share: the DETR-style detector, the text-initialised
object and interaction classifiers, and CLIP.

Both references name the detector the same way (GEN-VLKT's ``models/gen_vlkt.py`` and
``models/gen.py``, copied by HOICLIP): ``backbone.0.body`` (torchvision ResNet, frozen BN),
``input_proj``, ``transformer.encoder``, ``transformer.instance_decoder`` (DETR layers with
``multihead_attn`` for the cross-attention), ``query_embed_h/o`` + ``pos_guided_embedd`` (eq. 1
of GEN-VLKT), ``hum_bbox_embed`` / ``obj_bbox_embed`` (3-layer MLPs), and the CLIP object head
``obj_class_fc`` (Linear + LayerNorm) -> normalise -> ``obj_visual_projection`` times
``obj_logit_scale.exp()`` (or DETR's ``obj_class_embed``).
"""

from __future__ import annotations

from openhoi.errors import CheckpointError
from openhoi.label_space import LabelSpace
from openhoi.models.clip.clip_loading import suggest_arch
from openhoi.models.convert.infer import clip_arch_from_args, object_rows
from openhoi.models.convert.mapping import Rule, TensorMap
from openhoi.models.convert.reader import ReferenceCheckpoint
from openhoi.models.convert.report import ConversionReport

DETECTOR_RULES: list[Rule] = [
    (r"backbone\.0\.body\.(.+)", r"detector.backbone.body.\1"),
    (r"input_proj\.(weight|bias)", r"detector.input_proj.\1"),
    (r"transformer\.encoder\.(.+)", r"detector.encoder.\1"),
    (r"transformer\.instance_decoder\.layers\.(\d+)\.multihead_attn\.(.+)",
     r"detector.instance_decoder.decoder.layers.\1.cross_attn.\2"),
    (r"transformer\.instance_decoder\.(.+)", r"detector.instance_decoder.decoder.\1"),
    (r"query_embed_h\.weight", "detector.instance_decoder.query_h.weight"),
    (r"query_embed_o\.weight", "detector.instance_decoder.query_o.weight"),
    (r"pos_guided_embedd\.weight", "detector.instance_decoder.pos_guided.weight"),
    (r"hum_bbox_embed\.(.+)", r"detector.h_box_head.\1"),
    (r"obj_bbox_embed\.(.+)", r"detector.o_box_head.\1"),
    (r"obj_class_fc\.0\.(weight|bias)", r"detector.obj_classifier.proj.\1"),
    (r"obj_class_fc\.1\.(weight|bias)", r"detector.obj_classifier.norm.\1"),
    (r"obj_logit_scale", "detector.obj_classifier.logit_scale"),
    (r"logit_scale", "head.logit_scale"),
]

CLIP_PREFIX = "clip_model."
CLIP_RULES: list[Rule] = [(r"clip_model\.(.+)", r"clip.model.\1")]

COMMON_IGNORE: list[Rule] = [
    (r".+\.num_batches_tracked", "BatchNorm step counter (frozen BatchNorm has none)"),
]

ZERO_SHOT_TEXT = ("CLIP text tower on the label space's interaction prompts; the reference "
                  "computes the same text embeddings at start-up (HOICLIP transformer.hoi_cls) "
                  "and does not save them")


def object_classifier(ckpt: ReferenceCheckpoint, space: LabelSpace, out: TensorMap,
                      report: ConversionReport) -> None:
    """The object classifier's rows in our order: objects, then our one extra column.

    HICO-DET models have ``O + 1`` rows (objects + no-object) like ours. V-COCO models have
    ``O + 2``: the references add a "missing object" class ``O`` for pairs without an object
    box (``vcoco_obj_text_label`` 80, 'a photo of a person only') before the no-object row
    ``O + 1``. openhoi's single extra column serves both (``PostProcessor``: object-less
    interactions read it), so it takes row ``O``, the column the reference scores object-less
    interactions with (``VCOCOEvaluator``: ``obj_scores[:, hoi_obj_list]`` with object index
    ``O``); row ``O + 1`` is dropped.
    """
    key, num_rows = object_rows(ckpt)
    name = key.rsplit(".", 1)[0]
    objects = space.num_objects
    if num_rows == objects + 1:
        index = list(range(objects + 1))
    elif num_rows == objects + 2 and space.objectless_interactions:
        index = list(range(objects)) + [objects]
        report.notes.append(
            f"{name}: {num_rows} rows = {objects} objects + 'missing object' (row {objects}) + "
            f"no-object (row {objects + 1}); openhoi's extra column takes row {objects}, the "
            "one the reference scores object-less interactions with, so triplet scores are "
            f"unchanged; row {objects + 1} is dropped (the predicted object label of a query is "
            f"then the best of the {objects} objects, never 'missing object')")
    else:
        raise CheckpointError(f"{ckpt.path}: {key} has {num_rows} rows; label space "
                              f"{space.name!r} needs {objects} objects + 1")
    for part in ("weight", "bias"):
        theirs = f"{name}.{part}"
        if ckpt.has(theirs):
            out.put(f"detector.obj_classifier.classifier.{part}", theirs,
                    ckpt.state[theirs][index])
    if name == "obj_class_embed" and ckpt.has("obj_logit_scale"):
        out.ignore("obj_logit_scale", "built always, used only with --with_obj_clip_label")


def interaction_classifier_key(ckpt: ReferenceCheckpoint) -> str:
    """``eval_visual_projection`` (zero-shot models: all interactions) or
    ``visual_projection``: the classifier the reference evaluates with."""
    return ("eval_visual_projection" if ckpt.has("eval_visual_projection.weight")
            else "visual_projection")


def interaction_rows(ckpt: ReferenceCheckpoint) -> tuple[str, int]:
    """The evaluation classifier's weight key and its number of rows (interaction classes):
    the same for both layouts."""
    key = f"{interaction_classifier_key(ckpt)}.weight"
    return key, ckpt.shape(key)[0]


def interaction_classifier(ckpt: ReferenceCheckpoint, out: TensorMap) -> None:
    """``head.classifier`` from the evaluation classifier; a zero-shot model's training
    classifier (seen interactions only, ``--del_unseen``) is ignored."""
    name = interaction_classifier_key(ckpt)
    for part in ("weight", "bias"):
        if ckpt.has(f"{name}.{part}"):
            out.put(f"head.classifier.{part}", f"{name}.{part}", ckpt.state[f"{name}.{part}"])
        if name == "eval_visual_projection" and ckpt.has(f"visual_projection.{part}"):
            out.ignore(f"visual_projection.{part}",
                       "training classifier over the seen interactions (--del_unseen); the "
                       "reference evaluates with eval_visual_projection")


def clip_state(ckpt: ReferenceCheckpoint) -> dict:
    """The reference's own CLIP (``clip_model.*``, OpenAI key layout) without its prefix."""
    return {k[len(CLIP_PREFIX):]: v for k, v in ckpt.state.items() if k.startswith(CLIP_PREFIX)}


def clip_arch(state: dict, where: str, ckpt: ReferenceCheckpoint,
              report: ConversionReport) -> str:
    """The open_clip architecture (QuickGELU: OpenAI weights) whose shapes fit ``state``,
    cross-checked with ``args.clip_model``."""
    fits = suggest_arch(state, quick_gelu=True)
    named = clip_arch_from_args(ckpt)
    if named is not None and named in fits:
        return report.infer("model.clip.arch", named, f"args.clip_model={ckpt.arg('clip_model')}"
                            f", fits the shapes of {where}")
    if not fits:
        raise CheckpointError(f"{ckpt.path}: the CLIP weights ({where}) fit no open_clip "
                              "architecture with QuickGELU")
    if named is not None:
        report.notes.append(f"args.clip_model={ckpt.arg('clip_model')} does not fit the CLIP "
                            f"shapes; using {fits[0]}")
    return report.infer("model.clip.arch", fits[0], f"shapes of {where}")
