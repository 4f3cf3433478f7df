"""EZ-HOI checkpoints (ChelsieLei/EZ-HOI): pocket's ``ckpt_<iteration>_<epoch>.pt``,
``{'model_state_dict', 'optim_state_dict', 'scheduler_state_dict', 'scaler_state_dict',
'epoch', 'iteration'}``, of ``upt_tip_cache_model_free_finetune_distillself.UPT`` with the
released flags (``--use_insadapter --txtcls_pt --img_align --unseen_pt_inj --img_clip_pt
--logits_type HO``).

Key map (reference -> openhoi ``EZHOI``):

- ``clip_head.image_encoder.*`` -> ``clip.model.visual.*``; its blocks' ``adaptermlp`` (ADA-CM
  instance adapters: ``down_proj``, ``up_proj``, ``scale``, ``mhsa_layers.0``) ->
  ``image_tower.adapters.N``; ``priors_downproj`` -> ``instance_proj``;
- ``clip_head.{token_embedding, positional_embedding, transformer, ln_final,
  text_projection, logit_scale}`` -> ``clip.model.*``;
- ``clip_head.prompt_learner.proj`` / ``compound_prompt_proj_vis.N`` ->
  ``prompts.to_visual.0`` / ``.N+1``; ``txtcls_pt_adapter`` / ``img_clip_pt_adapter`` /
  ``unseen_pt_adapter`` -> ``prompts.text_adapter`` / ``image_adapter`` / ``unseen_adapter``
  (``down_proj_mem`` -> ``down``, ``up_proj_mem`` -> ``up``, ``down_proj_prior`` ->
  ``prior_proj``, ``mhsa_layers.0.{self_attn, multihead_attn}`` -> ``layer.{self_attn,
  cross_attn}``);
- ``mem_adapter`` (``--img_align``) -> ``pair_adapter``; ``vis_fuse`` -> ``vis_fuse``;
  ``logit_scale_HO`` -> ``logit_scale``.

Not in the file, so given by the user or derived:

- the per-layer prompts ``txtcls_ctx_pt``: a plain Python list of ``nn.Parameter``
  (``torch.randn`` at construction, after DETR, both CLIPs and the adapters have drawn from the
  seeded generator), neither saved nor trained; they feed the visual prompts, so the user names
  them (``prompts``: a ``[depth, n, D]`` tensor file written in EZ-HOI's environment, see
  ``PROMPTS_HELP``);
- the prompted classes: read back from ``token_prompts`` (the token embeddings of
  ``"A photo of <class>."`` of each prompted class) and checked against ``label_HO``;
- class descriptions, UTPL sentences and the object texts: CLIP's text tower on the files the
  user gives (as EZ-HOI computes them at start-up).

Instances: EZ-HOI runs UPT's DETR (``UPT.detector``: facebookresearch/detr's ``DETR``, one
query set, saved under ``detector.``; ``--pretrained detr-r50-hicodet.pth``, frozen). Its
tensors map onto the converted model's ``PlainDETR`` (``detector.`` + ``plain_detr.detr_key``)
and its architecture is read from their shapes (``detector_config``): backbone, width, layers,
queries, pre-norm; heads (``--nheads 8``) and dilation (off) are EZ-HOI's defaults, a ``--set
model.instances.detector.num_heads=N`` changes them. An 81-row head is the HICO-DET fine-tune
(80 COCO categories in id order = openhoi's HICO-DET object order), a 92-row one DETR's COCO
head (EZ-HOI then keeps the 80 categories and no-object before the softmax, its
``reserve_indices``). With a detections file (``detections``) the model reads its instances
from it instead and ``detector.*`` is ignored.

Ignored (built by EZ-HOI, unused by its forward): ``prompt_learner.ctx``, the ``norm1`` of its
cross-attention-only decoder layers, ``mem_adapter.down_proj_prior``, the ``TextAdapter`` of
every text block, and the second copy of the text tower under ``clip_head.text_encoder``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from openhoi.config import DetectorConfig
from openhoi.errors import CheckpointError, ConfigError
from openhoi.label_space import LabelSpace
from openhoi.models.convert.mapping import Rule, TensorMap, apply_rules
from openhoi.models.convert.reader import ReferenceCheckpoint
from openhoi.models.convert.report import ConversionReport
from openhoi.models.detr.plain_detr import detr_key, infer_detr_config

ARCHITECTURE = "ez_hoi"
SIGNATURE = "clip_head.prompt_learner.txtcls_pt_adapter.down_proj_mem.weight"
PL = r"clip_head\.prompt_learner\."
DETECTOR = "detector."
VB = r"clip_head\.image_encoder\.transformer\.resblocks\.(\d+)\.adaptermlp\."

PROMPTS_HELP = (
    "EZ-HOI keeps its per-layer prompts (MultiModalPromptLearner.txtcls_ctx_pt) in a plain "
    "list: they are drawn from the seeded generator when its model is built and never saved. "
    "Write them where its evaluation runs, after `upt = build_detector(...)` in "
    "main_tip_finetune.main (same --seed, rank 0, same flags): torch.save(torch.stack([p.detach()"
    ".cpu() for p in upt.clip_head.prompt_learner.txtcls_ctx_pt]), 'ez_prompts.pt')")


def _adapter_rules(theirs: str, ours: str) -> list[Rule]:
    """EZ-HOI ``Adapter`` / ADA-CM ``Adapter`` -> ``PromptAdapter`` / ``InstanceAdapter``
    (``theirs`` may hold capture groups, which ``ours`` refers to)."""
    layer = rf"{theirs}mhsa_layers\.0\."
    k = re.compile(theirs).groups + 1  # number of our first own group
    a, b = rf"\{k}", rf"\{k + 1}"
    return [
        (rf"{theirs}(?:down_proj_mem|down_proj)\.(weight|bias)", rf"{ours}down.{a}"),
        (rf"{theirs}(?:up_proj_mem|up_proj)\.(weight|bias)", rf"{ours}up.{a}"),
        (rf"{theirs}down_proj_prior\.(.+)", rf"{ours}prior_proj.{a}"),
        (rf"{theirs}scale", rf"{ours}scale"),
        (rf"{layer}multihead_attn\.(.+)", rf"{ours}layer.cross_attn.{a}"),
        (rf"{layer}(self_attn|linear1|linear2|norm1|norm2|norm3)\.(.+)",
         rf"{ours}layer.{a}.{b}"),
    ]


RULES: list[Rule] = [
    *_adapter_rules(VB, r"image_tower.adapters.\1."),
    (r"clip_head\.image_encoder\.(.+)", r"clip.model.visual.\1"),
    (r"clip_head\.(token_embedding\.weight|positional_embedding|text_projection|logit_scale)",
     r"clip.model.\1"),
    (r"clip_head\.(ln_final\..+|transformer\.resblocks\.\d+\.(?:attn|ln_1|mlp|ln_2)\..+)",
     r"clip.model.\1"),
    (rf"{PL}proj\.(weight|bias)", r"prompts.to_visual.0.\1"),
    *_adapter_rules(rf"{PL}txtcls_pt_adapter\.", "prompts.text_adapter."),
    *_adapter_rules(rf"{PL}img_clip_pt_adapter\.", "prompts.image_adapter."),
    *_adapter_rules(rf"{PL}unseen_pt_adapter\.", "prompts.unseen_adapter."),
    *_adapter_rules(r"mem_adapter\.", "pair_adapter."),
    (r"vis_fuse\.(\d)\.(weight|bias)", r"vis_fuse.\1.\2"),
    (r"logit_scale_HO", "logit_scale"),
    (r"priors_downproj\.(.+)", r"instance_proj.\1"),
]

_UNUSED = "built by EZ-HOI, unused by its forward with the released flags"
IGNORE: list[Rule] = [
    (rf"{PL}ctx", "MaPLe's shared context ('A photo of'): registered, unused with --txtcls_pt"),
    (rf"{PL}token_prompts", "token embeddings of 'A photo of <class>.': recomputed from CLIP "
     "(and read for the prompted classes)"),
    (rf"{PL}(?:txtcls_pt_adapter|img_clip_pt_adapter)\.mhsa_layers\.0\.norm1\..+",
     f"norm1 of TransformerDecoderLayer_CA (cross-attention only): {_UNUSED}"),
    (rf"{VB}mhsa_layers\.0\.norm1\..+",
     f"norm1 of ADA-CM's cross-attention-only decoder layer: {_UNUSED}"),
    (r"mem_adapter\.down_proj_prior\..+", f"prior MLP of the self-context adapter: {_UNUSED}"),
    (r"clip_head\.transformer\.resblocks\.\d+\.txtcls_adapter\..+",
     f"TextAdapter of a text block (used with --txtcls_descrip only): {_UNUSED}"),
    (r"clip_head\.text_encoder\..+", "the text tower saved a second time (CustomCLIP."
     "text_encoder shares CLIP's modules)"),
    (r"label_HO", "one-hot verbs of the prompted classes: derived (checked)"),
]


def check_layout(ckpt: ReferenceCheckpoint) -> None:
    if not ckpt.has(SIGNATURE):
        raise CheckpointError(f"{ckpt.path}: not an EZ-HOI checkpoint: no {SIGNATURE}")
    for key in ("clip_head.prompt_learner.token_prompts", "label_HO",
                "clip_head.image_encoder.proj", "mem_adapter.down_proj_mem.weight",
                "priors_downproj.layers.0.weight"):
        if not ckpt.has(key):
            raise CheckpointError(f"{ckpt.path}: EZ-HOI checkpoint without {key}: openhoi "
                                  "converts the released flags only (--use_insadapter "
                                  "--txtcls_pt --img_align --img_clip_pt --logits_type HO)")


def clip_state(ckpt: ReferenceCheckpoint) -> dict[str, Tensor]:
    """CLIP in OpenAI's key layout, without EZ-HOI's adapters."""
    out = {}
    for key, value in ckpt.state.items():
        if key.startswith("clip_head.image_encoder.") and "adaptermlp" not in key:
            out["visual." + key[len("clip_head.image_encoder."):]] = value
        elif re.fullmatch(r"clip_head\.(token_embedding\.weight|positional_embedding|"
                          r"text_projection|logit_scale|ln_final\..+|transformer\..+)", key):
            if "txtcls_adapter" not in key:
                out[key[len("clip_head."):]] = value
    return out


def read_prompts(path: str | Path | None, depth: int, n_ctx: int, width: int) -> Tensor:
    """The ``[depth, n, D]`` per-layer prompts from ``path`` (a tensor or a list of tensors,
    ``torch.save`` or safetensors ``prompts``)."""
    if path is None:
        raise ConfigError(f"EZ-HOI conversion needs the per-layer prompts (--prompts FILE). "
                          f"{PROMPTS_HELP}")
    from openhoi.models.detr.detr_checkpoint import load_weights_only

    obj: Any = load_weights_only(path)
    if isinstance(obj, dict):
        obj = obj.get("prompts", obj.get("txtcls_ctx_pt"))
    if isinstance(obj, list | tuple) and all(isinstance(t, Tensor) for t in obj):
        obj = torch.stack(list(obj))
    if not isinstance(obj, Tensor):
        raise CheckpointError(f"{path}: expected a [depth, n, D] tensor (or a list of [n, D] "
                              f"tensors) of EZ-HOI's per-layer prompts. {PROMPTS_HELP}")
    if tuple(obj.shape) != (depth, n_ctx, width):
        raise CheckpointError(f"{path}: prompts have shape {list(obj.shape)}, the checkpoint "
                              f"needs [{depth}, {n_ctx}, {width}] (--tune_LY, --N_CTX, text "
                              "width)")
    return obj.float()


def prompted_classes(ckpt: ReferenceCheckpoint, embeds: Tensor) -> list[int]:
    """Interaction classes of the rows of ``token_prompts`` ``[C, L, D]``, by matching them
    with ``embeds [I, L, D]``, the token embeddings of every class's ``"<init> <class>."``."""
    theirs = ckpt.state["clip_head.prompt_learner.token_prompts"].float()
    if theirs.shape[1:] != embeds.shape[1:]:
        raise CheckpointError(f"{ckpt.path}: token_prompts has shape {list(theirs.shape)}; the "
                              f"text tower gives [C, {embeds.shape[1]}, {embeds.shape[2]}]")
    index = torch.cdist(theirs.flatten(1), embeds.flatten(1).float()).argmin(1)  # [C]
    # the nearest row must be the same lookup (the distance above is only approximate)
    err = (theirs - embeds[index].float()).abs().flatten(1).max(1).values  # [C]
    bad = (err > 1e-5 * embeds.abs().max()).nonzero().squeeze(1)
    if len(bad):
        raise CheckpointError(
            f"{ckpt.path}: token_prompts row {int(bad[0])} is the prompt of no interaction "
            "class of the label space ('A photo of <class>.'): other class names or --CTX_INIT")
    if len(set(index.tolist())) != len(index):
        raise CheckpointError(f"{ckpt.path}: token_prompts names an interaction class twice")
    return index.tolist()


