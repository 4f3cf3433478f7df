"""Architecture settings read off a reference checkpoint: tensor shapes first, ``args`` second.

Shapes are definitive (``input_proj.weight [D, C, 1, 1]`` *is* the hidden width); the
checkpoint's ``args`` (its run's ``argparse.Namespace``) fills what shapes cannot tell (attention
heads, dilation, NMS settings, alpha of eq. 10); the shipped recipe gives the rest. Every value
is recorded in the ``ConversionReport`` with where it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from openhoi.errors import CheckpointError
from openhoi.label_space import LabelSpace, available_label_spaces, load_label_space
from openhoi.models.convert.reader import ReferenceCheckpoint
from openhoi.models.convert.report import ConversionReport
from openhoi.models.detr.backbone import RESNETS, Backbone

BACKBONE = "backbone.0.body."
ENCODER = "transformer.encoder.layers."
INSTANCE_DECODER = "transformer.instance_decoder.layers."

# --dataset_file of the references -> openhoi dataset / label space name.
DATASETS = {"hico": "hicodet", "vcoco": "vcoco"}

# --zero_shot_type of the references -> openhoi zero-shot split name (hicodet.json).
ZERO_SHOT_TYPES = {"rare_first": "rf_uc", "non_rare_first": "nf_uc", "unseen_object": "uo",
                   "unseen_verb": "uv", "uc0": "uc0", "uc1": "uc1", "uc2": "uc2", "uc3": "uc3",
                   "uc4": "uc4"}

# --clip_model of the references (OpenAI names) -> open_clip architecture.
CLIP_MODELS = {"ViT-B/32": "ViT-B-32-quickgelu", "ViT-B/16": "ViT-B-16-quickgelu",
               "ViT-L/14": "ViT-L-14-quickgelu", "ViT-L/14@336px": "ViT-L-14-336-quickgelu"}


def _truthy(v: Any) -> bool:
    return bool(v)


# (argument, dotted config keys, conversion): settings the shapes cannot tell.
ARGS_TO_CONFIG: list[tuple[str, tuple[str, ...], Callable[[Any], Any]]] = [
    ("nheads", ("model.detector.num_heads",), int),
    ("dropout", ("model.detector.dropout",), float),
    ("dilation", ("model.detector.dilation",), _truthy),
    ("use_nms_filter", ("model.postprocess.use_nms",), _truthy),
    ("thres_nms", ("model.postprocess.nms_threshold",), float),
    ("nms_alpha", ("model.postprocess.nms_alpha",), float),
    ("nms_beta", ("model.postprocess.nms_beta",), float),
    ("set_cost_obj_class", ("model.matcher.cost_obj_class",), float),
    ("set_cost_hoi", ("model.matcher.cost_interaction",), float),
    ("set_cost_bbox", ("model.matcher.cost_bbox",), float),
    ("set_cost_giou", ("model.matcher.cost_giou",), float),
    ("obj_loss_coef", ("model.loss.obj_ce",), float),
    ("hoi_loss_coef", ("model.loss.interaction",), float),
    ("bbox_loss_coef", ("model.loss.bbox",), float),
    ("giou_loss_coef", ("model.loss.giou",), float),
    ("eos_coef", ("model.loss.eos_coef",), float),
    ("alpha", ("model.loss.focal_alpha",), float),
    ("lr", ("train.lr",), float),
    ("lr_backbone", ("train.lr_backbone",), float),
    ("lr_clip", ("model.clip.lr",), float),
    ("weight_decay", ("train.weight_decay",), float),
    ("epochs", ("train.epochs",), int),
    ("lr_drop", ("train.lr_drop",), int),
    ("clip_max_norm", ("train.clip_max_norm",), float),
]


def set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def settings_from_args(ckpt: ReferenceCheckpoint, report: ConversionReport,
                       table: list[tuple[str, tuple[str, ...], Callable[[Any], Any]]]
                       ) -> dict[str, Any]:
    """Nested config overrides from the checkpoint's ``args`` (empty without ``args``)."""
    tree: dict[str, Any] = {}
    if ckpt.args is None:
        return tree
    for name, keys, convert in table:
        if name in ckpt.args and ckpt.args[name] is not None:
            value = convert(ckpt.args[name])
            for key in keys:
                set_dotted(tree, key, value)
                report.infer(key, value, f"args.{name}")
    return tree


