"""State dicts shaped like the released HOICLIP / GEN-VLKT checkpoints, from key/shape tables
written from the reference architectures (not from openhoi's modules):

* detector: GEN-VLKT ``models/gen_vlkt.py`` / ``models/gen.py`` (DETR transformer layers:
  ``self_attn``, ``multihead_attn``, ``linear1/2``, ``norm1..3``) and DETR's ``Joiner`` backbone
  (``backbone.0.body`` = torchvision ResNet without ``fc``, frozen BN: 4 buffers, no counter);
* HOICLIP: ``models/models_hoiclip/hoiclip.py`` + ``gen.py`` (``TransformerDecoderFusionLayer``
  has ``norm1..4``; ``inter2verb`` = ``MLP(E, E // 2, E, 3)``; ``verb2hoi_proj`` parameters);
* CLIP: OpenAI's ``model.py`` ViT layout (``ModifiedCLIP``), at openhoi-tiny's sizes.

Tiny sizes wherever the layout lets the converter infer them from shapes (hidden width,
feed-forward width, layers, queries, CLIP widths); class counts are the real ones.
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

import torch
import torchvision
from torchvision.ops.misc import FrozenBatchNorm2d

# openhoi-tiny CLIP: vision width 48 / 2 layers / patch 8 / 32 px, text width 32 / 1 layer.
CLIP_W, CLIP_LAYERS, PATCH, IMAGE, TEXT_W, TEXT_LAYERS, EMBED = 48, 2, 8, 32, 32, 1, 32
D, FFN, ENC, DEC, QUERIES, INTER_FFN = 32, 64, 1, 2, 4, 64


def _attn(prefix: str, w: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.in_proj_weight": (3 * w, w), f"{prefix}.in_proj_bias": (3 * w,),
            f"{prefix}.out_proj.weight": (w, w), f"{prefix}.out_proj.bias": (w,)}


def _linear(prefix: str, n_in: int, n_out: int, bias: bool = True) -> dict[str, tuple]:
    return {f"{prefix}.weight": (n_out, n_in), **({f"{prefix}.bias": (n_out,)} if bias else {})}


def _norm(prefix: str, w: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (w,), f"{prefix}.bias": (w,)}


def detr_layer(prefix: str, w: int, ffn: int, decoder: bool) -> dict[str, tuple]:
    """DETR ``TransformerEncoderLayer`` / ``TransformerDecoderLayer`` keys."""
    out = {**_attn(f"{prefix}.self_attn", w), **_linear(f"{prefix}.linear1", w, ffn),
           **_linear(f"{prefix}.linear2", ffn, w), **_norm(f"{prefix}.norm1", w),
           **_norm(f"{prefix}.norm2", w)}
    if decoder:
        out.update({**_attn(f"{prefix}.multihead_attn", w), **_norm(f"{prefix}.norm3", w)})
    return out


@functools.lru_cache
def backbone(name: str = "resnet18") -> dict[str, tuple]:
    net = getattr(torchvision.models, name)(weights=None, norm_layer=FrozenBatchNorm2d)
    return {f"backbone.0.body.{k}": tuple(v.shape) for k, v in net.state_dict().items()
            if not k.startswith("fc.")}


def mlp(prefix: str, dims: list[int]) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        out.update(_linear(f"{prefix}.layers.{i}", a, b))
    return out


def clip_layout(prefix: str = "clip_model.") -> dict[str, tuple]:
    """OpenAI CLIP ViT keys (``visual.*`` + text tower)."""
    grid = IMAGE // PATCH
    out: dict[str, tuple] = {
        "visual.class_embedding": (CLIP_W,), "visual.positional_embedding": (grid**2 + 1, CLIP_W),
        "visual.proj": (CLIP_W, EMBED), "visual.conv1.weight": (CLIP_W, 3, PATCH, PATCH),
        **_norm("visual.ln_pre", CLIP_W), **_norm("visual.ln_post", CLIP_W),
        "positional_embedding": (77, TEXT_W), "text_projection": (TEXT_W, EMBED),
        "logit_scale": (), "token_embedding.weight": (49408, TEXT_W), **_norm("ln_final", TEXT_W)}
    for tower, w, n in (("visual.transformer", CLIP_W, CLIP_LAYERS),
                        ("transformer", TEXT_W, TEXT_LAYERS)):
        for i in range(n):
            p = f"{tower}.resblocks.{i}"
            out.update({**_attn(f"{p}.attn", w), **_norm(f"{p}.ln_1", w),
                        **_norm(f"{p}.ln_2", w), **_linear(f"{p}.mlp.c_fc", w, 4 * w),
                        **_linear(f"{p}.mlp.c_proj", 4 * w, w)})
    return {prefix + k: v for k, v in out.items()}


def detector_layout(num_obj_rows: int) -> dict[str, tuple]:
    """GEN-VLKT/HOICLIP detector part with the CLIP object head (``--with_obj_clip_label``)."""
    out = {**backbone(), **_linear("input_proj", 512, D)}  # copy: backbone() is cached
    out["input_proj.weight"] = (D, 512, 1, 1)
    for i in range(ENC):
        out.update(detr_layer(f"transformer.encoder.layers.{i}", D, FFN, decoder=False))
    for i in range(DEC):
        out.update(detr_layer(f"transformer.instance_decoder.layers.{i}", D, FFN, decoder=True))
    out.update(_norm("transformer.instance_decoder.norm", D))
    for name in ("query_embed_h", "query_embed_o", "pos_guided_embedd"):
        out[f"{name}.weight"] = (QUERIES, D)
    out.update({**mlp("hum_bbox_embed", [D, D, D, 4]), **mlp("obj_bbox_embed", [D, D, D, 4])})
    out.update({**_linear("obj_class_fc.0", D, EMBED), **_norm("obj_class_fc.1", EMBED),
                **_linear("obj_visual_projection", EMBED, num_obj_rows)})
    out.update({"logit_scale": (), "obj_logit_scale": (),
                **_linear("hoi_class_fc.0", D, EMBED), **_norm("hoi_class_fc.1", EMBED)})
    return out


def hoiclip_layout(num_interactions: int, num_obj_rows: int, num_verbs: int,
                   seen: int | None = None, hico: bool = True) -> dict[str, tuple]:
    """HOICLIP (``--with_clip_label --with_obj_clip_label``, ``fix_clip_label`` off); ``seen``
    = rows of the training classifier of a zero-shot model (``--del_unseen``)."""
    out = detector_layout(num_obj_rows)
    for i in range(DEC):  # GEN's unused GEN-VLKT interaction decoder
        out.update(detr_layer(f"transformer.interaction_decoder.layers.{i}", D, FFN, True))
    out.update(_norm("transformer.interaction_decoder.norm", D))
    for i in range(DEC):  # TransformerDecoderFusionLayer at CLIP's width
        p = f"transformer.clip_interaction_decoder.layers.{i}"
        out.update(detr_layer(p, CLIP_W, INTER_FFN, decoder=True))
        out.update(_norm(f"{p}.norm4", CLIP_W))
    out.update(_norm("transformer.clip_interaction_decoder.norm", CLIP_W))
    out["transformer.inter_guided_embedd.weight"] = (QUERIES, CLIP_W)
    out.update({**_linear("transformer.queries2spacial_proj", D, CLIP_W),
                **_norm("transformer.queries2spacial_proj_norm", CLIP_W),
                **_linear("transformer.obj_class_fc", D, CLIP_W),
                **_norm("transformer.obj_class_ln", CLIP_W)})
    out.update(mlp("inter2verb", [EMBED, EMBED // 2, EMBED // 2, EMBED]))
    out["verb_projection.weight"] = (num_verbs, EMBED)
    out["verb2hoi_proj"] = (num_verbs, seen or num_interactions)
    out.update(_linear("visual_projection", EMBED, seen or num_interactions))
    if seen is not None:
        out.update(_linear("eval_visual_projection", EMBED, num_interactions, bias=False))
    if hico:  # HICO-DET models always carry the all-interaction copy
        out["verb2hoi_proj_eval"] = (num_verbs, num_interactions)
    out.update(clip_layout())
    return out


def gen_vlkt_layout(num_interactions: int, num_obj_rows: int,
                    seen: int | None = None) -> dict[str, tuple]:
    """YueLiao/gen-vlkt ``hico_s.sh`` (no CLIP in the state dict); zero-shot models add an
    ``eval_visual_projection`` (an ``nn.Linear`` with bias) over all interactions."""
    out = detector_layout(num_obj_rows)
    for i in range(DEC):
        out.update(detr_layer(f"transformer.interaction_decoder.layers.{i}", D, FFN, True))
    out.update(_norm("transformer.interaction_decoder.norm", D))
    out.update(_linear("visual_projection", EMBED, seen or num_interactions))
    if seen is not None:
        out.update(_linear("eval_visual_projection", EMBED, num_interactions))
    return out


def random_state(shapes: dict[str, tuple], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors of the given shapes (BN variances positive, log-scales moderate)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in shapes.items():
        t = torch.randn(shape, generator=g) * 0.1
        if key.endswith("running_var"):
            t = t.abs() + 0.5
        elif key.endswith("logit_scale"):
            t = torch.tensor(2.0)
        out[key] = t
    return out


def release(state: dict[str, torch.Tensor], **args: Any) -> dict[str, Any]:
    """The dict their ``main.py`` saves (``args`` omitted when none are given)."""
    ckpt: dict[str, Any] = {"model": state, "epoch": 89,
                            "optimizer": {"state": {}, "param_groups": []}}
    if args:
        ckpt["args"] = argparse.Namespace(**args)
    return ckpt


def hoiclip_verb2hoi(space) -> torch.Tensor:
    """HOICLIP's ``verb2hoi_proj`` as ``hoiclip.py`` builds it: HICO-DET from
    ``HOI_IDX_TO_ACT_IDX`` (verb of each interaction); V-COCO with ``verb2hoi_proj[v][o] = 1``
    over ``vcoco_hoi_text_label``'s (verb, object) keys, object-less ones being object ``O``."""
    m = torch.zeros(space.num_verbs, space.num_interactions)
    for i, (v, o) in enumerate(space.interactions):
        if space.objectless_interactions:  # V-COCO
            m[v, o if o >= 0 else space.num_objects] = 1.0
        else:
            m[v, i] = 1.0
    return m


def tiny_clip_state() -> dict[str, torch.Tensor]:
    """A random openhoi-tiny CLIP state dict (OpenAI key layout), as a CLIP weight file."""
    import open_clip

    from openhoi.models.clip.clip_loading import register_openhoi_configs

    register_openhoi_configs()
    torch.manual_seed(0)
    return open_clip.create_model("openhoi-tiny", pretrained=None).state_dict()
