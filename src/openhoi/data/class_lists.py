"""Class lists of your own dataset: objects and verbs with their annotation ids, interaction
classes, and the prompt phrases made from their names (``a person pouring a teapot``).

List files: ``.txt`` one name per line (ids 1, 2, ... in line order), or ``.csv`` with a header
(``name[,id][,ing]``; interactions ``verb,object[,phrase]``). Read by ``openhoi label-space
build`` (``openhoi.data.label_space_builder``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from openhoi.errors import DataError

NO_INTERACTION = "no_interaction"
"""HICO-DET's verb for a person next to an object; its prompt is ``a person and a horse``."""

@dataclass(frozen=True)
class ClassEntry:
    """One object or verb class: its name, its id in the annotation files, its participle."""

    name: str
    id: int
    ing: str | None = None


@dataclass(frozen=True)
class InteractionEntry:
    """One interaction class: verb name, object name (None: no object), optional phrase."""

    verb: str
    object: str | None
    phrase: str | None = None


def present_participle(verb: str) -> str:
    """The prompt form of a verb name: ``ride`` -> ``riding``, ``sit_on`` -> ``sitting on``.

    English spelling rules on the first word (drop a silent ``e``, ``ie`` -> ``ying``, double
    the last consonant of a one-vowel verb); gives HICO-DET's own participle for 115 of its
    117 verbs (not ``control``, which doubles its ``l``; ``no_interaction`` is ``and``).
    Give the participle in the verb list where this is wrong.
    """
    if verb == NO_INTERACTION:
        return "and"
    first, *rest = verb.replace("_", " ").split()
    w = first.lower()
    if w.endswith("ie"):
        w = w[:-2] + "ying"
    elif w.endswith("e") and not w.endswith(("ee", "ye", "oe")) and len(w) > 2:
        w = w[:-1] + "ing"
    elif re.fullmatch(r"[^aeiou]*[aeiou][^aeiouwxy]", w):
        w = w + w[-1] + "ing"
    else:
        w = w + "ing"
    return " ".join([w, *rest])


def _article(name: str) -> str:
    name = name.replace("_", " ")
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def interaction_phrase(verb: ClassEntry, obj: str | None) -> str:
    """``a person riding a horse``; ``a person and a horse`` (no_interaction); ``a person
    waving`` (no object)."""
    ing = verb.ing or present_participle(verb.name)
    return f"a person {ing}" + ("" if obj is None else f" {_article(obj)}")


def read_class_list(path: str | Path, kind: str) -> list[ClassEntry]:
    """Read a class list: ``.txt`` one name per line (ids 1, 2, ... in line order; ``#``
    comments and blank lines skipped), or ``.csv`` with a header naming ``name`` and optionally
    ``id`` and (verbs) ``ing``.

    Raises:
        DataError: naming the file, the line and the problem (duplicates, bad ids...).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {kind} list not found")
    text = path.read_text(encoding="utf-8-sig")
    rows: list[tuple[int, dict[str, str]]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        fields = [f.strip() for f in reader.fieldnames or []]
        if "name" not in fields:
            raise DataError(f"{path}: a {kind} list in CSV needs a header with a 'name' column "
                            f"(and optionally 'id'{', ing' if kind == 'verb' else ''}); got "
                            f"{fields}")
        for k, row in enumerate(reader):
            rows.append((k + 2, {(key or "").strip(): (v or "").strip() for key, v in row.items()}))
    else:
        for k, line in enumerate(text.splitlines()):
            name = line.split("#", 1)[0].strip()
            if name:
                rows.append((k + 1, {"name": name}))
    out: list[ClassEntry] = []
    seen_names: dict[str, int] = {}
    seen_ids: dict[int, int] = {}
    for pos, (line, row) in enumerate(rows):
        name = row.get("name", "")
        if not name:
            raise DataError(f"{path} line {line}: empty {kind} name")
        try:
            cid = int(row["id"]) if row.get("id") else pos + 1
        except ValueError:
            raise DataError(f"{path} line {line}: {kind} {name!r}: id {row['id']!r} is not an "
                            "integer") from None
        if name in seen_names:
            raise DataError(f"{path} line {line}: {kind} {name!r} repeats line "
                            f"{seen_names[name]}")
        if cid in seen_ids:
            raise DataError(f"{path} line {line}: {kind} {name!r} has id {cid}, already used on "
                            f"line {seen_ids[cid]}")
        seen_names[name], seen_ids[cid] = line, line
        out.append(ClassEntry(name, cid, row.get("ing") or None))
    if not out:
        raise DataError(f"{path}: the {kind} list is empty")
    return out


def read_interaction_list(path: str | Path) -> list[InteractionEntry]:
    """Read interaction classes: CSV with a header naming ``verb``, ``object`` (empty: no
    object) and optionally ``phrase``; the order of the rows is the classifier's order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: interaction list not found")
    reader = csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines())
    fields = [f.strip() for f in reader.fieldnames or []]
    if "verb" not in fields or "object" not in fields:
        raise DataError(f"{path}: the interaction list needs a CSV header with 'verb' and "
                        f"'object' columns (and optionally 'phrase'); got {fields}")
    out = []
    for k, row in enumerate(reader):
        row = {(key or "").strip(): (v or "").strip() for key, v in row.items()}
        if not row.get("verb"):
            raise DataError(f"{path} line {k + 2}: empty verb")
        out.append(InteractionEntry(row["verb"], row.get("object") or None,
                                    row.get("phrase") or None))
    return out