def infer_backbone(ckpt: ReferenceCheckpoint) -> str:
    """The torchvision ResNet whose layer names and shapes are those of ``backbone.0.body.*``."""
    theirs = {k[len(BACKBONE):]: tuple(v.shape) for k, v in ckpt.state.items()
              if k.startswith(BACKBONE) and not k.endswith("num_batches_tracked")}
    if not theirs:
        raise CheckpointError(f"{ckpt.path}: no {BACKBONE}* tensors: not a DETR-style model")
    with torch.device("meta"):
        for name in RESNETS:
            ours = {k: tuple(v.shape) for k, v in Backbone(name).body.state_dict().items()}
            if ours == theirs:
                return name
    raise CheckpointError(f"{ckpt.path}: {BACKBONE}* matches none of {sorted(RESNETS)} "
                          f"({len(theirs)} tensors, conv1 {theirs.get('conv1.weight')})")


def infer_detector(ckpt: ReferenceCheckpoint, report: ConversionReport) -> dict[str, Any]:
    """``model.detector`` fields from shapes: backbone, widths, layer and query counts, heads."""
    src = "shape of {}".format
    d: dict[str, Any] = {}
    d["backbone"] = report.infer("model.detector.backbone", infer_backbone(ckpt),
                                 f"layers and shapes of {BACKBONE}*")
    d["hidden_dim"] = report.infer("model.detector.hidden_dim",
                                   ckpt.shape("input_proj.weight")[0], src("input_proj.weight"))
    key = f"{ENCODER}0.linear1.weight"
    d["dim_feedforward"] = report.infer("model.detector.dim_feedforward", ckpt.shape(key)[0],
                                        src(key))
    d["num_encoder_layers"] = report.infer("model.detector.num_encoder_layers",
                                           ckpt.count(ENCODER), f"count of {ENCODER}N")
    d["num_decoder_layers"] = report.infer("model.detector.num_decoder_layers",
                                           ckpt.count(INSTANCE_DECODER),
                                           f"count of {INSTANCE_DECODER}N")
    d["num_queries"] = report.infer("model.detector.num_queries",
                                    ckpt.shape("query_embed_h.weight")[0],
                                    src("query_embed_h.weight"))
    d["pre_norm"] = report.infer("model.detector.pre_norm",
                                 ckpt.has("transformer.encoder.norm.weight"),
                                 "presence of transformer.encoder.norm (DETR: pre-norm only)")
    clip_head = ckpt.has("obj_visual_projection.weight")
    d["obj_head"] = report.infer("model.detector.obj_head", "clip" if clip_head else "linear",
                                 "obj_visual_projection present" if clip_head
                                 else "obj_class_embed present")
    if clip_head:
        d["obj_head_bias"] = report.infer("model.detector.obj_head_bias",
                                          ckpt.has("obj_visual_projection.bias"),
                                          "presence of obj_visual_projection.bias")
    return d


def object_rows(ckpt: ReferenceCheckpoint) -> tuple[str, int]:
    """(weight key, rows) of the reference's object classifier (objects + extras)."""
    key = ("obj_visual_projection.weight" if ckpt.has("obj_visual_projection.weight")
           else "obj_class_embed.weight")
    return key, ckpt.shape(key)[0]


def _fits(space: LabelSpace, num_interactions: int, obj_rows: int, num_verbs: int | None) -> bool:
    extra = obj_rows - space.num_objects  # 1: no-object; 2: + V-COCO's "missing object" class
    objects_ok = extra == 1 or (extra == 2 and bool(space.objectless_interactions))
    verbs_ok = num_verbs is None or num_verbs == space.num_verbs
    return space.num_interactions == num_interactions and objects_ok and verbs_ok


