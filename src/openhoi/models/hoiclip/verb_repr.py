"""Verb class representations E_v by visual semantic arithmetic (HOICLIP Sec. 3.4, eq. 8).

A verb is what remains of an interaction region once the object is taken away: from CLIP's
global features f(R) of the union region R_hoi, the human region R_h and the object region
R_o of every annotated pair, E_v is built by one of three rules:

- ``hoiclip``: what HOICLIP's released code computes (``engine.py`` "trick for generate
  verb" with ``models/generate_image_feature/generate_verb.py``): per interaction i the
  L2-normalised sum of f(R_hoi) over its samples, minus the L2-normalised sum of f(R_o) over all
  samples with the same object (for the person class also the per-image mean of f(R_h));
  E_v = normalise(mean over the verb's interactions of that difference). Raw features are
  summed (the per-sample normalisation lines are commented out in ``generate_verb.py``).
- ``paper``: the paper's formula read literally, E_v = normalise(mean_samples f(R_hoi) - f(R_o)).
- ``variant_a``: E_v = normalise(mean_samples [(f(R_hoi) - f(R_h)) + (f(R_hoi) - f(R_o))] / 2),
  subtracting the human as well. (``generate_verb.py`` accumulates exactly this quantity, times
  two, but its result is never used.)

One sample = one (pair, verb) annotation, as HOICLIP iterates ``hoi_annotation`` entries.
Verbs without samples get a zero row and count 0. This file is pure tensor arithmetic; the CLIP
driver is ``openhoi.models.clip.region_features``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from openhoi.errors import CheckpointError
from openhoi.label_space import LabelSpace
from openhoi.models.clip.clip_files import check_metadata, load_tensor_file, save_tensor_file
from openhoi.models.clip.region_features import PairRegionFeatures

VerbRule = Literal["hoiclip", "paper", "variant_a"]
VERB_RULES: tuple[str, ...] = ("hoiclip", "paper", "variant_a")


def exclude_unseen(feats: PairRegionFeatures, space: LabelSpace, split: str) -> PairRegionFeatures:
    """Drop every pair that shows an unseen class of zero-shot ``split``.

    A pair goes if any of its (verb, object) interactions is unseen, or its object or one of its
    verbs is (UO/UV settings): HOICLIP's training set drops such pairs whole (``skip_pair`` in
    ``datasets_gen/hico.py``), so their regions are never seen in training either.
    """
    zs = space.zero_shot_split(split)
    inter = _pair_interactions(feats, space)  # [P, I]
    bad = torch.zeros(space.num_interactions, dtype=torch.bool)
    bad[list(zs.unseen_interactions)] = True
    drop = (inter.bool() & bad).any(dim=1)
    if zs.unseen_objects:
        drop |= torch.isin(feats.obj_labels, torch.tensor(zs.unseen_objects))
    if zs.unseen_verbs:
        drop |= feats.verbs[:, list(zs.unseen_verbs)].bool().any(dim=1)
    return feats.select(~drop)


def _pair_interactions(feats: PairRegionFeatures, space: LabelSpace) -> Tensor:
    return space.pair_interactions(feats.verbs.float(), feats.obj_labels)  # [P, I]


def _samples(feats: PairRegionFeatures, space: LabelSpace) -> tuple[Tensor, Tensor, Tensor]:
    """(pair index, verb index, interaction index) of each valid (pair, verb) sample."""
    pair, verb = feats.verbs.nonzero(as_tuple=True)  # [S], [S]
    obj = feats.obj_labels[pair]
    ok = (obj >= 0) & (obj < space.num_objects)
    pair, verb, obj = pair[ok], verb[ok], obj[ok]
    inter = space.interaction_table[verb, obj]  # [S], -1 where (verb, object) is no class
    keep = inter >= 0
    return pair[keep], verb[keep], inter[keep]


def _mean_by(index: Tensor, values: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Per-group sum of ``values [S, E]`` over ``index [S]`` and the group counts ``[size]``."""
    total = torch.zeros(size, values.shape[1], dtype=values.dtype).index_add_(0, index, values)
    count = torch.bincount(index, minlength=size)
    return total, count


def _hoiclip_rule(f: PairRegionFeatures, space: LabelSpace, pair: Tensor, verb: Tensor,
                  inter: Tensor) -> Tensor:
    num_i = space.num_interactions
    hoi_sum, hoi_count = _mean_by(inter, f.hoi[pair], num_i)  # [I, E], [I]
    obj = f.obj_labels[pair]
    obj_sum, _ = _mean_by(obj, f.obj[pair], space.num_objects)  # [O, E]
    # generate_verb.py: obj_feature[0] (the person) += h_feature.mean(0) once per image
    img = f.image_idx[pair]
    _, img_local = torch.unique(img, return_inverse=True)
    h_sum, h_count = _mean_by(img_local, f.human[pair], int(img_local.max()) + 1 if len(img) else 0)
    obj_sum[space.human_label] += (h_sum / h_count.clamp(min=1)[:, None]).sum(0)
    diff = F.normalize(hoi_sum, dim=-1) - F.normalize(obj_sum, dim=-1)[space.interaction_object]
    seen = hoi_count > 0  # interactions without samples have no direction (NaN in the reference)
    verb_sum, verb_n = _mean_by(space.interaction_verb[seen], diff[seen], space.num_verbs)
    return verb_sum / verb_n.clamp(min=1)[:, None]  # [V, E]


