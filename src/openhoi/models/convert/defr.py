"""DEFR (drjinying/hts) checkpoint layout -> openhoi's ``defr`` family.

DEFR's ``train_dist.py`` saves with ``checkpointer.save_checkpoint``: ``{'epoch',
'model_state_dict', 'optimizer_state_dict'}``, the state dict of a DDP-wrapped ``ClipViT``
(``clip/clip_hico.py``; ``evaluate.py`` strips the ``module.`` prefix), which holds:

* ``logit_scale`` ``[]``: the fixed log logit scale (``model.log_scale``, 4.61);
* ``visual_encoder.visual.*``: CLIP's image tower in OpenAI's layout (``clip/layers.py``
  ``VisualTransformer``: the key names open_clip uses), its position embeddings already
  interpolated to ``model.image_size`` (``clip/utils.py`` ``build_visual_encoder``); ``proj``
  is absent because ``visual.proj = None`` drops it, except for ``rand-512*`` classifiers;
* the classifier: ``classifier [I, D]`` for the cosine ones (``clip``, ``bert``, ``rand``,
  ``*-shuffle``), ``classifier.weight`` / ``classifier.bias`` for ``*-linear``, and an extra
  ``m_classifier [I, I]`` for ``i-clip`` / ``i-bert`` (rows ``m_classifier @ classifier``).

The forward pass (``ClipViT.forward``): ``x = norm(visual(image))``, then ``exp(s) * x @
norm(W)^T`` (cosine) or ``Linear(exp(s) * x)`` (linear), openhoi's ``CosineClassifier`` and
``LinearClassifier``. The ImageNet models of DEFR's ``vit.py`` are another class, not covered.
"""

from __future__ import annotations

from typing import Any

from openhoi.errors import CheckpointError
from openhoi.label_space import LabelSpace, available_label_spaces, load_label_space
from openhoi.models.convert.mapping import Rule, TensorMap, apply_rules
from openhoi.models.convert.reader import ReferenceCheckpoint
from openhoi.models.convert.report import ConversionReport

VISUAL = "visual_encoder.visual."
RULES: list[Rule] = [
    (r"visual_encoder\.visual\.(.+)", r"backbone.visual.\1"),
    (r"logit_scale", "classifier.logit_scale"),
    (r"classifier", "classifier.weight"),
    (r"classifier\.(weight|bias)", r"classifier.linear.\1"),
]
RECIPE = "hico_defr"
"""Shipped recipe giving what the checkpoint cannot tell (training settings, text encoder)."""


def check_layout(ckpt: ReferenceCheckpoint) -> None:
    """``CheckpointError`` unless ``ckpt`` is a DEFR ``ClipViT`` with a CLIP ViT image tower."""
    if not ckpt.has(f"{VISUAL}conv1.weight"):
        hint = ("; it looks like an HOI detector: use --from hoiclip or --from gen-vlkt"
                if ckpt.has("backbone.0.body.conv1.weight") else
                "; DEFR's ImageNet models (vit.py) are not supported")
        raise CheckpointError(f"{ckpt.path}: not a DEFR ClipViT checkpoint "
                              f"(clip/clip_hico.py): no {VISUAL}conv1.weight{hint}")
    if ckpt.has(f"{VISUAL}layer1.0.conv1.weight"):
        raise CheckpointError(f"{ckpt.path}: a CLIP ResNet image tower ({VISUAL}layer1...); "
                              "only DEFR's CLIP ViT models convert")
    if not (ckpt.has("classifier") or ckpt.has("classifier.weight")):
        raise CheckpointError(f"{ckpt.path}: key 'classifier' (cosine) or 'classifier.weight' "
                              "(linear) is missing; not a DEFR ClipViT checkpoint")
    if not ckpt.has("logit_scale"):
        raise CheckpointError(f"{ckpt.path}: key 'logit_scale' is missing; not a DEFR "
                              "ClipViT checkpoint")


def classifier_key(ckpt: ReferenceCheckpoint) -> str:
    return "classifier" if ckpt.has("classifier") else "classifier.weight"


def infer_label_space(ckpt: ReferenceCheckpoint, report: ConversionReport,
                      name: str | None) -> LabelSpace:
    """``name`` if given, else the one shipped label space with as many interactions as the
    classifier has rows (HICO's 600: ``hicodet``, whose classes are HICO's in HICO's order)."""
    key = classifier_key(ckpt)
    rows = ckpt.shape(key)[0]
    if name is not None:
        space, origin = load_label_space(name), "--label-space"
    else:
        fits = [s for s in map(load_label_space, available_label_spaces())
                if s.num_interactions == rows]
        if len(fits) != 1:
            raise CheckpointError(
                f"{ckpt.path}: {key} has {rows} rows; shipped label spaces with {rows} "
                f"interactions: {[s.name for s in fits] or 'none'}; pass --label-space")
        space, origin = fits[0], f"{key} has {rows} rows"
    if space.num_interactions != rows:
        raise CheckpointError(f"{ckpt.path}: {key} has {rows} rows but label space "
                              f"{space.name!r} has {space.num_interactions} interactions")
    report.infer("data.label_space", space.name, origin)
    return space


