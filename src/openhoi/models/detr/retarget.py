"""Open vocabulary for ``HOIDetector``: make a trained model score another label space's
classes, in place (``HOIDetector.retarget``; the user's list is parsed by
``openhoi.open_vocab``).

* Interaction classifier and the zero-shot scorer: rows of interactions known to the base
  space keep their trained weights (and bias); new interactions get the normalised CLIP text
  embedding of their prompt (bias 0).
* Object classifier (CLIP-text head): known objects keep their rows, new objects get the text
  embedding of the model's object prompt; the no-object row is kept. ViLD's head: known
  objects keep their rows, new ones are encoded as its training rows were (its text encoder
  and prompt ensemble) and count as novel in its ensemble; the background stays.
* The head's own class-indexed parts (HOICLIP's verb adapter) follow through the head's
  ``retarget_verbs`` when it has one.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from openhoi.label_space import LabelSpace, class_index_maps
from openhoi.models.clip.text_classifier import (
    interaction_prompts,
    object_prompts,
    text_embeddings,
)
from openhoi.models.clip.vild import ViLDObjectClassifier, retarget_vild
from openhoi.models.contract import OpenVocabularyError
from openhoi.models.detr.heads import TextObjectClassifier


def rows(old: Tensor, old_index: list[int], new_rows: Tensor) -> Tensor:
    """Row i = ``old[old_index[i]]`` where that index is >= 0, else ``new_rows[i]``."""
    idx = torch.tensor(old_index, dtype=torch.long, device=old.device)
    known = idx >= 0
    out = new_rows.to(old.device, old.dtype).clone()
    out[known] = old[idx[known]]
    return out


def _linear_with_rows(lin: nn.Linear, keep: list[int], new_weight: Tensor) -> nn.Linear:
    """A new ``nn.Linear`` whose row i is ``lin``'s row ``keep[i]`` (or ``new_weight[i]``
    where ``keep[i] < 0``; bias 0 there)."""
    weight = rows(lin.weight.detach(), keep, new_weight)
    out = nn.Linear(weight.shape[1], weight.shape[0], bias=lin.bias is not None)
    out = out.to(lin.weight.device)
    with torch.no_grad():
        out.weight.copy_(weight)
        if lin.bias is not None:
            out.bias.copy_(rows(lin.bias.detach()[:, None], keep,
                                torch.zeros(len(keep), 1))[:, 0])
    return out


@torch.no_grad()
def retarget_hoi_detector(model: nn.Module, base: LabelSpace, new: LabelSpace) -> None:
    """Make ``model`` (an ``HOIDetector`` trained on ``base``) score ``new``'s classes.

    Raises:
        OpenVocabularyError: the object head is DETR's linear head (it has no text to extend)
            and ``new`` names an object the model was not trained on.
    """
    inter_idx, obj_idx, verb_idx = class_index_maps(base, new)
    clip = model.clip
    inter_text = F.normalize(text_embeddings(
        clip, interaction_prompts(new, model.interaction_template)).float(), dim=-1)
    classifier = model.head.classifier
    bias = None if classifier.bias is None else rows(
        classifier.bias[:, None], inter_idx, torch.zeros(len(inter_idx), 1))[:, 0]
    classifier.set_weights(rows(classifier.weight, inter_idx, inter_text), bias)
    model.zero_shot.text_embed = inter_text.to(model.zero_shot.text_embed.device)

    obj_head = model.detector.obj_classifier
    if isinstance(obj_head, ViLDObjectClassifier):
        retarget_vild(obj_head, obj_idx, new.objects, clip)
    else:
        _retarget_object_classifier(model, obj_head, obj_idx, new)

    retarget_verbs = getattr(model.head, "retarget_verbs", None)
    if retarget_verbs is not None:
        retarget_verbs(verb_idx, new)


def _retarget_object_classifier(model: nn.Module, obj_head: nn.Module, obj_idx: list[int],
                                new: LabelSpace) -> None:
    """Rows of the CLIP-text or linear object head for ``new``'s objects."""
    clip = model.clip
    lin = obj_head.classifier
    keep = obj_idx + [lin.weight.shape[0] - 1]  # + the no-object row
    if isinstance(obj_head, TextObjectClassifier):
        text = F.normalize(text_embeddings(clip, object_prompts(
            new, model.object_template, None)).float(), dim=-1)  # [O', E]
        new_text = torch.cat([text, torch.zeros(1, text.shape[1])])
    else:
        unknown = [new.objects[i] for i, j in enumerate(obj_idx) if j < 0]
        if unknown:
            raise OpenVocabularyError(
                f"objects {unknown} were not in the training classes and this model's object "
                "head is DETR's linear one (model.detector.obj_head=linear), which has no text "
                "embedding to extend; list only trained objects")
        new_text = torch.zeros(len(keep), lin.in_features)
    obj_head.classifier = _linear_with_rows(lin, keep, new_text)
