"""Text-initialised cosine classifiers: CLIP text embeddings of class prompts become weights.

HOICLIP and GEN-VLKT (``init_classifier_with_CLIP`` in ``models/models_hoiclip/hoiclip.py`` and
``models/gen_vlkt.py``) classify a feature x as ``exp(s) * (x / ||x|| @ W^T + b)``: ``W [C, E]``
starts as the L2-normalised CLIP text embeddings of one prompt per class and is *not*
re-normalised afterwards, ``b`` is an ``nn.Linear`` bias (present in their recipes, randomly
initialised; frozen with CLIP under ``--fix_clip``), ``s`` a learnable log logit scale starting
at log(1/0.07). ``CosineClassifier`` has exactly these parameters, so their checkpoints map onto
it one to one (``visual_projection.weight -> weight``, ``.bias -> bias``, ``logit_scale``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from openhoi.label_space import LabelSpace

if TYPE_CHECKING:
    from openhoi.models.clip.clip_knowledge import ClipKnowledge

CLIP_LOGIT_SCALE_INIT = math.log(1 / 0.07)
"""CLIP's initial temperature, HOICLIP's ``logit_scale`` / ``obj_logit_scale`` init."""


# ---- prompts ---------------------------------------------------------------------------------
def with_article(name: str) -> str:
    """``a cup`` / ``an apple``: ``an`` before a vowel letter.

    HOICLIP's object prompts (``hico_obj_text_label``) follow this rule except for one typo,
    ``a photo of a umbrella``; we write ``an umbrella``.
    """
    name = name.replace("_", " ")
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def interaction_prompts(space: LabelSpace, template: str = "a photo of {}") -> list[str]:
    """One prompt per interaction, official order: ``a photo of a person riding a horse``."""
    return space.prompts(template)


def object_prompts(
    space: LabelSpace,
    template: str = "a photo of {}",
    no_object: str | None = "a photo of nothing",
) -> list[str]:
    """One prompt per object class (``a photo of a cup``), plus ``no_object`` last if given.

    The ``no_object`` row is HOICLIP/GEN-VLKT's ``(80, 'a photo of nothing')``: the object
    classifier's last column is DETR's no-object class, initialised from this text.
    """
    prompts = [template.format(with_article(o)) for o in space.objects]
    return prompts + ([no_object] if no_object is not None else [])


def verb_prompts(space: LabelSpace, template: str = "a photo of a person {}") -> list[str]:
    """One prompt per verb from its participle (``a photo of a person riding``)."""
    return [template.format(ing) for ing in space.verb_ing]


@torch.no_grad()
def text_embeddings(
    clip: ClipKnowledge,
    prompts: Sequence[str],
    normalize: bool = True,
    batch_size: int = 256,
) -> Tensor:
    """CLIP text embeddings of ``prompts``, ``[T, E]`` float32, batched.

    ``normalize`` divides each row by its L2 norm, as the references do before using the
    embeddings as classifier weights (``text_embedding / text_embedding.norm(dim=-1)``).
    """
    emb = clip.encode_text(list(prompts), batch_size=batch_size)  # [T, E]
    return F.normalize(emb, dim=-1) if normalize else emb


# ---- classifier ------------------------------------------------------------------------------
class CosineClassifier(nn.Module):
    """``logits = exp(logit_scale) * (x / ||x|| @ weight^T + bias)``.

    Args:
        num_classes: C, rows of ``weight`` (for an object classifier: objects + 1 no-object).
        embed_dim: E, the CLIP embedding size of the inputs.
        bias: add a per-class bias (the references' ``nn.Linear`` default); initialised as
            ``nn.Linear`` does, U(-1/sqrt(E), 1/sqrt(E)), so a fresh model matches theirs in
            distribution.
        logit_scale: initial log scale (CLIP's log(1/0.07)); ``None`` gives an unscaled
            classifier whose caller owns the scale (HOICLIP shares one ``logit_scale`` between
            its interaction, zero-shot evaluation and verb classifiers).
        learn_logit_scale: whether the scale is trained.
        trainable: whether ``weight``/``bias`` are trained (``False`` = HOICLIP's
            ``--fix_clip``, which freezes ``visual_projection`` and ``obj_visual_projection``).

    Weights are plain parameters: ``set_weights`` swaps them (any number of classes) for
    open-vocabulary prediction from new prompts.
    """

    def __init__(
        self,
        num_classes: int,
        embed_dim: int,
        bias: bool = False,
        logit_scale: float | None = CLIP_LOGIT_SCALE_INIT,
        learn_logit_scale: bool = True,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.trainable = trainable
        weight = torch.empty(num_classes, embed_dim)
        nn.init.normal_(weight)
        self.weight = nn.Parameter(F.normalize(weight, dim=-1), requires_grad=trainable)
        if bias:
            bound = 1 / math.sqrt(embed_dim)
            self.bias = nn.Parameter(torch.empty(num_classes).uniform_(-bound, bound),
                                     requires_grad=trainable)
        else:
            self.register_parameter("bias", None)
        if logit_scale is not None:
            self.logit_scale = nn.Parameter(torch.tensor(float(logit_scale)),
                                            requires_grad=learn_logit_scale)
        else:
            self.register_parameter("logit_scale", None)

    @classmethod
    def from_embeddings(cls, embeddings: Tensor, **kwargs) -> CosineClassifier:
        """A classifier whose ``weight`` is ``embeddings [C, E]`` as given (normalise first)."""
        out = cls(embeddings.shape[0], embeddings.shape[1], **kwargs)
        out.set_weights(embeddings)
        return out

    @property
    def num_classes(self) -> int:
        return int(self.weight.shape[0])

    @torch.no_grad()
    def set_weights(self, weight: Tensor, bias: Tensor | None = None) -> None:
        """Replace the class weights with ``weight [C', E]`` (C' may differ from C).

        Args:
            weight: new weights, used as given (pass L2-normalised text embeddings).
            bias: ``[C']`` new bias when the classifier has one; ``None`` means zeros (new
                classes have no learned bias).
        """
        if weight.ndim != 2 or weight.shape[1] != self.embed_dim:
            raise ValueError(f"weight must be [C, {self.embed_dim}], got {list(weight.shape)}")
        dev = self.weight.device
        self.weight = nn.Parameter(weight.detach().to(dev, torch.float32).clone(),
                                   requires_grad=self.trainable)
        if self.bias is not None:
            if bias is None:
                bias = torch.zeros(weight.shape[0])
            if tuple(bias.shape) != (weight.shape[0],):
                raise ValueError(f"bias must be [{weight.shape[0]}], got {list(bias.shape)}")
            self.bias = nn.Parameter(bias.detach().to(dev, torch.float32).clone(),
                                     requires_grad=self.trainable)

    def forward(self, x: Tensor) -> Tensor:
        """``[..., E]`` features -> ``[..., C]`` logits."""
        x = F.normalize(x, dim=-1)  # the references' x / x.norm(dim=-1, keepdim=True)
        logits = F.linear(x, self.weight, self.bias)  # [..., C]
        if self.logit_scale is not None:
            logits = self.logit_scale.exp() * logits
        return logits

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, embed_dim={self.embed_dim}, "
                f"bias={self.bias is not None}, scaled={self.logit_scale is not None}")
