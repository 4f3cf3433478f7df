"""A checkpoint shaped like EZ-HOI's releases (pocket's ``ckpt_*.pt`` of ``UPT`` with the
released flags), from a key/shape table written from EZ-HOI's modules (not openhoi's), at
openhoi-tiny's CLIP size:

* ``UPT``: ``mem_adapter`` (``Adapter(mem_adpt_self=True)``: ``down_proj_mem``, ``up_proj_mem``,
  ``down_proj_prior`` = ``MLP(E, 128, 64, 3)``, ``mhsa_layers.0`` = ``transformer_module.
  TransformerDecoderLayer``: self + cross attention, norm1..3), ``vis_fuse.{0,2}``, ``label_HO``,
  ``logit_scale_HO``, ``priors_downproj`` = ``MLP(5 + E, 128, 64, 3)``, ``detector`` = a tiny
  DETR in facebookresearch/detr's layout (``detr_layout.detr_state``: R18, 2 heads, 81-row
  head as UPT's HICO-DET fine-tune) under ``detector.``, as ``UPT.detector`` saves it;
* ``clip_head`` (``CustomCLIP``): ``prompt_learner`` (``ctx``, ``proj``,
  ``compound_prompt_proj_vis.N``, ``txtcls_pt_adapter`` / ``img_clip_pt_adapter`` with
  ``TransformerDecoderLayer_CA`` (cross-attention, norm1..3), ``unseen_pt_adapter`` (self +
  cross), ``token_prompts``), ``image_encoder`` (CLIP's visual tower with ADA-CM's
  ``adaptermlp`` per block: ``scale``, ``down_proj``, ``up_proj``, cross-attention layer),
  the text tower twice (``clip_head.*`` and ``clip_head.text_encoder.*``) with a
  ``TextAdapter(768)`` in every text block.
"""

from __future__ import annotations

import open_clip
import torch
from detr_layout import detr_state
from reference_layouts import (
    CLIP_LAYERS,
    CLIP_W,
    EMBED,
    TEXT_LAYERS,
    TEXT_W,
    _attn,
    _linear,
    _norm,
    clip_layout,
    mlp,
)
from torch.nn import functional as F

DIM, N_CTX, DEPTH = 64, 2, 1  # --emb_dim, --N_CTX, --tune_LY (one text layer at this size)
HUMAN_BIAS = 5.0  # added to the DETR's person logit


def _layer(prefix: str, self_attention: bool) -> dict[str, tuple]:
    out = {**_attn(f"{prefix}.multihead_attn", DIM), **_linear(f"{prefix}.linear1", DIM, 2 * DIM),
           **_linear(f"{prefix}.linear2", 2 * DIM, DIM)}
    for k in (1, 2, 3):
        out.update(_norm(f"{prefix}.norm{k}", DIM))
    if self_attention:
        out.update(_attn(f"{prefix}.self_attn", DIM))
    return out


def _adapter(prefix: str, width: int, prior: int, self_attention: bool) -> dict[str, tuple]:
    """UPTF ``Adapter``: ``down_proj_mem``, ``up_proj_mem``, ``down_proj_prior``, one layer."""
    return {**_linear(f"{prefix}.down_proj_mem", width, DIM),
            **_linear(f"{prefix}.up_proj_mem", DIM, width),
            **mlp(f"{prefix}.down_proj_prior", [prior, 128, 128, DIM]),
            **_layer(f"{prefix}.mhsa_layers.0", self_attention)}


