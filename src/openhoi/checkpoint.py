"""Checkpoints: one ``torch.save`` file per snapshot, written atomically, loadable with
``torch.load(path, weights_only=True)``; model weights also as safetensors.

A checkpoint is a plain dict (tensors, numbers, strings, lists, dicts only):

    format           "openhoi-checkpoint"
    format_version   1
    openhoi_version  package version that wrote it
    label_space      ``LabelSpace.fingerprint`` of the model's classes (``hicodet-1a2b3c4d``)
    label_space_json the label space itself as JSON (when given a ``LabelSpace``), so a model
                     trained on a custom label-space file needs nothing else to predict
    config           resolved ``Config`` as a YAML string (``load_config``-able)
    model            model ``state_dict``
    optimizer        ``state_dict`` or None       (training checkpoints only, as below)
    scheduler        ``state_dict`` or None
    scaler           GradScaler ``state_dict`` or None
    epoch            completed epochs
    step             completed optimizer steps
    rng              per-rank list of RNG states (python / numpy / torch / cuda, as tensors)
    extra            dict of run facts (best metric so far, ...)

A safetensors weight file holds the model ``state_dict`` with the same ``format``,
``openhoi_version``, ``label_space`` and ``config`` entries as string metadata.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import Tensor, nn

from openhoi import __version__
from openhoi.config import Config, from_dict, to_dict
from openhoi.errors import CheckpointError, ConfigError, OpenHOIError
from openhoi.label_space import LabelSpace, label_space_from_dict, load_label_space

FORMAT = "openhoi-checkpoint"
FORMAT_VERSION = 1


# ---- atomic writes ---------------------------------------------------------------------------


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file next to ``path``, fsync it, then rename it onto
    ``path``: readers see the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_copy(src: str | Path, dst: str | Path) -> Path:
    """Copy ``src`` onto ``dst`` atomically."""
    return atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))


# ---- RNG states as tensors -------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """This process's python / numpy / torch (/ CUDA) generator states, as tensors and ints."""
    py_version, py_state, py_gauss = random.getstate()
    _, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python_version": int(py_version),
        "python_state": torch.tensor(py_state, dtype=torch.int64),  # [625]
        "python_gauss": torch.tensor([] if py_gauss is None else [py_gauss], dtype=torch.float64),
        "numpy_keys": torch.from_numpy(np_keys.astype(np.int64)),  # [624]
        "numpy_pos": int(np_pos),
        "numpy_has_gauss": int(np_has_gauss),
        "numpy_gauss": float(np_gauss),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
    }
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what ``rng_state`` captured."""
    gauss = state["python_gauss"].tolist()
    random.setstate((state["python_version"], tuple(state["python_state"].tolist()),
                     gauss[0] if gauss else None))
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32),
                         state["numpy_pos"], state["numpy_has_gauss"], state["numpy_gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---- checkpoint files ------------------------------------------------------------------------


def config_to_yaml(config: Config) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)


def _label_space_fields(label_space: str | LabelSpace) -> dict[str, str]:
    if isinstance(label_space, LabelSpace):
        return {"label_space": label_space.fingerprint,
                "label_space_json": json.dumps(label_space.to_json_dict())}
    return {"label_space": label_space}


def make_checkpoint(
    *,
    model: nn.Module,
    config: Config,
    label_space: str | LabelSpace,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scaler: torch.amp.GradScaler | None = None,
    epoch: int = 0,
    step: int = 0,
    rng: list[dict[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The checkpoint dict described in the module docstring.

    Args:
        model: the bare model (not a DDP wrapper).
        label_space: the model's classes (embedded as JSON) or just their fingerprint.
        rng: per-rank RNG states (``rng_state()`` gathered over ranks).
    """
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "openhoi_version": __version__,
        **_label_space_fields(label_space),
        "config": config_to_yaml(config),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "epoch": int(epoch),
        "step": int(step),
        "rng": list(rng or []),
        "extra": dict(extra or {}),
    }


