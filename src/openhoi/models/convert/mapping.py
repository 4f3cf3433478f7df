"""Key-mapping machinery shared by the per-source tables: rename rules, ignore rules, and the
strict assembly of the target state dict (every target key filled, every source key used or
knowingly ignored, every shape checked)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from torch import Tensor

from openhoi.errors import CheckpointError
from openhoi.models.convert.reader import ReferenceCheckpoint
from openhoi.models.convert.report import ConversionReport

Rule = tuple[str, str]
"""``(regex over a reference key, our key template)``; ``\\1``... refer to the groups."""


@dataclass
class TensorMap:
    """Tensors of the converted model, gathered from a reference checkpoint.

    Attributes:
        tensors: our key -> (reference key, tensor already in our layout).
        ignored: reference key -> why it is not needed.
        claimed: reference keys used by special handlers (rows selected, merged, ...).
    """

    tensors: dict[str, tuple[str, Tensor]] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)
    claimed: set[str] = field(default_factory=set)

    def put(self, ours: str, theirs: str, value: Tensor) -> None:
        self.tensors[ours] = (theirs, value)
        self.claimed.add(theirs)

    def ignore(self, theirs: str, why: str) -> None:
        self.ignored[theirs] = why
        self.claimed.add(theirs)


def rename(key: str, rules: Iterable[Rule]) -> str | None:
    """Our key for reference ``key`` under the first matching rule, else None."""
    for pattern, template in rules:
        m = re.fullmatch(pattern, key)
        if m:
            return m.expand(template)
    return None


def reference_key(ours: str, rules: Iterable[Rule]) -> str | None:
    """The reference key that ``rules`` would rename to ``ours`` (for error messages), or None.

    Each rule's template is turned into a regex over our keys; the captured values fill the
    rule's capture groups in order (the rules use flat groups only).
    """
    for pattern, template in rules:
        parts = re.split(r"\\(\d)", template)  # literal, group number, literal, ...
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<g{p}>.+?)"
                        for i, p in enumerate(parts))
        m = re.fullmatch(regex, ours)
        if m is None:
            continue
        values = [m.group(f"g{n}") for n in parts[1::2]]
        pieces = re.split(r"\((?!\?)[^()]*\)", pattern)  # text around each capture group
        if len(pieces) != len(values) + 1:
            continue
        theirs = "".join(p + v for p, v in zip(pieces, [*values, ""])).replace("\\.", ".")
        if rename(theirs, [(pattern, template)]) == ours:
            return theirs
    return None


def apply_rules(ckpt: ReferenceCheckpoint, out: TensorMap, rules: Iterable[Rule],
                ignore: Iterable[Rule]) -> None:
    """Ignore every unclaimed key matching ``ignore`` (regex, reason), rename the others by
    ``rules``; ``CheckpointError`` listing the keys neither covers (unused tensors that may
    matter)."""
    rules, ignore = list(rules), list(ignore)
    unused = []
    for key, value in ckpt.state.items():
        if key in out.claimed:
            continue
        why = next((reason for pattern, reason in ignore if re.fullmatch(pattern, key)), None)
        ours = None if why is not None else rename(key, rules)
        if why is not None:
            out.ignore(key, why)
        elif ours is not None:
            out.put(ours, key, value)
        else:
            unused.append(key)
    if unused:
        more = f" (+{len(unused) - 5} more)" if len(unused) > 5 else ""
        raise CheckpointError(
            f"{ckpt.path}: {len(unused)} tensor(s) of the checkpoint have no place in the "
            f"openhoi model and are not known to be irrelevant: {', '.join(unused[:5])}{more}; "
            "is this the right --from?")


def assemble_state(
    path: object,
    target: Mapping[str, Tensor],
    mapping: TensorMap,
    derived: Mapping[str, str],
    report: ConversionReport,
    rules: Iterable[Rule] = (),
) -> dict[str, Tensor]:
    """The full state dict for a model whose own state is ``target``.

    Args:
        path: the reference file, for messages.
        target: ``model.state_dict()`` of the freshly built openhoi model.
        mapping: tensors gathered from the reference checkpoint.
        derived: our keys that keep the built model's value (key -> how it was made); a key
            ending in ``*`` stands for every model key with that prefix.
        report: receives ``loaded``, ``derived``, ``ignored`` and dtype notes.
        rules: the rename rules, to name the reference key a missing tensor should have had.

    Raises:
        CheckpointError: a mapped key the model lacks, a shape mismatch (naming both keys and
            shapes), or model keys nothing fills.
    """
    derived = _expand(derived, target)
    state: dict[str, Tensor] = {}
    widened: set[str] = set()
    for ours, (theirs, value) in mapping.tensors.items():
        if ours not in target:
            raise CheckpointError(f"{path}: {theirs} maps to {ours}, which the openhoi model "
                                  "built for the inferred settings does not have")
        want = target[ours]
        if tuple(value.shape) != tuple(want.shape):
            raise CheckpointError(f"{path}: {theirs} has shape {list(value.shape)} but {ours} "
                                  f"needs {list(want.shape)}")
        if value.dtype != want.dtype:
            widened.add(f"{value.dtype} -> {want.dtype}".replace("torch.", ""))
        state[ours] = value.detach().to(dtype=want.dtype, device=want.device).clone()
        report.loaded[ours] = theirs
    missing = [k for k in target if k not in state and k not in derived]
    if missing:
        rules = list(rules)
        named = []
        for key in missing[:5]:
            theirs = reference_key(key, rules)
            named.append(key if theirs is None else f"{key} (reference key {theirs})")
        more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        raise CheckpointError(f"{path}: the checkpoint has nothing for {len(missing)} tensor(s) "
                              f"of the openhoi model: {', '.join(named)}{more}")
    for key, why in derived.items():
        state[key] = target[key]
        report.derived[key] = why
    report.ignored.update(mapping.ignored)
    if widened:
        report.notes.append(f"tensors cast {', '.join(sorted(widened))} to the model's dtype")
    return state


def _expand(derived: Mapping[str, str], target: Mapping[str, Tensor]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, why in derived.items():
        if key.endswith("*"):
            out.update({k: why for k in target if k.startswith(key[:-1])})
        else:
            out[key] = why
    return out
