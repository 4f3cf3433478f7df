"""Open-vocabulary interaction lists (``"ride horse, hold umbrella"``) as a ``LabelSpace``.

Parsing only: a model scores the new space through its own ``HOIModel.retarget``.

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

from openhoi.errors import OpenHOIError
from openhoi.label_space import LabelSpace, label_space_from_dict, normalize_name

_VOWELS = "aeiou"


class InteractionListError(OpenHOIError):
    """An open-vocabulary interaction list is empty or malformed."""


_norm = normalize_name


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
        raise InteractionListError(f"interaction list {spec!r} is empty")
    return entries


def split_entry(entry: str, base: LabelSpace) -> tuple[str, str]:
    """``(verb, object)`` names of one entry (see the module docstring for the rules)."""
    if ":" in entry:
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


def object_vocabulary_entries(objects: list[str], base: LabelSpace,
                              interactions: list[str] | None = None) -> list[str]:
    """Interaction entries (``VERB:OBJECT``) for an open object vocabulary.

    Each listed object brings its interactions: a training object its training ones, a new
    object one per training verb (the model's verbs are all it can recognise; which of them
    apply to a new object is for its scores to say). ``interactions`` (an ``--interactions``
    list) come first; an object it already names adds nothing more.

    Raises:
        InteractionListError: an empty object name, or the human class listed as an object.
    """
    known = {_norm(o): i for i, o in enumerate(base.objects)}
    human = _norm(base.objects[base.human_label])
    entries = list(interactions or [])
    named = {split_entry(e, base)[1] for e in entries}
    for obj in objects:
        name = _norm(obj)
        if not name:
            raise InteractionListError("empty object name in the object list")
        if name == human:
            raise InteractionListError(f"{obj!r} is the human class, not an object to list")
        if name in named:
            continue
        named.add(name)
        if name in known:
            o = known[name]
            verbs = [base.verbs[v] for v, oo in base.interactions if oo == o]
        else:
            verbs = list(base.verbs)
        entries += [f"{_norm(v)}:{name}" for v in verbs]
    if not entries:
        raise InteractionListError("the object list is empty")
    return entries