def save_checkpoint(path: str | Path, checkpoint: Mapping[str, Any]) -> Path:
    """Write ``checkpoint`` to ``path`` atomically (temp file + rename)."""
    return atomic_write(path, lambda tmp: torch.save(dict(checkpoint), tmp))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` and check it is one of ours."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path}: not a readable checkpoint ({err})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an openhoi checkpoint (no format={FORMAT!r} entry)")
    if ckpt.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {ckpt['format_version']} is newer than this openhoi "
            f"({__version__}, format {FORMAT_VERSION}); upgrade openhoi")
    return ckpt


def checkpoint_config(checkpoint: Mapping[str, Any], where: str = "checkpoint") -> Config:
    """The resolved ``Config`` stored in a checkpoint (or safetensors metadata)."""
    try:
        return from_dict(Config, yaml.safe_load(checkpoint["config"]) or {})
    except (KeyError, yaml.YAMLError, ConfigError) as err:
        raise CheckpointError(f"{where}: stored config is unusable ({err})") from None


# ---- loading weights into a model ------------------------------------------------------------


def checkpoint_label_space(checkpoint: Mapping[str, Any], config: Config,
                           where: str = "checkpoint") -> LabelSpace:
    """The label space a checkpoint was trained on: its embedded JSON when present, else the
    config's named label space, checked against the stored fingerprint."""
    stored = checkpoint.get("label_space")
    embedded = checkpoint.get("label_space_json")
    if embedded:
        space = label_space_from_dict(json.loads(embedded), where=f"{where}: label_space_json")
    else:
        name = config.data.label_space or config.data.dataset
        try:
            space = load_label_space(name)
        except OpenHOIError as err:
            raise CheckpointError(
                f"{where}: carries no label space and its config names {name!r}, which cannot "
                f"be loaded ({err})") from None
    if stored is not None and space.fingerprint != stored:
        raise CheckpointError(
            f"{where}: trained on label space {stored!r} but {space.fingerprint!r} was found "
            "(the classes or their order differ)")
    return space


def _describe_mismatch(model_state: Mapping[str, Tensor], state: Mapping[str, Tensor]) -> str:
    missing = [k for k in model_state if k not in state]
    unexpected = [k for k in state if k not in model_state]
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(model_state[k].shape)}"
              for k in model_state if k in state and state[k].shape != model_state[k].shape]
    parts = []
    for title, items in (("missing from the checkpoint", missing),
                         ("not in the model", unexpected), ("shape differs", shapes)):
        if items:
            more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
            parts.append(f"{len(items)} {title}: {', '.join(items[:5])}{more}")
    return "; ".join(parts)


def load_model_weights(
    model: nn.Module,
    checkpoint: Mapping[str, Any],
    label_space: str | LabelSpace,
    where: str = "checkpoint",
) -> None:
    """Load a checkpoint's weights into ``model`` after checking they belong to it.

    Raises:
        CheckpointError: the label space differs, or parameter names/shapes differ (the
            message lists which).
    """
    if isinstance(label_space, LabelSpace):
        label_space = label_space.fingerprint
    stored = checkpoint.get("label_space")
    if stored != label_space:
        raise CheckpointError(
            f"{where}: trained on label space {stored!r}, but the model is built for "
            f"{label_space!r} (same name with another hash = classes or their order differ)")
    state = checkpoint["model"]
    problems = _describe_mismatch(model.state_dict(), state)
    if problems:
        raise CheckpointError(f"{where}: weights do not match the model: {problems}")
    model.load_state_dict(state)


# ---- safetensors -----------------------------------------------------------------------------


def save_safetensors(path: str | Path, model: nn.Module, config: Config,
                     label_space: str | LabelSpace) -> Path:
    """Model weights + string metadata (config, label space, version) as a safetensors file."""
    from safetensors.torch import save_file

    # safetensors refuses tensors sharing memory: store an independent copy of each.
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "openhoi_version": __version__,
            **_label_space_fields(label_space), "config": config_to_yaml(config)}
    return atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=meta))


def load_safetensors(path: str | Path, device: str = "cpu") -> dict[str, Any]:
    """A safetensors weight file as a checkpoint-like dict: ``model``, ``label_space``,
    ``config``, ``openhoi_version`` (usable with ``load_model_weights``/``checkpoint_config``)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weight file not found")
    try:
        with safe_open(str(path), framework="pt", device=device) as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: safetensors file has no openhoi metadata")
    return {"model": state, "label_space": meta.get("label_space"), "config": meta.get("config"),
            "label_space_json": meta.get("label_space_json"),
            "openhoi_version": meta.get("openhoi_version")}


def load_weights_file(path: str | Path) -> dict[str, Any]:
    """A ``.safetensors`` weight file or a ``torch.save`` checkpoint, by suffix."""
    path = Path(path)
    return load_safetensors(path) if path.suffix == ".safetensors" else load_checkpoint(path)
