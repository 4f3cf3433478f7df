"""Convert a HOICLIP / GEN-VLKT / DEFR / EZ-HOI checkpoint into an openhoi model, config and
checkpoint.

Steps: read the file safely; check its layout; infer the label space and the architecture
(shapes, then ``args``, then the shipped recipe, then the user's ``--set``); build CLIP from the
checkpoint (HOICLIP) or the given CLIP file (GEN-VLKT); build the model with
``openhoi.models.build``; map every reference tensor onto it strictly (``mapping``); load.
``save_converted`` writes an openhoi checkpoint that ``predict``/``evaluate`` load with no model
flags (resolved config + label-space fingerprint + weights). EZ-HOI (``convert_ez_hoi``) needs
inputs its checkpoints lack (``openhoi.models.convert.ez_hoi``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import torch
import yaml

from openhoi.config import Config, load_config, merge
from openhoi.errors import ConfigError
from openhoi.label_space import LabelSpace
from openhoi.models.clip.text_classifier import interaction_prompts, text_embeddings
from openhoi.models.contract import HOIModel
from openhoi.models.convert import common, defr, ez_hoi, gen_vlkt, hoiclip
from openhoi.models.convert.infer import (
    ARGS_TO_CONFIG,
    DATASETS,
    infer_label_space,
    infer_zero_shot,
    settings_from_args,
)
from openhoi.models.convert.mapping import assemble_state
from openhoi.models.convert.reader import ReferenceCheckpoint, read_reference_checkpoint
from openhoi.models.convert.report import ConversionReport
from openhoi.models.detr.hoi_detector import HOIDetector

SOURCES: dict[str, ModuleType] = {"hoiclip": hoiclip, "gen-vlkt": gen_vlkt, "defr": defr,
                                  "ez-hoi": ez_hoi}
"""``--from`` name -> module with ``check_layout`` and ``gather`` (the detectors' also
``settings``, ``interaction_rows`` and ``verb_rows``; DEFR's ``infer_label_space``; EZ-HOI's
inputs its files lack: ``convert_ez_hoi``)."""

RECIPES = {("hoiclip", "hicodet"): "hicodet_hoiclip", ("hoiclip", "vcoco"): "vcoco_hoiclip",
           ("gen_vlkt", "hicodet"): "hicodet_gen_vlkt"}
"""Shipped recipe giving the settings neither shapes nor ``args`` tell."""

VerbToInteraction = Literal["checkpoint", "label_space"]


@dataclass
class ConvertedModel:
    """A reference checkpoint converted: the model (eval mode), its resolved config, label
    space, and the report of where every tensor came from."""

    model: HOIModel
    config: Config
    label_space: LabelSpace
    report: ConversionReport
    reference: ReferenceCheckpoint


def _dataset(space: LabelSpace, ckpt: ReferenceCheckpoint) -> str:
    if space.name in ("hicodet", "vcoco", "synthetic"):
        return space.name
    return DATASETS.get(str(ckpt.arg("dataset_file")), "hicodet")


def _config(architecture: str, space: LabelSpace, label_space: str | None,
            ckpt: ReferenceCheckpoint, tree: dict[str, Any], overrides: Sequence[str],
            report: ConversionReport) -> Config:
    dataset = _dataset(space, ckpt)
    recipe = RECIPES.get((architecture, dataset), RECIPES[(architecture, "hicodet")])
    report.infer("recipe", recipe, "defaults for what neither shapes nor args tell")
    data = {"dataset": dataset, "label_space": label_space if label_space != dataset else None}
    tree = merge(tree, {"data": data})
    tree["model"].setdefault("clip", {})["weights"] = None
    config = load_config(recipe, overrides, tree)
    for item in overrides:
        key, raw = item.split("=", 1)
        report.infer(key.strip(), yaml.safe_load(raw) if raw else raw, "--set")
    return config


def _build_clip(config: Config, clip_sd: dict[str, torch.Tensor], where: Path):
    """``ClipKnowledge`` of ``config`` holding the reference's CLIP weights."""
    from openhoi.models.clip.clip_knowledge import build_clip_knowledge
    from openhoi.models.clip.clip_loading import ClipWeights, check_weights_fit

    clip = build_clip_knowledge(config.model.clip, device="cpu", load_weights=False)
    weights = ClipWeights(clip_sd, where, "", "state_dict", quick_gelu=True)
    clip.model.load_state_dict(check_weights_fit(clip.model, weights, config.model.clip.arch))
    return clip


