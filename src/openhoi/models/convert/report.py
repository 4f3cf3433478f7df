"""What a conversion did, key by key, in a form a user can read and a test can check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ConversionReport:
    """Where every tensor of the converted model came from, and what was left out.

    Attributes:
        source: ``hoiclip`` or ``gen-vlkt``.
        path: the reference checkpoint.
        loaded: our key -> the reference key it was copied from.
        derived: our key -> how it was made instead (e.g. CLIP's text tower for the zero-shot
            text embeddings, which the reference keeps outside its state dict).
        ignored: reference key -> why it is not needed (defined but unused by the reference's
            forward, training-only, ...).
        inferred: config field -> (value, where it came from).
        notes: anything else the user should know (row mappings, precision, known quirks).
    """

    source: str
    path: Path
    loaded: dict[str, str] = field(default_factory=dict)
    derived: dict[str, str] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)
    inferred: dict[str, tuple[Any, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def infer(self, key: str, value: Any, origin: str) -> Any:
        """Record that config field ``key`` is ``value`` because of ``origin``; returns value."""
        self.inferred[key] = (value, origin)
        return value

    def summary(self) -> str:
        return (f"{len(self.loaded)} tensors copied, {len(self.derived)} derived, "
                f"{len(self.ignored)} reference tensors ignored")

    def lines(self, verbose: bool = False) -> list[str]:
        """Human-readable report: settings, then grouped ignored/derived keys, then notes."""
        out = [f"converted {self.path} ({self.source}): {self.summary()}", "settings:"]
        out += [f"  {k} = {v!r}  ({origin})" for k, (v, origin) in self.inferred.items()]
        for title, table in (("derived (not in the reference state dict)", self.derived),
                             ("ignored reference tensors", self.ignored)):
            if table:
                out.append(f"{title}:")
                out += _grouped(table, verbose)
        if self.notes:
            out.append("notes:")
            out += [f"  - {n}" for n in self.notes]
        return out


def _grouped(table: dict[str, str], verbose: bool) -> list[str]:
    """One line per reason (with a key count and an example) unless ``verbose``."""
    if verbose:
        return [f"  {k}: {why}" for k, why in table.items()]
    by_reason: dict[str, list[str]] = {}
    for key, why in table.items():
        by_reason.setdefault(why, []).append(key)
    lines = []
    for why, keys in by_reason.items():
        more = f" (+{len(keys) - 1} more)" if len(keys) > 1 else ""
        lines.append(f"  {keys[0]}{more}: {why}")
    return lines
