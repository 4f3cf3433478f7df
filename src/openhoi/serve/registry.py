"""The loaded models of a server and the one worker thread that runs them.

Every model call (decode, forward, drawing) runs on a single worker thread, one request at a
time, in arrival order: a model is never shared by two requests mid-call, an open-vocabulary
retarget can't leak into another request, and memory holds one decoded image at a time. A
bounded count of waiting requests turns overload into a clear "busy" answer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from openhoi.errors import OpenHOIError
from openhoi.predict import HOIPredictor

log = logging.getLogger(__name__)

T = TypeVar("T")

OPEN_VOCAB_CACHE = 2
"""Retargeted copies of a model kept for recent open-vocabulary lists (each is a full model)."""

DEMO_CHECKPOINTS = ("run/model.safetensors", "run/checkpoints/best.pt", "run/checkpoints/last.pt")
"""Where ``openhoi demo`` leaves its model, relative to its ``--out`` folder: the run's exported
weights, else its checkpoints (``engine/run.py``)."""


class ServeError(OpenHOIError):
    """A request the server refuses (unknown model, bad option); answered with a 4xx."""


class ServerBusyError(ServeError):
    """Too many requests are already waiting for the model."""


@dataclass(frozen=True)
class ServeLimits:
    """What one request may ask of the server.

    Attributes:
        max_body_bytes: largest request body (the upload with its form fields); larger -> 413.
        max_pixels: largest image, width x height, checked from the file header before any
            pixel is decoded (decompression bombs); larger -> 413.
        max_waiting: requests allowed to wait for the worker; more -> 503.
        max_interactions: entries of an open-vocabulary list.
    """

    max_body_bytes: int = 20 * 2**20
    max_pixels: int = 40_000_000
    max_waiting: int = 16
    max_interactions: int = 1000

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_pixels", "max_waiting", "max_interactions"):
            if getattr(self, name) < 1:
                raise ServeError(f"{name} must be at least 1, got {getattr(self, name)}")


def demo_checkpoint(demo_dir: str | Path = "openhoi-demo") -> Path | None:
    """The model ``openhoi demo --out DEMO_DIR`` trained, or None when the demo hasn't run."""
    for rel in DEMO_CHECKPOINTS:
        path = Path(demo_dir) / rel
        if path.is_file():
            return path
    return None


@dataclass
class LoadedModel:
    """One checkpoint loaded for serving.

    Attributes:
        name: what requests call it (the file's stem, made unique).
        checkpoint: the file it was loaded from.
        predictor: the predictor on its training label space.
    """

    name: str
    checkpoint: Path
    predictor: HOIPredictor

    @property
    def task(self) -> str:
        """``"detection"`` (pairs with boxes) or ``"recognition"`` (image-level labels)."""
        return self.predictor.model.task

    def describe(self) -> dict[str, Any]:
        """The ``GET /api/models`` entry."""
        space = self.predictor.label_space
        return {
            "name": self.name,
            "task": self.task,
            "checkpoint": str(self.checkpoint),
            "label_space": space.name,
            "interactions": [
                f"{space.verbs[v]} {space.objects[o]}".replace("_", " ") if o >= 0
                else space.verbs[v].replace("_", " ")
                for v, o in space.interactions
            ],
            "open_vocabulary": True,
        }


class ModelRegistry:
    """Loaded models by name, plus the worker thread every model call runs on.

    Args:
        device: where models run (None: CUDA when available).
        limits: request limits (``ServeLimits``).
    """

    def __init__(self, device: str | None = None, limits: ServeLimits | None = None) -> None:
        self.device = device
        self.limits = limits or ServeLimits()
        self._models: dict[str, LoadedModel] = {}
        self._open_vocab: OrderedDict[tuple[str, tuple[str, ...]], HOIPredictor] = OrderedDict()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openhoi-serve")
        self._waiting = 0
        self._waiting_lock = threading.Lock()

    @classmethod
    def from_checkpoints(cls, paths: Sequence[str | Path], device: str | None = None,
                         limits: ServeLimits | None = None) -> ModelRegistry:
        """Load every checkpoint (the first is the default model)."""
        registry = cls(device, limits)
        for path in paths:
            registry.add(path)
        return registry

    def add(self, checkpoint: str | Path, name: str | None = None) -> LoadedModel:
        """Load ``checkpoint`` and serve it as ``name`` (default: the file stem, made unique)."""
        path = Path(checkpoint)
        if not path.is_file():
            raise ServeError(f"{path}: checkpoint file not found")
        name = name or self._unique_name(path)
        if name in self._models:
            raise ServeError(f"a model named {name!r} is already loaded")
        log.info("loading %s as %r", path, name)
        entry = LoadedModel(name, path, HOIPredictor.from_checkpoint(path, self.device))
        self._models[name] = entry
        return entry

    def _unique_name(self, path: Path) -> str:
        name, k = path.stem, 1
        while name in self._models:  # best.pt of two runs: best, best-2, ...
            k += 1
            name = f"{path.stem}-{k}"
        return name

    @property
    def models(self) -> list[LoadedModel]:
        """Loaded models, the default first."""
        return list(self._models.values())

    def get(self, name: str | None) -> LoadedModel:
        """The model called ``name`` (None or empty: the default)."""
        if not self._models:
            raise ServeError("no model is loaded")
        if not name:
            return self.models[0]
        if name not in self._models:
            raise ServeError(f"model: no model named {name!r}; loaded: {sorted(self._models)}")
        return self._models[name]

    def predictor(self, name: str | None, interactions: Sequence[str] | None) -> HOIPredictor:
        """The predictor for a request: the model itself, or a retargeted copy scoring the
        open-vocabulary ``interactions`` (loaded from its checkpoint, kept for the next
        requests with the same list). Call on the worker thread only."""
        entry = self.get(name)
        if not interactions:
            return entry.predictor
        key = (entry.name, tuple(interactions))
        if key in self._open_vocab:
            self._open_vocab.move_to_end(key)
            return self._open_vocab[key]
        predictor = HOIPredictor.from_checkpoint(entry.checkpoint, self.device, list(interactions))
        self._open_vocab[key] = predictor
        while len(self._open_vocab) > OPEN_VOCAB_CACHE:
            self._open_vocab.popitem(last=False)
        return predictor

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the worker thread, after the requests already waiting."""
        with self._waiting_lock:
            if self._waiting >= self.limits.max_waiting:
                raise ServerBusyError(
                    f"the server is busy ({self._waiting} requests waiting); retry shortly")
            self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)
        finally:
            with self._waiting_lock:
                self._waiting -= 1

    def close(self) -> None:
        """Stop the worker thread (waits for the running request)."""
        self._worker.shutdown(wait=True)
