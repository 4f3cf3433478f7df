"""Class descriptions and UTPL difference sentences, read from the files users bring.

- EZ-HOI's ``hico_txt_llava/hico_HOI_descrip.txt``: three lines per interaction class in
  label-space order (a header, a description line, a blank line). As EZ-HOI's
  ``build_detector`` reads it: line ``3k + 1`` of the file gives class ``k`` the text
  ``"<class prompt>:" + line.split(":")[1]`` (the words after the first colon, up to a
  second one), whatever the header says.
- EZ-HOI's ``hico_txt_llava/zs_possibility/<split>_diff.txt``: a line starting with a digit
  is an ``"unseen_idx, seen_idx"`` header (interaction indices); the following lines up to
  the next header form its paragraph, split into sentences on ``.``.
- A JSON object ``{interaction: text}`` keyed by the interaction phrase (``a person riding a
  horse``), its ``verb object`` name or its index; and for differences a JSON list of
  ``{"unseen": key, "seen": key, "text": paragraph}``.

Classes without a description fall back to their prompt, and the log says how many.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openhoi.errors import DataError
from openhoi.label_space import LabelSpace, interaction_names, normalize_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Difference:
    """An unseen class, its most similar seen class and the sentences telling them apart."""

    unseen: int
    seen: int
    sentences: tuple[str, ...]


def _read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err}") from None


def _class_keys(space: LabelSpace) -> dict[str, int]:
    keys: dict[str, int] = {}
    for i, (phrase, name) in enumerate(zip(space.interaction_phrases, interaction_names(space))):
        keys[normalize_name(phrase)] = i
        keys[normalize_name(name)] = i
        keys[str(i)] = i
    return keys


def _class_of(key: object, keys: dict[str, int], where: str) -> int:
    k = str(key) if isinstance(key, int) else normalize_name(str(key))
    if k not in keys:
        raise DataError(f"{where}: {key!r} is not an interaction of the label space")
    return keys[k]


def read_class_descriptions(path: str | Path | None, space: LabelSpace,
                            prompts: list[str]) -> list[str]:
    """One description per interaction class (``prompts`` where the file has none).

    Args:
        path: ``hico_HOI_descrip.txt``-style text file, a JSON object, or None.
        prompts: each class's prompt (``a photo of a person riding a horse``), the fallback
            and the prefix EZ-HOI puts before the description.
    """
    if path is None:
        log.warning("EZ-HOI: no class descriptions (model.descriptions); using the %d class "
                    "prompts instead", len(prompts))
        return list(prompts)
    text = _read_text(path)
    if str(path).endswith(".json"):
        return _json_descriptions(text, str(path), space, prompts)
    lines = text.splitlines()
    found = [line for k, line in enumerate(lines) if k % 3 == 1]
    if len(found) != space.num_interactions:
        raise DataError(f"{path}: {len(found)} descriptions (three lines per class) for "
                        f"{space.num_interactions} interaction classes of {space.name!r}")
    out = []
    for k, line in enumerate(found):
        if ":" not in line:
            raise DataError(f"{path}:{3 * k + 2}: description line without ':'")
        out.append(f"{prompts[k]}:{line.split(':')[1]}")
    return out


def _load_json(text: str, where: str) -> Any:
    """``text`` parsed as JSON; a ``DataError`` naming ``where`` if it is not."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{where}: invalid JSON: {err}") from None


def _json_descriptions(text: str, where: str, space: LabelSpace,
                       prompts: list[str]) -> list[str]:
    data = _load_json(text, where)
    if not isinstance(data, dict):
        raise DataError(f"{where}: must be a JSON object {{interaction: text}}")
    keys = _class_keys(space)
    out = list(prompts)
    given = set()
    for key, value in data.items():
        if not isinstance(value, str):
            raise DataError(f"{where}: [{key!r}] must be a string")
        i = _class_of(key, keys, where)
        out[i] = f"{prompts[i]}:{value}"
        given.add(i)
    if len(given) < space.num_interactions:
        log.warning("EZ-HOI: %s describes %d of %d classes; the others use their prompt",
                    where, len(given), space.num_interactions)
    return out


def read_differences(path: str | Path | None, space: LabelSpace) -> list[Difference]:
    """UTPL's (unseen, seen, sentences) triples; empty (logged) without a file."""
    if path is None:
        log.warning("EZ-HOI: no difference descriptions (model.difference_descriptions); "
                    "UTPL attends to the seen partner's and its own prompt only")
        return []
    text = _read_text(path)
    if str(path).endswith(".json"):
        return _json_differences(text, str(path), space)
    out: list[Difference] = []
    header: tuple[int, int] | None = None
    paragraph = ""
    for num, line in enumerate(text.splitlines(), 1):
        line = line.rstrip()
        if not line:
            continue
        if line[0].isdigit():  # EZ-HOI: line_idx[0].isdigit() starts a new pair
            if header is not None:
                out.append(_difference(header, paragraph, f"{path}:{num}", space))
            try:
                u, s = (int(v) for v in line.split(","))
            except ValueError:
                raise DataError(f"{path}:{num}: header must be 'unseen_idx, seen_idx'") from None
            header, paragraph = (u, s), ""
        elif header is None:
            raise DataError(f"{path}:{num}: text before the first 'unseen_idx, seen_idx' line")
        else:
            paragraph += line
    if header is not None:
        out.append(_difference(header, paragraph, str(path), space))
    return out


def _difference(header: tuple[int, int], paragraph: str, where: str,
                space: LabelSpace) -> Difference:
    u, s = header
    for name, idx in (("unseen", u), ("seen", s)):
        if not 0 <= idx < space.num_interactions:
            raise DataError(f"{where}: {name} index {idx} outside [0, {space.num_interactions})")
    sentences = tuple(t for t in paragraph.split(".") if t)  # EZ-HOI: split(".") non-empty
    return Difference(u, s, sentences)


def _json_differences(text: str, where: str, space: LabelSpace) -> list[Difference]:
    data = _load_json(text, where)
    if not isinstance(data, list):
        raise DataError(f"{where}: must be a JSON list of {{unseen, seen, text}}")
    keys = _class_keys(space)
    out = []
    for k, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise DataError(f"{where}: [{k}] needs 'unseen', 'seen' and a string 'text'")
        u = _class_of(item.get("unseen"), keys, f"{where}: [{k}].unseen")
        s = _class_of(item.get("seen"), keys, f"{where}: [{k}].seen")
        out.append(_difference((u, s), item["text"], f"{where}: [{k}]", space))
    return out