def vision_signature(ckpt: ReferenceCheckpoint) -> dict[str, int]:
    """Width, layers, patch and grid of the image tower, from its tensor shapes."""
    conv = ckpt.shape(f"{VISUAL}conv1.weight")  # [W, 3, P, P]
    tokens = ckpt.shape(f"{VISUAL}positional_embedding")[0]  # 1 + grid^2
    grid = round((tokens - 1) ** 0.5)
    if grid * grid != tokens - 1:
        raise CheckpointError(f"{ckpt.path}: {VISUAL}positional_embedding has {tokens} rows, "
                              "not 1 + a square grid")
    return {"width": conv[0], "patch_size": conv[-1], "grid": grid,
            "layers": ckpt.count(f"{VISUAL}transformer.resblocks.")}


_PLAIN_VIT = {"image_size", "layers", "width", "patch_size", "head_width", "mlp_ratio"}


def matching_archs(sig: dict[str, int], embed_dim: int | None) -> list[str]:
    """open_clip architectures that build DEFR's image tower for ``sig``: QuickGELU (OpenAI
    weights), plain pre-LN ViT blocks with MLP ratio 4, and DEFR's ``heads = width // 64``
    (``clip/layers.py``), i.e. head width 64; shortest names first."""
    import open_clip

    from openhoi.models.clip.clip_loading import register_openhoi_configs

    register_openhoi_configs()
    names = []
    for name in open_clip.list_models():
        cfg = open_clip.get_model_config(name) or {}
        v = cfg.get("vision_cfg", {})
        if (not cfg.get("quick_gelu", False) or set(v) - _PLAIN_VIT
                or "timm_model_name" in v or isinstance(v.get("layers"), list | tuple)):
            continue
        if ((v.get("width"), v.get("layers"), v.get("patch_size"))
                != (sig["width"], sig["layers"], sig["patch_size"])
                or v.get("head_width", 64) != 64 or v.get("mlp_ratio", 4.0) != 4.0):
            continue
        if embed_dim is not None and cfg.get("embed_dim") != embed_dim:
            continue
        names.append(name)
    return sorted(names, key=lambda n: (len(n), n))


def settings(ckpt: ReferenceCheckpoint, report: ConversionReport) -> dict[str, Any]:
    """The ``model`` config tree the shapes and the stored logit scale tell."""
    sig = vision_signature(ckpt)
    proj = f"{VISUAL}proj"
    keep = ckpt.has(proj)
    embed_dim = ckpt.shape(proj)[1] if keep else None
    archs = matching_archs(sig, embed_dim)
    where = (f"{VISUAL}*: width {sig['width']}, {sig['layers']} blocks, patch "
             f"{sig['patch_size']}" + (f", projection to {embed_dim}" if keep else ""))
    if not archs:
        raise CheckpointError(f"{ckpt.path}: no open_clip QuickGELU ViT with head width 64 "
                              f"fits the image tower ({where})")
    backbone = {
        "kind": "open_clip",
        "arch": report.infer("model.backbone.arch", archs[0], where),
        "image_size": report.infer("model.backbone.image_size",
                                   sig["grid"] * sig["patch_size"],
                                   f"{VISUAL}positional_embedding: grid {sig['grid']} x patch "
                                   f"{sig['patch_size']}"),
        "keep_projection": report.infer(
            "model.backbone.keep_projection", keep,
            f"{proj} {'present (rand-512 classifiers)' if keep else 'absent: dropped by DEFR'}"),
        "weights": None, "mean": None, "std": None,
    }
    scale = float(f"{float(ckpt.state['logit_scale']):.7g}")  # float32 -> shortest decimal
    if scale == 0.0:
        raise CheckpointError(f"{ckpt.path}: logit_scale is 0, for which ClipViT skips the "
                              "feature normalisation; openhoi's DEFR classifiers always apply it")
    linear = not ckpt.has("classifier")
    classifier = {
        "kind": report.infer("model.classifier.kind", "linear" if linear else "cosine",
                             "classifier.weight + classifier.bias (DEFR *-linear)" if linear
                             else "one classifier tensor (DEFR clip/bert/rand)"),
        "logit_scale": report.infer("model.classifier.logit_scale", scale, "logit_scale"),
        "embed_dim": None,
    }
    report.notes.append("model.classifier.init and model.text come from the recipe: the "
                        "checkpoint cannot tell them (DEFR's clip, bert and rand classifiers "
                        "share one layout) and they matter only when training from scratch")
    score = report.infer("model.score", "logit", "DEFR's evaluate.py ranks the raw logits "
                         "(float32 sigmoid ties those above ~17)")
    return {"architecture": "defr", "backbone": backbone, "classifier": classifier,
            "score": score}


def gather(ckpt: ReferenceCheckpoint, report: ConversionReport) -> tuple[TensorMap, dict]:
    """Every reference tensor mapped onto the openhoi model (or an error naming it)."""
    out = TensorMap()
    if ckpt.has("m_classifier"):  # i-clip / i-bert: rows are normalise(m_classifier @ W)
        m, w = ckpt.state["m_classifier"].float(), ckpt.state["classifier"].float()
        if m.shape != (w.shape[0], w.shape[0]):
            raise CheckpointError(f"{ckpt.path}: m_classifier has shape {list(m.shape)} but "
                                  f"classifier has {w.shape[0]} rows")
        out.put("classifier.weight", "m_classifier @ classifier", m @ w)  # [I, D]
        out.claimed.update({"m_classifier", "classifier"})
        report.notes.append("m_classifier @ classifier folded into one classifier (DEFR "
                            "i-clip / i-bert); the cosine classifier normalises its rows as "
                            "ClipViT does after the product")
    apply_rules(ckpt, out, RULES, ignore=[])
    return out, {}