def _build_model(config: Config, space: LabelSpace, clip) -> HOIDetector:
    """The model of ``config`` around ``clip``; classifiers, E_v and the zero-shot text start
    at zero (every one of them is overwritten), so CLIP's text tower does not run here."""
    from openhoi.models.build import build_model

    return build_model(config.model, space, clip=clip, pretrained=False)


def _text_check(model: HOIDetector, ckpt: ReferenceCheckpoint, report: ConversionReport) -> None:
    """Compare the recomputed interaction text embeddings with the reference's classifier."""
    key = f"{common.interaction_classifier_key(ckpt)}.weight"
    text = model.zero_shot.text_embed
    weight = ckpt.state[key].float()
    if weight.shape == text.shape:
        diff = float((weight - text).abs().max())
        report.notes.append(
            f"max |recomputed CLIP text embeddings - {key}| = {diff:.1e} (about 1e-3 or less "
            "when the classifier stayed at its CLIP initialisation, --fix_clip; larger when "
            "it was fine-tuned or the prompts/CLIP differ)")


def convert_checkpoint(
    path: str | Path,
    source: str,
    *,
    clip_weights: str | Path | None = None,
    label_space: str | None = None,
    overrides: Sequence[str] = (),
    verb_to_interaction: VerbToInteraction = "checkpoint",
    **ez_hoi_inputs: Any,
) -> ConvertedModel:
    """Convert a released HOICLIP, GEN-VLKT, DEFR or EZ-HOI checkpoint.

    Args:
        path: the reference ``.pth`` (``{'model': state_dict, 'args': ...}``, DEFR's and
            EZ-HOI's ``{'model_state_dict': ...}``, or a state dict).
        source: ``hoiclip``, ``gen-vlkt``, ``defr`` or ``ez-hoi``.
        clip_weights: CLIP file (OpenAI ``ViT-B-32.pt`` or a state dict) for GEN-VLKT
            checkpoints, which hold no CLIP.
        label_space: label space name or JSON; default: from ``args`` or the class counts.
        overrides: ``a.b=value`` config overrides applied last (what neither the shapes nor
            ``args`` tell: ``model.postprocess.use_nms=false``...).
        verb_to_interaction: keep HOICLIP's released verb->interaction matrix
            (``checkpoint``, the reference's outputs) or use the label space's.
        ez_hoi_inputs: ``source="ez-hoi"`` only: ``convert_ez_hoi``'s keyword arguments.

    Raises:
        CheckpointError: unreadable file, wrong layout, unknown or missing tensors, shapes
            that do not fit (messages name the file, the keys and both shapes).
        ConfigError: bad overrides.
    """
    if source not in SOURCES:
        raise ConfigError(f"--from {source!r}: choose one of {sorted(SOURCES)}")
    if source == "ez-hoi":
        if clip_weights is not None:
            raise ConfigError("--from ez-hoi: --clip-weights is not used (the checkpoint holds "
                              "CLIP)")
        return convert_ez_hoi(path, label_space=label_space, overrides=overrides,
                              **ez_hoi_inputs)
    if ez_hoi_inputs:
        raise ConfigError(f"--from {source}: {sorted(ez_hoi_inputs)} are EZ-HOI inputs")
    if source == "defr":
        if clip_weights is not None:
            raise ConfigError("--clip-weights: DEFR checkpoints hold their image tower and "
                              "need no CLIP file")
        return _convert_defr(path, label_space, overrides)
    layout = SOURCES[source]
    ckpt = read_reference_checkpoint(path)
    layout.check_layout(ckpt)
    report = ConversionReport(source, ckpt.path)
    space = infer_label_space(ckpt, layout.interaction_rows(ckpt), layout.verb_rows(ckpt),
                              report, label_space)
    clip_sd, clip_from = common.clip_state(ckpt), ckpt.path
    clip_file = None if clip_weights is None else str(clip_weights)
    if not clip_sd and clip_weights is not None:
        from openhoi.models.clip.clip_loading import read_clip_weights

        clip_sd, clip_from = read_clip_weights(clip_weights).state_dict, Path(clip_weights)
    tree = merge(settings_from_args(ckpt, report, ARGS_TO_CONFIG),
                 layout.settings(ckpt, report, clip_sd or None, clip_file))
    verb_columns = "verb2hoi_proj" if layout is hoiclip else None
    tree["data"] = {"zero_shot": infer_zero_shot(ckpt, space, report, verb_columns)}
    config = _config(layout.ARCHITECTURE, space, label_space, ckpt, tree, overrides, report)

    if layout is hoiclip:
        tensors, derived = hoiclip.gather(ckpt, space, report, verb_to_interaction)
    else:
        tensors, derived = gen_vlkt.gather(ckpt, space, report, clip_file)
    model = _build_model(config, space, _build_clip(config, clip_sd, clip_from))
    state = assemble_state(ckpt.path, model.state_dict(), tensors, derived, report,
                           layout.RULES)
    # Derived last, once every shape is known to fit: the reference's hoi_cls.
    state["zero_shot.text_embed"] = text_embeddings(model.clip, interaction_prompts(
        space, config.model.clip.interaction_template))  # [I, E], L2-normalised
    model.load_state_dict(state, strict=True)
    _text_check(model, ckpt, report)
    return ConvertedModel(model.eval(), config, space, report, ckpt)


