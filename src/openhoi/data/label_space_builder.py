"""Build a ``LabelSpace`` for your own dataset from class lists and training annotations.

Objects, verbs and their annotation ids come from the user's class lists; the interaction
classes are the (verb, object) pairs the user lists, or else every pair that occurs in the
training annotations (grouped by object, as HICO-DET orders its 600); verbs that may go without
an object get an objectless interaction. The rare split follows HICO-DET: an interaction is rare
when it has fewer than ``rare_threshold`` (10) training instances, one instance being one
``hoi_annotation`` entry (QPIC / GEN-VLKT ``set_rare_hois`` count ``trainval_hico.json`` so;
the MATLAB evaluation counts ``bbox_train`` rows). An interaction without any training instance
is rare too. Zero-shot splits are drawn from the same counts (``zero_shot_split``).
Prompts are made from the names: ``a person pouring a teapot``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from openhoi.data.annotations import parse_hoi_annotations
from openhoi.data.class_lists import (
    ClassEntry,
    InteractionEntry,
    interaction_phrase,
    present_participle,
)
from openhoi.data.records import HOIAnnotations
from openhoi.errors import DataError
from openhoi.label_space import LabelSpace, label_space_from_dict

ZERO_SHOT_KINDS = ("rf_uc", "nf_uc", "uo", "uv")


@dataclass
class AnnotationSource:
    """Annotations in the HICO-DET json layout (one dict per image) and how to name a record.

    Attributes:
        name: the file they come from (for errors).
        entries: the images, as in ``trainval_hico.json``.
        entry_lines: for CSV input, the line of each ``hoi_annotation`` entry, per image;
            None for json input (records are then named by image and entry index).
    """

    name: str
    entries: list[dict[str, Any]]
    entry_lines: list[list[int]] | None = None

    def where(self, image: int, entry: int) -> str:
        """``train.csv line 12`` or ``trainval.json: image 3 (a.jpg): hoi_annotation[2]``."""
        if self.entry_lines is not None:
            return f"{self.name} line {self.entry_lines[image][entry]}"
        return (f"{self.name}: image {image} ({self.entries[image].get('file_name')}): "
                f"hoi_annotation[{entry}]")


# ---- counting --------------------------------------------------------------------------------
def _provisional_space(objects: Sequence[ClassEntry], verbs: Sequence[ClassEntry],
                       human: str) -> LabelSpace:
    """Every (verb, object) combination and every objectless verb: reads any annotation."""
    inters = [{"verb": v.name, "object": o.name} for o in objects for v in verbs]
    inters += [{"verb": v.name, "object": None} for v in verbs]
    return label_space_from_dict({
        "name": "the --objects/--verbs lists",
        "objects": [{"name": o.name, "id": o.id} for o in objects],
        "verbs": [{"name": v.name, "id": v.id} for v in verbs],
        "human_object": human, "interactions": inters}, where="class lists")


@dataclass(frozen=True)
class EntryTable:
    """Every ``hoi_annotation`` entry of a source: ``[E]`` arrays (image, entry position in
    the image, verb index, subject label, object label (-1: none))."""

    image: np.ndarray
    position: np.ndarray
    verb: np.ndarray
    subject: np.ndarray
    object: np.ndarray


def entry_table(ann: HOIAnnotations) -> EntryTable:
    """Flatten the entries of read annotations (see ``EntryTable``)."""
    img = np.repeat(np.arange(len(ann)), ann.num_entries)  # [E]
    local_pair, verb = ann.hoi_entries[:, 0], ann.hoi_entries[:, 1]
    pair = ann.pair_idx[ann.pair_offsets[img] + local_pair]  # [E, 2] local box ids
    first_box = ann.box_offsets[img]
    subject = ann.labels[first_box + pair[:, 0]]
    has_obj = pair[:, 1] >= 0
    obj = np.where(has_obj, ann.labels[first_box + np.maximum(pair[:, 1], 0)], -1)
    position = np.arange(len(img)) - ann.entry_offsets[img]
    return EntryTable(img, position, verb, subject, obj)


def entry_interactions(table: EntryTable, space: LabelSpace) -> np.ndarray:
    """``[E]`` interaction index of every entry (objectless ones through the verb's objectless
    interaction), -1 where (verb, object) is not a class of ``space``."""
    with_obj = space.interaction_table[table.verb, np.maximum(table.object, 0)].numpy()
    return np.where(table.object >= 0, with_obj, space.objectless_table[table.verb].numpy())


def read_source(source: AnnotationSource, space: LabelSpace, skip_invalid: bool = False
                ) -> tuple[HOIAnnotations, EntryTable]:
    """Parse a source against ``space`` (object ids, verb ids, boxes are validated)."""
    ann = parse_hoi_annotations(source.entries, space, source=source.name,
                                allow_no_object=True, skip_invalid=skip_invalid)
    return ann, entry_table(ann)


def check_entries(source: AnnotationSource, ann: HOIAnnotations, table: EntryTable,
                  space: LabelSpace) -> None:
    """Every entry's subject is the human class and its (verb, object) a class of ``space``.

    Raises:
        DataError: naming the first record at fault (CSV line, or image and entry).
    """
    def fail(k: int, msg: str) -> None:
        raise DataError(f"{source.where(int(ann.indices[table.image[k]]), int(table.position[k]))}"
                        f": {msg}")

    bad = np.flatnonzero(table.subject != space.human_label)
    if bad.size:
        k = bad[0]
        fail(k, f"the subject is a {space.objects[table.subject[k]]!r} box, not the human class "
                f"{space.objects[space.human_label]!r}")
    inter = entry_interactions(table, space)
    for k in np.flatnonzero(inter < 0)[:1]:
        verb, obj = space.verbs[table.verb[k]], int(table.object[k])
        if obj < 0:
            fail(k, f"verb {verb!r} has no object, but it is not a verb without object "
                    "(list it in --no-object-verbs)")
        fail(k, f"({verb}, {space.objects[obj]}) is not an interaction class (add it to the "
                "interaction list)")


# ---- building --------------------------------------------------------------------------------
def _check_names(objects: Sequence[ClassEntry], verbs: Sequence[ClassEntry], human: str) -> None:
    for kind, entries in (("object", objects), ("verb", verbs)):
        names = [e.name for e in entries]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise DataError(f"{kind} classes repeat {dup}")
        ids = [e.id for e in entries]
        dup_ids = sorted({i for i in ids if ids.count(i) > 1})
        if dup_ids:
            raise DataError(f"{kind} ids repeat {dup_ids}")
    if human not in {o.name for o in objects}:
        raise DataError(f"the human class {human!r} is not in the object list (add it, or name "
                        "the list's human class with --human)")


def _interactions(objects: Sequence[ClassEntry], verbs: Sequence[ClassEntry],
                  listed: Sequence[InteractionEntry] | None, no_object_verbs: Sequence[str],
                  seen: set[tuple[int, int]]) -> list[InteractionEntry]:
    """The listed interactions (checked) or the pairs seen in training, plus objectless ones."""
    obj_names = {o.name for o in objects}
    verb_names = {v.name for v in verbs}
    for verb in no_object_verbs:
        if verb not in verb_names:
            raise DataError(f"--no-object-verbs: {verb!r} is not a verb class")
    if listed is not None:
        out = list(listed)
        for k, e in enumerate(out):
            if e.verb not in verb_names:
                raise DataError(f"interaction {k} ({e.verb}, {e.object}): unknown verb "
                                f"{e.verb!r}")
            if e.object is not None and e.object not in obj_names:
                raise DataError(f"interaction {k} ({e.verb}, {e.object}): unknown object "
                                f"{e.object!r}")
    else:
        out = [InteractionEntry(verbs[v].name, objects[o].name)
               for o, v in sorted((o, v) for v, o in seen if o >= 0)]
    have = {(e.verb, e.object) for e in out}
    out += [InteractionEntry(v, None) for v in no_object_verbs if (v, None) not in have]
    if not out:
        raise DataError("no interaction classes: the training annotations have no HOI and no "
                        "interaction list was given")
    return out


def zero_shot_split(kind: str, value: str, space: LabelSpace, counts: np.ndarray
                    ) -> dict[str, list[int]]:
    """One zero-shot split of ``space`` from training ``counts`` ``[I]``.

    ``rf_uc=N``: the N interactions with the fewest training instances (rare first; ties by
    index); ``nf_uc=N``: the N with the most (non-rare first); ``uo=obj,obj``: the objects and
    all their interactions; ``uv=verb,verb``: the verbs and all their interactions. Objectless
    interactions are never drawn for ``rf_uc`` / ``nf_uc``.
    """
    if kind in ("rf_uc", "nf_uc"):
        try:
            n = int(value)
        except ValueError:
            raise DataError(f"--zero-shot {kind}={value}: give a number of interactions") from None
        candidates = np.array([i for i, (_, o) in enumerate(space.interactions) if o >= 0])
        if not 0 < n < len(candidates):
            raise DataError(f"--zero-shot {kind}={n}: choose 1 to {len(candidates) - 1} of the "
                            f"{len(candidates)} interactions with an object")
        key = counts[candidates] if kind == "rf_uc" else -counts[candidates]
        order = np.lexsort((candidates, key))  # by count, then by index
        return {"unseen_interactions": sorted(int(i) for i in candidates[order[:n]])}
    if kind in ("uo", "uv"):
        names = [s.strip() for s in value.split(",") if s.strip()]
        pool = space.objects if kind == "uo" else space.verbs
        unknown = [s for s in names if s not in pool]
        if unknown or not names:
            raise DataError(f"--zero-shot {kind}={value}: unknown "
                            f"{'object' if kind == 'uo' else 'verb'} classes {unknown}")
        idx = sorted(pool.index(s) for s in names)
        if kind == "uo" and space.human_label in idx:
            raise DataError(f"--zero-shot uo: the human class {space.objects[space.human_label]!r}"
                            " cannot be unseen")
        col = 1 if kind == "uo" else 0
        inter = [i for i, pair in enumerate(space.interactions) if pair[col] in idx]
        key = "unseen_objects" if kind == "uo" else "unseen_verbs"
        return {key: idx, "unseen_interactions": inter}
    raise DataError(f"--zero-shot {kind}: unknown split kind; use one of {list(ZERO_SHOT_KINDS)}")


def _check_objectless(read: list, verbs: Sequence[ClassEntry],
                      no_object_verbs: Sequence[str]) -> None:
    """Entries without an object only for the declared verbs (names the first other one)."""
    allowed = sorted(k for k, v in enumerate(verbs) if v.name in set(no_object_verbs))
    for src, ann, table in read:
        bad = np.flatnonzero((table.object < 0) & ~np.isin(table.verb, allowed))
        if bad.size:
            k = bad[0]
            raise DataError(
                f"{src.where(int(ann.indices[table.image[k]]), int(table.position[k]))}: "
                f"verb {verbs[table.verb[k]].name!r} has no object, but it is not a verb "
                "without object (list it in --no-object-verbs)")


def _count(read: list, space: LabelSpace) -> np.ndarray:
    """``[I]`` training instances per interaction, after checking every entry against it."""
    counts = np.zeros(space.num_interactions, dtype=np.int64)
    for src, ann, table in read:
        check_entries(src, ann, table, space)
        counts += np.bincount(entry_interactions(table, space),
                              minlength=space.num_interactions)
    return counts


def build_label_space(
    name: str,
    objects: Sequence[ClassEntry],
    verbs: Sequence[ClassEntry],
    train: Sequence[AnnotationSource],
    *,
    human: str = "person",
    interactions: Sequence[InteractionEntry] | None = None,
    no_object_verbs: Sequence[str] = (),
    rare_threshold: int = 10,
    zero_shot: Mapping[str, str] | None = None,
    description: str = "",
    skip_invalid: bool = False,
) -> LabelSpace:
    """A validated label space with its rare split (and zero-shot splits) from training counts.

    Args:
        name: short id of the dataset (part of the fingerprint stored in checkpoints).
        objects, verbs: the classes, in classifier order, with their annotation ids.
        train: the training annotations (one or more files).
        human: the human class (an object class).
        interactions: the interaction classes in order; None: every (verb, object) pair of the
            training annotations, by object then verb.
        no_object_verbs: verbs that may have no object; each gets an objectless interaction.
        rare_threshold: rare = fewer training instances than this (HICO-DET: 10).
        zero_shot: ``{kind: value}`` splits to draw, see ``zero_shot_split``.
        description: free text kept in the JSON.
        skip_invalid: drop malformed training images instead of failing.

    Returns:
        The label space; ``extra["train_counts"]`` holds the training instances per
        interaction.

    Raises:
        DataError: naming the class, or the record (file, line or image, entry) at fault.
    """
    _check_names(objects, verbs, human)
    provisional = _provisional_space(objects, verbs, human)
    read = [(src, *read_source(src, provisional, skip_invalid)) for src in train]
    _check_objectless(read, verbs, no_object_verbs)
    seen = {(int(v), int(o)) for _, _, t in read for v, o in zip(t.verb, t.object)}
    inters = _interactions(objects, verbs, interactions, no_object_verbs, seen)
    verb_by_name = {v.name: v for v in verbs}
    data: dict[str, Any] = {
        "name": name,
        "description": description,
        "objects": [{"name": o.name, "id": o.id} for o in objects],
        "human_object": human,
        "verbs": [{"name": v.name, "id": v.id, "ing": v.ing or present_participle(v.name)}
                  for v in verbs],
        "interactions": [{"verb": e.verb, "object": e.object,
                          "phrase": e.phrase or interaction_phrase(verb_by_name[e.verb],
                                                                   e.object)}
                         for e in inters],
    }
    space = label_space_from_dict(data, where="label space")
    counts = _count(read, space)
    data["rare"] = {"threshold": rare_threshold,
                    "interactions": [int(i) for i in np.flatnonzero(counts < rare_threshold)]}
    data["zero_shot"] = {kind: zero_shot_split(kind, value, space, counts)
                         for kind, value in (zero_shot or {}).items()}
    data["train_counts"] = [int(c) for c in counts]
    data["sources"] = {"train_counts": ", ".join(src.name for src in train),
                       "built_by": "openhoi label-space build"}
    return label_space_from_dict(data, where="label space")