def verb_representations(
    feats: PairRegionFeatures,
    space: LabelSpace,
    rule: VerbRule = "hoiclip",
    normalize_features: bool = False,
) -> tuple[Tensor, Tensor]:
    """E_v of every verb from pair region features (see the module docstring for the rules).

    Args:
        feats: region features of the pairs to use (exclude unseen classes beforehand).
        space: the label space (verbs, interactions, person class).
        rule: ``hoiclip``, ``paper`` or ``variant_a``.
        normalize_features: L2-normalise each f(R) first (HOICLIP does not).

    Returns:
        ``[V, E]`` float32 L2-normalised E_v (zero rows for verbs without samples) and ``[V]``
        int64 number of (pair, verb) samples per verb.
    """
    if rule not in VERB_RULES:
        raise ValueError(f"rule must be one of {VERB_RULES}, got {rule!r}")
    f = replace(feats, hoi=feats.hoi.float(), human=feats.human.float(), obj=feats.obj.float())
    if normalize_features:
        f = replace(f, hoi=F.normalize(f.hoi, dim=-1), human=F.normalize(f.human, dim=-1),
                    obj=F.normalize(f.obj, dim=-1))
    pair, verb, inter = _samples(f, space)
    if rule == "hoiclip":
        mean = _hoiclip_rule(f, space, pair, verb, inter)
    elif rule == "paper":
        total, n = _mean_by(verb, f.hoi[pair] - f.obj[pair], space.num_verbs)
        mean = total / n.clamp(min=1)[:, None]
    else:  # variant_a
        delta = ((f.hoi[pair] - f.human[pair]) + (f.hoi[pair] - f.obj[pair])) / 2  # [S, E]
        total, n = _mean_by(verb, delta, space.num_verbs)
        mean = total / n.clamp(min=1)[:, None]
    counts = torch.bincount(verb, minlength=space.num_verbs)
    emb = F.normalize(mean, dim=-1)  # zero rows stay zero (F.normalize clamps the norm)
    emb[counts == 0] = 0.0
    return emb, counts


# ---- files -----------------------------------------------------------------------------------
VERB_REPR_FORMAT = "openhoi.verb_repr/1"


@dataclass
class VerbRepresentations:
    """E_v loaded from a file.

    Attributes:
        embeddings: ``[V, E]`` float32 verb representations (zero rows for verbs without
            samples).
        counts: ``[V]`` int64 samples per verb; ``None`` for HOICLIP's own ``verb.pth``.
        metadata: what produced them: ``rule``, ``arch``, ``weights_sha256``, ``weights_file``,
            ``annotation_file``, ``split``, ``zero_shot``, ``include_unseen``, ``label_space``
            (fingerprint), ``verbs``, ``embed_dim``, ``normalize_features``.
    """

    embeddings: Tensor
    counts: Tensor | None
    metadata: dict[str, Any]


def save_verb_representations(path: str | Path, embeddings: Tensor, counts: Tensor,
                              metadata: dict[str, Any]) -> None:
    """Write E_v ``[V, E]``, counts ``[V]`` and ``metadata`` to a safetensors file."""
    meta = dict(metadata, embed_dim=int(embeddings.shape[1]), num_verbs=int(embeddings.shape[0]))
    save_tensor_file(path, VERB_REPR_FORMAT, {"verb_embeddings": embeddings.float(),
                                              "verb_counts": counts.long()}, meta)


def load_verb_representations(
    path: str | Path,
    space: LabelSpace | None = None,
    embed_dim: int | None = None,
    **expected: Any,
) -> VerbRepresentations:
    """Read E_v and check it is what the caller expects.

    Reads ``openhoi verb-repr`` files (safetensors) and, for reproduction, HOICLIP's released
    ``verb.pth`` (a bare ``[V, E]`` tensor, which carries no metadata: only shapes are checked).

    Args:
        path: the file.
        space: the label space the model uses; its fingerprint and verb count must match.
        embed_dim: CLIP embedding size of the model.
        **expected: further metadata fields to check (``arch=``, ``weights_sha256=``,
            ``rule=``, ``zero_shot=``...); ``None`` values are not checked.

    Raises:
        CheckpointError: naming the file, the field, and both values.
    """
    path = Path(path)
    if path.suffix in (".pth", ".pt"):
        try:
            emb = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises several types for bad files
            raise CheckpointError(f"{path}: cannot read ({err})") from None
        if not isinstance(emb, Tensor) or emb.ndim != 2:
            raise CheckpointError(f"{path}: expected a [V, E] tensor (HOICLIP's verb.pth)")
        reps = VerbRepresentations(emb.float(), None, {"format": "hoiclip-verb.pth"})
    else:
        tensors, meta = load_tensor_file(path, VERB_REPR_FORMAT,
                                         ("verb_embeddings", "verb_counts"))
        reps = VerbRepresentations(tensors["verb_embeddings"].float(), tensors["verb_counts"],
                                   meta)
        check_metadata(path, meta, {"label_space": space.fingerprint if space else None,
                                    **expected})
    num_v, dim = reps.embeddings.shape
    if space is not None and num_v != space.num_verbs:
        raise CheckpointError(f"{path}: has {num_v} verbs, label space {space.fingerprint} "
                              f"has {space.num_verbs}")
    if embed_dim is not None and dim != embed_dim:
        raise CheckpointError(f"{path}: field 'embed_dim' is {dim}, expected {embed_dim} "
                              "(a different CLIP architecture?)")
    return reps
