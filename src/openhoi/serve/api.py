"""The JSON API: ``GET /api/models``, ``GET /api/examples``, ``POST /api/predict``.

``POST /api/predict`` takes the image either as the ``image`` field of a multipart form
(options as further form fields) or as the raw request body (options in the query string),
checks every option here, and queues the work on the registry's worker. Unknown or malformed
options are a 400 naming the field, so a typo (``topk=5``) is not silently ignored.
"""

from __future__ import annotations

import math
import re
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from openhoi.serve.inference import PredictRequest, predict_request
from openhoi.serve.registry import ModelRegistry, ServeError

router = APIRouter(prefix="/api")

OPTIONS = ("model", "top_k", "min_score", "interactions", "draw", "name")
"""Options of ``POST /api/predict`` (form fields or query parameters)."""
MAX_ENTRY_CHARS = 200
EXAMPLES = ("astronaut.jpg",)
"""Photos bundled under ``static/examples`` for the page's example picker."""
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


@router.get("/models")
async def list_models(request: Request) -> dict[str, Any]:
    """The loaded models, the default first, with their task and classes."""
    return {"models": [m.describe() for m in _registry(request).models]}


@router.get("/examples")
async def list_examples() -> dict[str, Any]:
    """Bundled example photos."""
    return {"examples": [{"name": n, "url": f"/static/examples/{n}"} for n in EXAMPLES]}


def _int(params: dict[str, str], key: str, default: int, low: int) -> int:
    raw = params.get(key, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ServeError(f"{key}: expected an integer, got {raw!r}") from None
    if value < low:
        raise ServeError(f"{key}: must be at least {low}, got {value}")
    return value


def _float(params: dict[str, str], key: str, default: float) -> float:
    raw = params.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ServeError(f"{key}: expected a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ServeError(f"{key}: expected a finite number, got {raw!r}")
    return value


def _bool(params: dict[str, str], key: str) -> bool:
    raw = params.get(key, "").strip().lower()
    if raw not in _TRUE + _FALSE:
        raise ServeError(f"{key}: expected true or false, got {raw!r}")
    return raw in _TRUE


def _interactions(raw: str, limit: int) -> tuple[str, ...] | None:
    # Split here rather than with open_vocab.read_interaction_list: that one reads a file
    # when given a path, which a client must never make the server do.
    entries = [e.strip() for e in re.split(r"[,\n]", raw)]
    entries = [e for e in entries if e and not e.startswith("#")]
    if not entries:
        return None
    if len(entries) > limit:
        raise ServeError(f"interactions: {len(entries)} entries, at most {limit} allowed")
    long = [e for e in entries if len(e) > MAX_ENTRY_CHARS]
    if long:
        raise ServeError(f"interactions: entry {long[0][:40]!r}... is longer than "
                         f"{MAX_ENTRY_CHARS} characters")
    return tuple(entries)


def parse_request(data: bytes, name: str, params: dict[str, str],
                  registry: ModelRegistry) -> PredictRequest:
    """Check a request's image bytes and options.

    Raises:
        ServeError: an unknown or malformed option, an unknown model, or no image.
    """
    unknown = sorted(set(params) - set(OPTIONS))
    if unknown:
        raise ServeError(f"unknown option(s) {unknown}; known: {list(OPTIONS)}")
    if not data:
        raise ServeError("image: no image received; send it as the 'image' field of a "
                         "multipart form, or as the raw request body")
    model = params.get("model", "").strip() or None
    registry.get(model)  # unknown model: answer now, not after the queue
    return PredictRequest(
        data=data,
        name=PurePath(name).name[:255] or "upload",
        model=model,
        top_k=_int(params, "top_k", 10, 1),
        min_score=_float(params, "min_score", 0.0),
        interactions=_interactions(params.get("interactions", ""),
                                   registry.limits.max_interactions),
        draw=_bool(params, "draw"),
    )


@router.post("/predict")
async def predict(request: Request) -> JSONResponse:
    """Predict on one image; the answer is ``openhoi predict``'s JSON line for it (see
    ``serve.inference``)."""
    registry = _registry(request)
    params = dict(request.query_params)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=len(OPTIONS) + 1)
        upload = form.get("image")
        if not isinstance(upload, UploadFile):
            raise ServeError("image: the multipart form has no 'image' file field")
        data, name = await upload.read(), upload.filename or "upload"
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    else:
        data, name = await request.body(), params.get("name") or "upload"
    parsed = parse_request(data, name, params, registry)
    return JSONResponse(await registry.run(predict_request, registry, parsed))
