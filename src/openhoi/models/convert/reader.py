"""Read a checkpoint released by another toolbox (HOICLIP, GEN-VLKT, DEFR, EZ-HOI) without
running its code.

HOICLIP's and GEN-VLKT's ``main.py`` save ``{'model': state_dict, 'optimizer', 'lr_scheduler',
'epoch', 'args'}`` with ``torch.save`` (``args`` is the ``argparse.Namespace`` of the run);
DEFR's ``checkpointer.py`` ``{'epoch', 'model_state_dict', 'optimizer_state_dict'}``, pocket's
engine (UPT, EZ-HOI) ``{'model_state_dict', 'optim_state_dict', ..., 'epoch', 'iteration'}``.
The file is read with ``weights_only=True``: tensors, plain containers and
``argparse.Namespace`` only, so a file cannot run code when it is opened.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from openhoi.errors import CheckpointError
from openhoi.models.detr.detr_checkpoint import load_weights_only


@dataclass
class ReferenceCheckpoint:
    """A reference checkpoint as read from disk.

    Attributes:
        path: the file.
        state: the model state dict (``module.`` prefixes of DDP removed).
        args: the run's ``argparse`` arguments as a dict, or None if the file has none.
        epoch: the ``epoch`` entry, or None.
        sha256: hex sha256 of the file (recorded in the converted checkpoint).
    """

    path: Path
    state: dict[str, Tensor]
    args: dict[str, Any] | None = None
    epoch: int | None = None
    sha256: str = ""

    def arg(self, name: str, default: Any = None) -> Any:
        """``args.<name>`` of the run, or ``default`` when the file has no such argument."""
        return default if self.args is None else self.args.get(name, default)

    def has(self, key: str) -> bool:
        return key in self.state

    def count(self, prefix: str) -> int:
        """Number of distinct ``<prefix><n>.`` indices (layers of a ``ModuleList``)."""
        return len({k[len(prefix):].split(".", 1)[0] for k in self.state if k.startswith(prefix)})

    def shape(self, key: str) -> tuple[int, ...]:
        """Shape of ``key``; ``CheckpointError`` naming the file when the key is absent."""
        if key not in self.state:
            raise CheckpointError(f"{self.path}: key {key!r} is missing; this file does not "
                                  "have the expected layout")
        return tuple(self.state[key].shape)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def read_reference_checkpoint(path: str | Path) -> ReferenceCheckpoint:
    """Read ``path`` (a ``{'model': ...}`` or ``{'model_state_dict': ...}`` checkpoint or a bare
    state dict) on the CPU.

    Raises:
        CheckpointError: the file is missing, cannot be read safely, or holds no state dict.
    """
    path = Path(path)
    obj = load_weights_only(path)
    args = epoch = None
    if isinstance(obj, Mapping) and isinstance(obj.get("model_state_dict"), Mapping):
        obj = {**obj, "model": obj["model_state_dict"]}  # DEFR's checkpointer.py, pocket
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        raw_args = obj.get("args")
        if isinstance(raw_args, argparse.Namespace):
            args = dict(vars(raw_args))
        elif isinstance(raw_args, Mapping):
            args = dict(raw_args)
        epoch = obj.get("epoch") if isinstance(obj.get("epoch"), int) else None
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{path}: expected a state dict or a dict with a 'model' state "
                              f"dict, found {type(obj).__name__}")
    bad = [str(k) for k, v in obj.items() if not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"{path}: state dict entry {bad[0]!r} is not a tensor")
    state = {str(k): v for k, v in obj.items()}
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return ReferenceCheckpoint(path, state, args, epoch, _sha256(path))