def _convert_defr(path: str | Path, label_space: str | None,
                  overrides: Sequence[str]) -> ConvertedModel:
    """A DEFR ``ClipViT`` checkpoint as an openhoi ``defr`` model (see ``convert.defr``)."""
    from openhoi.models.build import build_model

    ckpt = read_reference_checkpoint(path)
    defr.check_layout(ckpt)
    report = ConversionReport("defr", ckpt.path)
    space = defr.infer_label_space(ckpt, report, label_space)
    report.infer("recipe", defr.RECIPE, "defaults for what the shapes do not tell")
    data = {"dataset": "hico", "label_space": label_space or space.name}
    tree = {"model": defr.settings(ckpt, report), "data": data}
    config = load_config(defr.RECIPE, overrides, tree)
    for item in overrides:
        key, raw = item.split("=", 1)
        report.infer(key.strip(), yaml.safe_load(raw) if raw else raw, "--set")
    model = build_model(config.model, space, pretrained=False)
    tensors, derived = defr.gather(ckpt, report)
    state = assemble_state(ckpt.path, model.state_dict(), tensors, derived, report, defr.RULES)
    model.load_state_dict(state, strict=True)
    return ConvertedModel(model.eval(), config, space, report, ckpt)


def save_converted(converted: ConvertedModel, out: str | Path) -> Path:
    """Write ``converted`` as an openhoi checkpoint (``.safetensors``: weights + metadata;
    any other suffix: the engine's ``torch.save`` checkpoint format)."""
    from openhoi import checkpoint as ckpt_io

    fingerprint = converted.label_space.fingerprint
    if Path(out).suffix == ".safetensors":
        return ckpt_io.save_safetensors(out, converted.model, converted.config, fingerprint)
    ref = converted.reference
    extra = {"converted_from": {"source": converted.report.source, "file": str(ref.path),
                                "sha256": ref.sha256, "epoch": ref.epoch}}
    checkpoint = ckpt_io.make_checkpoint(model=converted.model, config=converted.config,
                                         label_space=fingerprint, extra=extra)
    return ckpt_io.save_checkpoint(out, checkpoint)


EZ_RECIPES = {"ViT-B-16-quickgelu": "hicodet_ez_hoi_vitb16",
              "ViT-L-14-336-quickgelu": "hicodet_ez_hoi_vitl14_336"}