def check_verbs(ckpt: ReferenceCheckpoint, classes: list[int], space: LabelSpace) -> None:
    """``label_HO [C, V]`` must be the one-hot verbs of the prompted classes."""
    theirs = ckpt.state["label_HO"].float()
    ours = F.one_hot(space.interaction_verb[classes], space.num_verbs).float()
    if theirs.shape != ours.shape or not torch.equal(theirs, ours):
        raise CheckpointError(f"{ckpt.path}: label_HO {list(theirs.shape)} is not the one-hot "
                              f"verbs of the prompted classes of label space {space.name!r}")


def detector_state(ckpt: ReferenceCheckpoint) -> dict[str, Tensor]:
    """UPT's DETR in DETR's own key layout (``detector.`` removed); empty if none."""
    return {k[len(DETECTOR):]: v for k, v in ckpt.state.items() if k.startswith(DETECTOR)}


def detector_config(ckpt: ReferenceCheckpoint, report: ConversionReport
                    ) -> tuple[DetectorConfig, int]:
    """The DETR architecture and head classes (without no-object) of ``detector.*``, read from
    the shapes; EZ-HOI's ``--nheads 8``, no dilation. Raises ``CheckpointError`` naming the
    file for a layout that is not DETR's or a head no label space row fits."""
    state = detector_state(ckpt)
    where = f"{ckpt.path} (detector.*)"
    cfg = infer_detr_config(state, where)
    cfg = replace(cfg, num_heads=8, dilation=False)
    bias = state.get("class_embed.bias")
    rows = int(state["class_embed.weight"].shape[0])
    if bias is None or tuple(bias.shape) != (rows,):
        raise CheckpointError(f"{where}: detector.class_embed.bias has shape "
                              f"{None if bias is None else list(bias.shape)}, the class head's "
                              f"weight has {rows} rows")
    for field in ("backbone", "hidden_dim", "num_queries", "dim_feedforward",
                  "num_encoder_layers", "num_decoder_layers", "pre_norm"):
        report.infer(f"model.instances.detector.{field}", getattr(cfg, field),
                     "shapes of detector.*")
    report.infer("model.instances.detector.num_heads", 8, "EZ-HOI --nheads default (not in "
                 "the weights; --set model.instances.detector.num_heads=N)")
    report.infer("model.instances.detr_classes", rows - 1,
                 "rows of detector.class_embed, less no-object (80: UPT's HICO-DET fine-tune, "
                 "COCO categories in id order; 91: DETR's COCO head)")
    return cfg, rows - 1