def infer_label_space(ckpt: ReferenceCheckpoint, num_interactions: tuple[str, int],
                      num_verbs: tuple[str, int] | None, report: ConversionReport,
                      name: str | None = None) -> LabelSpace:
    """The label space of the checkpoint: ``name`` if given (checked against the shapes),
    else ``args.dataset_file``, else the one shipped space whose class counts fit.

    Args:
        num_interactions: (key, rows) of the interaction classifier.
        num_verbs: (key, rows) of the verb classifier, when the model has one.
    """
    obj_key, obj_rows = object_rows(ckpt)
    verbs = None if num_verbs is None else num_verbs[1]
    shapes = (f"{num_interactions[0]} has {num_interactions[1]} rows, {obj_key} {obj_rows}"
              + ("" if num_verbs is None else f", {num_verbs[0]} {num_verbs[1]}"))
    dataset = DATASETS.get(str(ckpt.arg("dataset_file")))
    if name is not None:
        space, origin = load_label_space(name), "--label-space"
    elif dataset is not None:
        space, origin = load_label_space(dataset), f"args.dataset_file={ckpt.arg('dataset_file')}"
    else:
        fits = [s for s in map(load_label_space, available_label_spaces())
                if _fits(s, num_interactions[1], obj_rows, verbs)]
        if len(fits) != 1:
            found = [s.name for s in fits] or "none"
            raise CheckpointError(f"{ckpt.path}: cannot tell the label space from the shapes "
                                  f"({shapes}; fitting shipped spaces: {found}); pass "
                                  "--label-space NAME_OR_JSON")
        space, origin = fits[0], "class counts of the classifiers"
    if not _fits(space, num_interactions[1], obj_rows, verbs):
        raise CheckpointError(
            f"{ckpt.path}: label space {space.name!r} ({space.num_interactions} interactions, "
            f"{space.num_objects} objects, {space.num_verbs} verbs) does not fit the "
            f"checkpoint: {shapes}")
    report.infer("label_space", space.name, origin)
    return space


def infer_zero_shot(ckpt: ReferenceCheckpoint, space: LabelSpace, report: ConversionReport,
                    verb_columns: str | None = None) -> str | None:
    """``data.zero_shot``: from ``args.zero_shot_type`` when the file has it, else from the
    weights (``zero_shot_from_weights``)."""
    kind = ckpt.arg("zero_shot_type")
    if kind is None:
        return zero_shot_from_weights(ckpt, space, report, verb_columns)
    split = None if kind == "default" else ZERO_SHOT_TYPES.get(str(kind))
    if kind != "default" and (split is None or split not in space.zero_shot):
        report.notes.append(f"args.zero_shot_type={kind!r} has no split in label space "
                            f"{space.name!r}; data.zero_shot left unset")
        return None
    return report.infer("data.zero_shot", split, f"args.zero_shot_type={kind}")


def zero_shot_from_weights(ckpt: ReferenceCheckpoint, space: LabelSpace,
                           report: ConversionReport,
                           verb_columns: str | None = None) -> str | None:
    """The zero-shot split whose seen interactions are the rows of the training classifier
    ``visual_projection`` (trained with ``--del_unseen``) next to ``eval_visual_projection``.

    Candidates have the right number of seen interactions; ties are broken by the seen
    columns' verbs (``verb_columns``, HOICLIP's ``verb2hoi_proj [V, seen]``) and by row
    equality with the evaluation classifier (both are frozen text embeddings under
    ``--fix_clip``).
    """
    if not ckpt.has("eval_visual_projection.weight"):
        report.infer("data.zero_shot", None, "no eval_visual_projection (fully supervised)")
        return None
    train_w = ckpt.state["visual_projection.weight"].float()
    eval_w = ckpt.state["eval_visual_projection.weight"].float()
    candidates = [n for n in space.zero_shot
                  if len(space.seen_interactions(n)) == train_w.shape[0]]
    if len(candidates) > 1 and verb_columns is not None and ckpt.has(verb_columns):
        cols = ckpt.state[verb_columns].float().argmax(0)  # [seen] verb of each column
        candidates = [n for n in candidates if torch.equal(
            cols, space.interaction_verb[list(space.seen_interactions(n))])]
    if len(candidates) > 1:
        candidates = [n for n in candidates if torch.allclose(
            train_w, eval_w[list(space.seen_interactions(n))], atol=1e-5)]
    if len(candidates) == 1:
        return report.infer("data.zero_shot", candidates[0],
                            "seen rows of visual_projection vs eval_visual_projection")
    report.notes.append(
        f"zero-shot model, but its split could not be told from the weights (candidates "
        f"{candidates or 'none'}); set it with --set data.zero_shot=NAME for Seen/Unseen mAP")
    return None


def clip_arch_from_args(ckpt: ReferenceCheckpoint) -> str | None:
    return CLIP_MODELS.get(str(ckpt.arg("clip_model")))
