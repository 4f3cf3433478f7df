"""The FastAPI application: the page, the API router, limits and error answers.

Every error is a JSON ``{"error": message}`` with a 4xx status naming what was wrong; an
unexpected failure is a 500 with a one-line message (the traceback goes to the server log,
never to the client). The page and its assets are served from ``static/``; a Content Security
Policy lets the page load nothing from anywhere else.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openhoi import __version__
from openhoi.data.image_io import ImageTooLargeError
from openhoi.errors import OpenHOIError
from openhoi.serve.api import router
from openhoi.serve.registry import ModelRegistry, ServerBusyError

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data: blob:; "
                           "object-src 'none'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff")]


class BodyTooLarge(HTTPException):
    """The request body is over ``ServeLimits.max_body_bytes``."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the limit of {limit} bytes "
                              f"({limit / 2**20:.1f} MiB)")


class LimitsMiddleware:
    """Refuses bodies over ``max_body_bytes`` (by their Content-Length, or while reading a
    chunked one) and adds the security headers to every answer."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"").decode("latin-1")
        if length and (not length.isdigit() or int(length) > limit):
            await _send_error(send, 413 if length.isdigit() else 400,
                              BodyTooLarge(limit).detail if length.isdigit()
                              else "malformed Content-Length header")
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, limited_receive, send_with_headers)


async def _send_error(send: Send, status: int, message: str) -> None:
    response = JSONResponse({"error": message}, status_code=status)
    await send({"type": "http.response.start", "status": status,
                "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def _status(err: OpenHOIError) -> int:
    if isinstance(err, ImageTooLargeError):
        return 413
    if isinstance(err, ServerBusyError):
        return 503
    return 400


def create_app(registry: ModelRegistry, allowed_hosts: list[str] | None = None) -> FastAPI:
    """The server's application over the loaded ``registry``.

    Args:
        registry: the models and their worker; its ``limits`` apply to every request.
        allowed_hosts: accepted ``Host`` headers (None: any). A server on localhost should
            list its local names, so a web page can't reach it by DNS rebinding.
    """
    app = FastAPI(title="openhoi", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)  # the docs pages load from a CDN: none here
    app.state.registry = registry
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.exception_handler(OpenHOIError)
    async def user_error(request: Request, err: OpenHOIError) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=_status(err))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(err.detail)}, status_code=err.status_code,
                            headers=getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, err: Exception) -> JSONResponse:
        log.exception("internal error answering %s %s", request.method, request.url.path)
        return JSONResponse({"error": f"internal server error ({type(err).__name__}); "
                                      "see the server log"}, status_code=500)

    app.add_middleware(LimitsMiddleware, max_body_bytes=registry.limits.max_body_bytes)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    return app
