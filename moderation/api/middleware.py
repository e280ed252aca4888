"""Pure ASGI middleware: the body guard (size and UTF-8, before any parsing) and request observation."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moderation.api.errors import ApiError
from moderation.api.metrics import Metrics

access_log = logging.getLogger("moderation.access")

_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyGuard:
    """Refuse a body over `max_bytes` (from Content-Length when sent, else while reading) and
    one that is not UTF-8, before FastAPI parses it; then replay the buffered body."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _BODYLESS:
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _refuse(
                    scope, receive, send, ApiError(400, "bad_request", "Content-Length is not a number")
                )
                return
            if int(declared) > self.max_bytes:
                await _refuse(scope, receive, send, self._too_large())
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _refuse(scope, receive, send, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            error = ApiError(400, "invalid_utf8", f"the body is not valid UTF-8 (byte {exc.start})")
            await _refuse(scope, receive, send, error)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(_as_json(scope), replay, send)

    def _too_large(self) -> ApiError:
        return ApiError(413, "body_too_large", f"the body is larger than {self.max_bytes} bytes")


class Observe:
    """Count and time every HTTP request by route template, and log it as one JSON line."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - began
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], template, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": template,
                        "status": status,
                        "ms": round(seconds * 1000, 2),
                        "client": _client(scope),
                    },
                )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1").strip()
    return None


# Every body this API takes is JSON; a plain `curl -d` labels it form data, and some clients send
# none. Read those as JSON too, rather than answer "expected an object".
_READ_AS_JSON = (b"", b"application/x-www-form-urlencoded", b"text/plain")


def _as_json(scope: Scope) -> Scope:
    kind = (_header(scope, b"content-type") or "").split(";")[0].strip().lower().encode()
    if kind in _READ_AS_JSON:
        # In place: the router records the matched route in this same dict, and Observe reads it.
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
        scope["headers"] = [*headers, (b"content-type", b"application/json")]
    return scope


def _client(scope: Scope) -> Any:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None


async def _refuse(scope: Scope, receive: Receive, send: Send, error: ApiError) -> None:
    await JSONResponse(error.body(), status_code=error.status)(scope, receive, send)