def gather(ckpt: ReferenceCheckpoint, report: ConversionReport, utpl: bool,
           detector: bool = True) -> TensorMap:
    """Every mapped tensor; ``compound_prompt_proj_vis.N`` shifts to ``to_visual.N+1``;
    ``detector.*`` onto the model's ``PlainDETR`` (``detector``) or ignored (a detections
    file gives the instances)."""
    out = TensorMap()
    for key, value in ckpt.state.items():
        m = re.fullmatch(rf"{PL}compound_prompt_proj_vis\.(\d+)\.(weight|bias)", key)
        if m:
            out.put(f"prompts.to_visual.{int(m.group(1)) + 1}.{m.group(2)}", key, value)
        elif detector and key.startswith(DETECTOR):
            out.put(DETECTOR + detr_key(key[len(DETECTOR):]), key, value)
    ignore = list(IGNORE)
    if not detector:
        ignore.append((r"detector\..+", "UPT's DETR (frozen): the converted model reads its "
                       "instances from the detections file (--detections)"))
    if not utpl:
        ignore.append((rf"{PL}unseen_pt_adapter\..+", "UTPL adapter of a model converted "
                       "without a zero-shot split (not built; under the released text-prompt "
                       "placement it does not change the outputs)"))
    apply_rules(ckpt, out, RULES, ignore)
    return out
