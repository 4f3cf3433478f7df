"""Safetensors files of CLIP-derived tensors (text embeddings, verb representations).

Each file carries, as JSON metadata, what produced it (architecture, weight-file sha256, label
space, prompts, data split...), so a consumer can check it is using what it thinks it is.
Writes are atomic (temporary file + rename).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from openhoi.errors import CheckpointError
from openhoi.fileio import atomic_write


def save_tensor_file(path: str | Path, kind: str, tensors: Mapping[str, Tensor],
                     metadata: Mapping[str, Any]) -> None:
    """Write ``tensors`` with JSON-encoded ``metadata`` (plus ``format: kind``) atomically."""
    from safetensors.torch import save_file

    meta = {k: json.dumps(v) for k, v in metadata.items()}
    meta["format"] = json.dumps(kind)
    state = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=meta))


def load_tensor_file(path: str | Path, kind: str,
                     required: tuple[str, ...] = ()) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a file written by ``save_tensor_file``; check its ``format`` and required tensors.

    Raises:
        CheckpointError: missing/unreadable file, another format, or a missing tensor.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # safetensors raises several types for bad files
        raise CheckpointError(f"{path}: not a safetensors file ({err})") from None
    try:
        metadata = {k: json.loads(v) for k, v in raw.items()}
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: metadata is not openhoi's JSON ({err})") from None
    if metadata.get("format") != kind:
        raise CheckpointError(f"{path}: field 'format' is {metadata.get('format')!r}, "
                              f"expected {kind!r}")
    for name in required:
        if name not in tensors:
            raise CheckpointError(f"{path}: tensor {name!r} is missing")
    return tensors, metadata


def check_metadata(path: str | Path, metadata: Mapping[str, Any],
                   expected: Mapping[str, Any]) -> None:
    """``CheckpointError`` naming the file and the first field whose value is not expected.

    ``None`` values in ``expected`` are not checked.
    """
    for key, want in expected.items():
        if want is None:
            continue
        have = metadata.get(key)
        if isinstance(want, tuple):
            want = list(want)
        if have == want:
            continue
        if isinstance(have, list) and isinstance(want, list):
            if len(have) != len(want):
                raise CheckpointError(f"{path}: field {key!r} has {len(have)} entries, "
                                      f"expected {len(want)}")
            i = next(i for i, (a, b) in enumerate(zip(have, want)) if a != b)
            raise CheckpointError(f"{path}: field {key!r} entry {i} is {have[i]!r}, "
                                  f"expected {want[i]!r}")
        raise CheckpointError(f"{path}: field {key!r} is {have!r}, expected {want!r}")