def ez_hoi_layout(num_classes: int, num_verbs: int) -> dict[str, tuple]:
    pl = "clip_head.prompt_learner"
    out: dict[str, tuple] = {
        **_adapter("mem_adapter", EMBED, EMBED, True),
        **_linear("vis_fuse.0", 2 * EMBED, EMBED), **_linear("vis_fuse.2", EMBED, EMBED),
        "label_HO": (num_classes, num_verbs), "logit_scale_HO": (),
        **mlp("priors_downproj", [5 + EMBED, 128, 128, DIM]),
        f"{pl}.ctx": (N_CTX, TEXT_W), **_linear(f"{pl}.proj", TEXT_W, CLIP_W),
        **_adapter(f"{pl}.txtcls_pt_adapter", TEXT_W, TEXT_W, False),
        **_adapter(f"{pl}.img_clip_pt_adapter", CLIP_W, TEXT_W, False),
        **_adapter(f"{pl}.unseen_pt_adapter", TEXT_W, TEXT_W, True),
        f"{pl}.token_prompts": (num_classes, 77, TEXT_W),
    }
    for i in range(DEPTH - 1):
        out.update(_linear(f"{pl}.compound_prompt_proj_vis.{i}", TEXT_W, CLIP_W))
    clip = clip_layout("")
    for key, shape in clip.items():
        if key.startswith("visual."):
            out["clip_head.image_encoder." + key[len("visual."):]] = shape
        else:
            out["clip_head." + key] = shape
            if key.startswith(("transformer.", "positional", "ln_final", "text_proj")):
                out["clip_head.text_encoder." + key] = shape
    for i in range(CLIP_LAYERS):
        p = f"clip_head.image_encoder.transformer.resblocks.{i}.adaptermlp"
        out.update({f"{p}.scale": (CLIP_W,), **_linear(f"{p}.down_proj", CLIP_W, DIM),
                    **_linear(f"{p}.up_proj", DIM, CLIP_W), **_layer(f"{p}.mhsa_layers.0", False)})
    for i in range(TEXT_LAYERS):
        for tower in ("clip_head.transformer", "clip_head.text_encoder.transformer"):
            out.update(_adapter(f"{tower}.resblocks.{i}.txtcls_adapter", 768, 768, False))
    return out


def ez_hoi_checkpoint(space, classes: list[int], seed: int = 0) -> dict:
    """pocket's checkpoint dict of a random EZ-HOI model prompting ``classes``, with
    ``token_prompts`` / ``label_HO`` computed as EZ-HOI does (token embeddings of
    ``"A photo of <class>."``; one-hot verbs)."""
    g = torch.Generator().manual_seed(seed)
    state = {k: 0.05 * torch.randn(shape, generator=g)
             for k, shape in ez_hoi_layout(len(classes), space.num_verbs).items()}
    for k in state:
        if k.endswith(("norm1.weight", "norm2.weight", "norm3.weight", "ln_1.weight",
                       "ln_2.weight", "ln_pre.weight", "ln_post.weight", "ln_final.weight")):
            state[k] = state[k] + 1
    detr = detr_state(80, seed)
    # sharper cross-attention and a wider final norm make the queries differ (a random DETR
    # gives every query the same box and class); a person bias makes some of them people
    for k in detr:
        if "multihead_attn.in_proj_weight" in k or k == "transformer.decoder.norm.weight":
            detr[k] = detr[k] * 5
    detr["class_embed.bias"][0] += HUMAN_BIAS
    state.update({"detector." + k: v for k, v in detr.items()})
    for k in [k for k in state if k.startswith("clip_head.text_encoder.")]:
        state[k] = state["clip_head." + k[len("clip_head.text_encoder."):]]
    tokens = open_clip.tokenize([f"A photo of {space.interaction_phrases[i]}." for i in classes])
    pl = "clip_head.prompt_learner"
    state[f"{pl}.token_prompts"] = F.embedding(tokens, state["clip_head.token_embedding.weight"])
    state["label_HO"] = F.one_hot(space.interaction_verb[classes], space.num_verbs).float()
    state["logit_scale_HO"] = torch.tensor(2.659)
    return {"iteration": 120, "epoch": 12, "model_state_dict": state,
            "optim_state_dict": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0]}]},
            "scheduler_state_dict": {"step_size": 10, "last_epoch": 12},
            "scaler_state_dict": {"scale": 65536.0}}
