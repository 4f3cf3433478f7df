"""Shared fixtures of the server tests: tiny random checkpoints, photos, a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import skimage.data
import torch
import uvicorn
from PIL import Image

from openhoi.checkpoint import make_checkpoint, save_checkpoint
from openhoi.config import load_config
from openhoi.label_space import load_label_space
from openhoi.models.build import build_model_parts, export_model
from openhoi.serve import ModelRegistry, ServeLimits, create_app

TEST_LIMITS = ServeLimits(max_body_bytes=2 * 2**20, max_pixels=4_000_000)


def _tiny_checkpoint(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    cfg = load_config("synthetic_tiny")
    space = load_label_space("synthetic")
    model = build_model_parts(cfg, space, torch.device("cpu")).model
    save_checkpoint(path, make_checkpoint(model=model, config=cfg, label_space=space.fingerprint))
    return path


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> list[Path]:
    """Two different random tiny models: a training checkpoint and an exported safetensors."""
    d = tmp_path_factory.mktemp("serve_ckpt")
    first = _tiny_checkpoint(d / "tiny.pth", seed=0)
    second = export_model(_tiny_checkpoint(d / "other.pth", seed=1), d / "other.safetensors")
    return [first, second]


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> dict[str, Path]:
    """Real photos (scikit-image) as JPEG/PNG files, different sizes and modes."""
    d = tmp_path_factory.mktemp("serve_photos")
    arrays = {"astronaut.jpg": skimage.data.astronaut(), "coffee.jpg": skimage.data.coffee(),
              "chelsea.png": skimage.data.chelsea(), "camera.png": skimage.data.camera(),
              "rocket.jpg": skimage.data.rocket(), "coins.png": skimage.data.coins(),
              "cat.jpg": skimage.data.cat(), "hubble.png": skimage.data.hubble_deep_field()}
    for name, array in arrays.items():
        Image.fromarray(array).save(d / name, **({"quality": 90} if name.endswith(".jpg") else {}))
    return {name: d / name for name in arrays}


@dataclass
class LiveServer:
    """A uvicorn server on a free 127.0.0.1 port, in a thread of the test process."""

    url: str
    registry: ModelRegistry


@contextmanager
def live_server(registry: ModelRegistry, allowed_hosts: list[str] | None = None
                ) -> Iterator[LiveServer]:
    """Serve ``create_app(registry)`` with uvicorn on a socket bound before the thread starts
    (no port race), until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(registry, allowed_hosts)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", registry)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="session")
def registry(checkpoints) -> Iterator[ModelRegistry]:
    registry = ModelRegistry.from_checkpoints(checkpoints, device="cpu", limits=TEST_LIMITS)
    yield registry
    registry.close()


@pytest.fixture(scope="session")
def server(registry) -> Iterator[LiveServer]:
    with live_server(registry, ["127.0.0.1", "localhost"]) as live:
        yield live