"""CLIP of an EZ-HOI checkpoint -> the shipped recipe with the paper's other settings."""


def _ez_config(ckpt: ReferenceCheckpoint, space: LabelSpace, clip_sd: dict, report:
               ConversionReport, files: dict[str, str | None], zero_shot: str | None,
               overrides: Sequence[str]) -> Config:
    arch = common.clip_arch(clip_sd, "clip_head.*", ckpt, report)
    recipe = EZ_RECIPES.get(arch, EZ_RECIPES["ViT-B-16-quickgelu"])
    report.infer("recipe", recipe, "CLIP architecture")
    if zero_shot is not None and zero_shot not in space.zero_shot:
        raise ConfigError(f"--zero-shot {zero_shot!r}: label space {space.name!r} has the "
                          f"splits {sorted(space.zero_shot)}")
    report.infer("model.zero_shot", zero_shot, "--zero-shot")
    pl = "clip_head.prompt_learner."
    prompts = {
        "depth": report.infer("model.prompts.depth", ckpt.count(f"{pl}compound_prompt_proj_vis.")
                              + 1, "count of compound_prompt_proj_vis.N, plus layer 0"),
        "num_tokens": report.infer("model.prompts.num_tokens", ckpt.shape(f"{pl}ctx")[0],
                                   "rows of prompt_learner.ctx (--N_CTX)"),
        "adapter_dim": report.infer(
            "model.prompts.adapter_dim", ckpt.shape(f"{pl}txtcls_pt_adapter.down_proj_mem."
                                                    "weight")[0], "--emb_dim (adapter width)"),
        "text_position": "released_tail", "visual_prompts_fp16": True}
    model: dict[str, Any] = {
        "clip": {"arch": arch, "weights": None},
        "prompts": prompts,
        "instances": _ez_instances(ckpt, report, files["detections"]),
        "descriptions": files["descriptions"],
        "difference_descriptions": files["difference_descriptions"],
        "train_visual_head": False, "zero_shot": zero_shot}
    report.infer("model.prompts.text_position", "released_tail", "the released code puts the "
                 "class prompts after the end-of-text token (its text features are the "
                 "frozen features of 'A photo of <class>.')")
    tree = {"data": {"zero_shot": zero_shot,
                     "label_space": space.name if space.name != "hicodet" else None},
            "model": model}
    return load_config(recipe, overrides, tree)


def _ez_instances(ckpt: ReferenceCheckpoint, report: ConversionReport,
                  detections: str | None) -> dict[str, Any]:
    """``model.instances``: the checkpoint's own DETR (``source: detr``, architecture from
    ``detector.*``), or the detections file when one is given."""
    if detections is not None:
        report.infer("model.instances.source", "file", "--detections (detector.* ignored)")
        return {"source": "file", "detections_file": detections}
    if not ez_hoi.detector_state(ckpt):
        raise ConfigError(f"{ckpt.path}: no detector.* tensors (UPT's DETR); give the "
                          "instances with --detections FILE (openhoi detect-instances)")
    cfg, classes = ez_hoi.detector_config(ckpt, report)
    report.infer("model.instances.source", "detr", "detector.* in the checkpoint (UPT's "
                 "DETR, converted with it; --detections FILE reads instances from a file)")
    fields = ("backbone", "hidden_dim", "num_heads", "num_queries", "dim_feedforward",
              "num_encoder_layers", "num_decoder_layers", "pre_norm", "dilation",
              "backbone_norm", "train_backbone", "channels_last")
    return {"source": "detr", "detr_classes": classes, "detr_weights": None,
            "detector": {f: getattr(cfg, f) for f in fields}}


