"""Open-vocabulary interaction lists (``"ride horse, hold umbrella"``) as a ``LabelSpace``.

A model trained on one label space can be asked about interactions outside it: the new label
space reuses the training space's verbs and objects where the names match (so their trained
classifier rows, verb representations and ing forms carry over) and adds the rest; prompts are
built exactly like the training prompts ("a person riding a horse").

Entry syntax: ``VERB OBJECT``; the object is the longest known object name ending the entry,
else the verb is the longest known verb starting it, else the first word is the verb.
``VERB:OBJECT`` splits explicitly (``sit on:park bench``). Underscores and spaces are
interchangeable in names (``sit_on`` = ``sit on``).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from openhoi.config import ModelConfig
from openhoi.data.label_space import LabelSpace, label_space_from_dict
from openhoi.errors import OpenHOIError

_VOWELS = "aeiou"


class InteractionListError(OpenHOIError):
    """An open-vocabulary interaction list is empty or malformed."""


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())


def ing_form(verb: str) -> str:
    """Present participle of an English verb phrase's first word (``sit on`` -> ``sitting on``).

    Regular rules: ``lie`` -> ``lying``; a silent final ``e`` is dropped (``ride`` ->
    ``riding``, but ``see`` -> ``seeing``); a one-syllable word ending consonant-vowel-consonant
    doubles its last letter (``sit`` -> ``sitting``, ``stop`` -> ``stopping``; not w/x/y).
    """
    words = verb.split()
    if not words:
        raise InteractionListError("empty verb")
    w = words[0].lower()
    if w.endswith("ie"):
        w = w[:-2] + "ying"
    elif w.endswith("e") and not w.endswith(("ee", "ye", "oe")) and len(w) > 2:
        w = w[:-1] + "ing"
    else:
        syllables = len(re.findall(r"[aeiouy]+", w))
        cvc = (len(w) >= 3 and w[-1] not in _VOWELS + "wxy" and w[-2] in _VOWELS
               and w[-3] not in _VOWELS)
        w = w + w[-1] + "ing" if syllables == 1 and cvc else w + "ing"
    return " ".join([w, *words[1:]])


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in _VOWELS else "a"


def read_interaction_list(spec: str) -> list[str]:
    """Entries of a comma/newline separated list, or of the file ``spec`` names."""
    path = Path(spec)
    text = spec
    if "," not in spec and "\n" not in spec and path.suffix in (".txt", ".csv", ".list"):
        if not path.is_file():
            raise InteractionListError(f"{spec}: interaction list file not found")
        text = path.read_text()
    entries = [e.strip() for e in re.split(r"[,\n]", text)]
    entries = [e for e in entries if e and not e.startswith("#")]
    if not entries:
        raise InteractionListError(
            f"interaction list {spec!r} is empty: give entries like 'ride horse,hold umbrella' "
            "(or leave --interactions out to use the trained classes)")
    return entries


def split_entry(entry: str, base: LabelSpace) -> tuple[str, str]:
    """``(verb, object)`` names of one entry (see the module docstring for the rules)."""
    if ":" in entry:
        if entry.count(":") > 1:
            raise InteractionListError(
                f"interaction {entry!r} has {entry.count(':')} colons: write VERB:OBJECT with "
                "one colon (e.g. 'sit on:park bench')")
        verb, obj = (_norm(x) for x in entry.split(":", 1))
    else:
        words = _norm(entry).split()
        if len(words) < 2:
            raise InteractionListError(
                f"interaction {entry!r} needs a verb and an object, e.g. 'ride horse'")
        objects = sorted({_norm(o) for o in base.objects}, key=len, reverse=True)
        verbs = sorted({_norm(v) for v in base.verbs}, key=len, reverse=True)
        text = " ".join(words)
        obj = next((o for o in objects if text.endswith(" " + o)), None)
        if obj is not None:
            verb = text[: -len(obj) - 1]
        else:
            verb = next((v for v in verbs if text.startswith(v + " ")), None) or words[0]
            obj = text[len(verb) + 1:]
    if not verb or not obj:
        raise InteractionListError(f"interaction {entry!r} needs a verb and an object")
    return verb, obj


def open_vocab_label_space(entries: list[str], base: LabelSpace,
                           name: str = "open-vocabulary") -> LabelSpace:
    """A label space with one interaction per entry (in order), built on ``base``'s names.

    The human class of ``base`` is always kept as object class of index 0.
    """
    base_verbs = {_norm(v): i for i, v in enumerate(base.verbs)}
    base_objects = {_norm(o): i for i, o in enumerate(base.objects)}
    human = base.objects[base.human_label]
    objects: list[str] = [human]
    verbs: list[str] = []
    interactions = []
    seen = set()
    for entry in entries:
        verb, obj = split_entry(entry, base)
        if (verb, obj) in seen:
            raise InteractionListError(f"interaction {entry!r} is listed twice")
        seen.add((verb, obj))
        v_name = base.verbs[base_verbs[verb]] if verb in base_verbs else verb
        o_name = base.objects[base_objects[obj]] if obj in base_objects else obj
        if v_name not in verbs:
            verbs.append(v_name)
        if o_name not in objects:
            objects.append(o_name)
        ing = base.verb_ing[base_verbs[verb]] if verb in base_verbs else ing_form(verb)
        obj_text = _norm(o_name)
        phrase = (f"a person and {_article(obj_text)} {obj_text}" if _norm(v_name) ==
                  "no interaction" else f"a person {ing} {_article(obj_text)} {obj_text}")
        interactions.append({"verb": v_name, "object": o_name, "phrase": phrase})
    ing_of = {v: (base.verb_ing[base_verbs[_norm(v)]] if _norm(v) in base_verbs else ing_form(v))
              for v in verbs}
    obj_ids = {o: base.object_ids[base_objects[_norm(o)]] if _norm(o) in base_objects else -1 - k
               for k, o in enumerate(objects)}
    data = {
        "name": name,
        "objects": [{"name": o, "id": obj_ids[o]} for o in objects],
        "human_object": human,
        "verbs": [{"name": v, "id": k + 1, "ing": ing_of[v]} for k, v in enumerate(verbs)],
        "interactions": interactions,
    }
    return label_space_from_dict(data, where="--interactions")


def _rows(old: Tensor, old_index: list[int], new_rows: Tensor) -> Tensor:
    """Row i = ``old[old_index[i]]`` where that index is >= 0, else ``new_rows[i]``."""
    idx = torch.tensor(old_index, dtype=torch.long, device=old.device)
    known = idx >= 0
    out = new_rows.to(old.device, old.dtype).clone()
    out[known] = old[idx[known]]
    return out


def _class_maps(base: LabelSpace, new: LabelSpace) -> tuple[list[int], list[int], list[int]]:
    """Index in ``base`` of every interaction, object and verb of ``new`` (-1: unknown)."""
    obj_of = {_norm(o): i for i, o in enumerate(base.objects)}
    verb_of = {_norm(v): i for i, v in enumerate(base.verbs)}
    objects = [obj_of.get(_norm(o), -1) for o in new.objects]
    verbs = [verb_of.get(_norm(v), -1) for v in new.verbs]
    interactions = []
    for v, o in new.interactions:
        bv, bo = verbs[v], (objects[o] if o >= 0 else -1)
        interactions.append(base.interaction_index(bv, bo) if bv >= 0 and bo >= 0 else -1)
    return interactions, objects, verbs


def retarget_model(model: nn.Module, base: LabelSpace, new: LabelSpace,
                   cfg: ModelConfig) -> None:
    """Make ``model`` (trained on ``base``) score the classes of ``new``, in place.

    * Interaction classifier and the zero-shot scorer: rows of interactions known to ``base``
      keep their trained weights (and bias); new interactions get the normalised CLIP text
      embedding of their prompt (bias 0).
    * Object classifier (CLIP-text head): known objects keep their rows, new objects get the
      text embedding of ``cfg.clip.object_template``; the no-object row is kept.
    * Verb adapter (HOICLIP): known verbs keep E_v; a new verb has no visual representation,
      so its row is zero and S_v adds nothing for it (its score comes from S_inter alone).

    Raises:
        OpenHOIError: the object head is DETR's linear head (it has no text to extend) and the
            list names an object the model was not trained on.
    """
    from openhoi.models.heads import TextObjectClassifier
    from openhoi.models.text_classifier import (
        interaction_prompts,
        object_prompts,
        text_embeddings,
    )

    inter_idx, obj_idx, verb_idx = _class_maps(base, new)
    clip = model.clip
    inter_text = F.normalize(text_embeddings(
        clip, interaction_prompts(new, cfg.clip.interaction_template)).float(), dim=-1)
    head = model.head
    classifier = head.classifier
    bias = None if classifier.bias is None else _rows(
        classifier.bias[:, None], inter_idx, torch.zeros(len(inter_idx), 1))[:, 0]
    classifier.set_weights(_rows(classifier.weight, inter_idx, inter_text), bias)
    model.zero_shot.text_embed = inter_text.to(model.zero_shot.text_embed.device)

    obj_head = model.detector.obj_classifier
    if isinstance(obj_head, TextObjectClassifier):
        text = F.normalize(text_embeddings(clip, object_prompts(
            new, cfg.clip.object_template, None)).float(), dim=-1)  # [O', E]
        lin = obj_head.classifier
        keep = obj_idx + [lin.weight.shape[0] - 1]  # + the no-object row
        new_text = torch.cat([text, torch.zeros(1, text.shape[1])])
        weight = _rows(lin.weight.detach(), keep, new_text)
        new_lin = nn.Linear(weight.shape[1], weight.shape[0], bias=lin.bias is not None)
        new_lin = new_lin.to(lin.weight.device)
        with torch.no_grad():
            new_lin.weight.copy_(weight)
            if lin.bias is not None:
                new_lin.bias.copy_(_rows(lin.bias.detach()[:, None], keep,
                                         torch.zeros(len(keep), 1))[:, 0])
        obj_head.classifier = new_lin
    else:
        unknown = [new.objects[i] for i, j in enumerate(obj_idx) if j < 0]
        if unknown:
            raise InteractionListError(
                f"objects {unknown} were not in the training classes and this model's object "
                "head is DETR's linear one (model.detector.obj_head=linear), which has no text "
                "embedding to extend; list only trained objects")
        lin = model.detector.obj_classifier.classifier
        keep = obj_idx + [lin.weight.shape[0] - 1]
        new_lin = nn.Linear(lin.in_features, len(keep)).to(lin.weight.device)
        with torch.no_grad():
            new_lin.weight.copy_(lin.weight[keep])
            new_lin.bias.copy_(lin.bias[keep])
        model.detector.obj_classifier.classifier = new_lin

    adapter = getattr(head, "verb_adapter", None)
    if adapter is not None:
        old = adapter.verb_classifier.weight.detach()
        weight = _rows(old, verb_idx, torch.zeros(len(verb_idx), old.shape[1]))
        adapter.verb_classifier = nn.Linear(old.shape[1], len(verb_idx), bias=False).to(
            old.device)
        with torch.no_grad():
            adapter.verb_classifier.weight.copy_(weight)
        adapter.verb_to_interaction = new.verb_to_interaction.to(old.device)