def convert_ez_hoi(
    path: str | Path,
    *,
    prompts: str | Path | None = None,
    detections: str | Path | None = None,
    zero_shot: str | None = None,
    descriptions: str | Path | None = None,
    difference_descriptions: str | Path | None = None,
    label_space: str | None = None,
    overrides: Sequence[str] = (),
) -> ConvertedModel:
    """Convert a released EZ-HOI checkpoint (``openhoi.models.convert.ez_hoi``).

    Args:
        path: pocket's ``ckpt_*.pt`` (``model_state_dict`` ...).
        prompts: ``[depth, n, D]`` per-layer prompts (``ez_hoi.PROMPTS_HELP``); required.
        detections: detections JSON the converted model reads its instances from
            (``source: file``); default: the checkpoint's own DETR (``source: detr``).
        zero_shot: the split the model was trained for (``uv``, ``rf_uc``...; its unseen
            classes get UTPL), None for the default setting.
        descriptions / difference_descriptions: EZ-HOI's ``hico_HOI_descrip.txt`` and
            ``zs_possibility/<split>_diff.txt`` (they shape the class prompts' adapters;
            with the released prompt placement the outputs do not depend on them).
        label_space: default ``hicodet``.
        overrides: ``a.b=value`` config overrides applied last.

    Raises:
        ConfigError: a required input is missing, or an unknown split.
        CheckpointError: wrong layout, unknown or missing tensors, shapes that do not fit,
            prompted classes the label space lacks (messages name the file and keys).
    """
    from openhoi.label_space import load_label_space
    from openhoi.models.build import build_model

    ckpt = read_reference_checkpoint(path)
    ez_hoi.check_layout(ckpt)
    report = ConversionReport("ez-hoi", ckpt.path)
    space = load_label_space(label_space or "hicodet")
    clip_sd = ez_hoi.clip_state(ckpt)
    files = {"detections": _opt(detections), "descriptions": _opt(descriptions),
             "difference_descriptions": _opt(difference_descriptions)}
    config = _ez_config(ckpt, space, clip_sd, report, files, zero_shot, overrides)
    clip = _build_clip(config, clip_sd, ckpt.path)
    cfg = config.model
    model = build_model(cfg, space, pretrained=False, clip=clip)
    utpl = model.prompts.unseen_adapter is not None
    out = ez_hoi.gather(ckpt, report, utpl, detector=cfg.instances.source == "detr")
    text = model.prompts.text_prompts
    out.put("prompts.text_prompts", f"txtcls_ctx_pt ({prompts})",
            ez_hoi.read_prompts(prompts, *text.shape))
    tables = _ez_tables(ckpt, cfg, space, clip, report)
    derived = {k: "computed at start-up by EZ-HOI too (CLIP text tower, label space, "
               "description files); prompted classes read from token_prompts"
               for k in tables}
    state = assemble_state(ckpt.path, model.state_dict(), out, derived, report, ez_hoi.RULES)
    state.update(tables)
    model.load_state_dict(state, strict=True)
    return ConvertedModel(model.eval(), config, space, report, ckpt)


def _opt(p: str | Path | None) -> str | None:
    return None if p is None else str(p)


def _ez_tables(ckpt: ReferenceCheckpoint, cfg, space: LabelSpace, clip, report
               ) -> dict[str, torch.Tensor]:
    """The model's class tables, with the prompted classes of the checkpoint."""
    from openhoi.models.ez_hoi.build import class_tables

    tables = class_tables(cfg, space, clip, pretrained=True)
    with torch.no_grad():
        embeds = clip.model.token_embedding(tables["class_tokens"])  # [I, L, D]
    classes = ez_hoi.prompted_classes(ckpt, embeds)
    ez_hoi.check_verbs(ckpt, classes, space)
    prompted = torch.zeros_like(tables["prompted"])
    prompted[classes] = True
    if not torch.equal(prompted, tables["prompted"]):
        report.notes.append(
            f"the checkpoint prompts {len(classes)} classes, the description files select "
            f"{int(tables['prompted'].sum())} ({int((prompted != tables['prompted']).sum())} "
            "differ): the checkpoint's are used")
    partner = tables["partner"].clone()
    partner[~prompted] = -1
    partner[(partner >= 0) & ~prompted[partner.clamp(min=0)]] = -1
    report.notes.append(f"{len(classes)} prompted interaction classes, "
                        f"{int((partner >= 0).sum())} with UTPL partners")
    return {**tables, "prompted": prompted, "partner": partner}

