"""Every error leaves as JSON `{"error": {"code", "message"}}`; a caller's mistake is a 4xx with a reason."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from moderation.engine import LayerUnavailable
from moderation.streams import StreamBusyError

log = logging.getLogger("moderation.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiError(Exception):
    """A refusal with a stable machine-readable `code` and a human `message`."""

    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> JSONResponse:
    return JSONResponse(ApiError(status, code, message, details).body(), status_code=status)


def validation_error(errors: Sequence[Any]) -> ApiError:
    """Pydantic's errors → one ApiError naming each field; malformed JSON is a 400 of its own."""
    details = [
        {"loc": [str(p) for p in e.get("loc", ())], "type": e.get("type", ""), "message": e.get("msg", "")}
        for e in errors
    ]
    if any(e.get("type") == "json_invalid" for e in errors):
        ctx: dict[str, Any] = next((e.get("ctx", {}) for e in errors if e.get("type") == "json_invalid"), {})
        return ApiError(
            400, "malformed_json", f"the body is not valid JSON: {ctx.get('error', 'parse error')}"
        )
    first = details[0] if details else {"loc": [], "message": "invalid request"}
    where = ".".join(p for p in first["loc"] if p != "body") or "body"
    return ApiError(422, "invalid_request", f"{where}: {first['message']}", details)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = validation_error(exc.errors())
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(WebSocketRequestValidationError)
    async def _ws_invalid(request: Request, exc: WebSocketRequestValidationError) -> JSONResponse:
        err = validation_error(exc.errors())
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code
        if exc.status_code == 400 and "parsing the body" in message:
            code, message = "malformed_body", "the body could not be parsed as JSON"
        return JSONResponse(
            {"error": {"code": code, "message": message}}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(LayerUnavailable)
    async def _layer(request: Request, exc: LayerUnavailable) -> JSONResponse:
        return error_response(422, "layer_unavailable", str(exc))

    @app.exception_handler(StreamBusyError)
    async def _busy(request: Request, exc: StreamBusyError) -> JSONResponse:
        return error_response(409, "stream_busy", str(exc))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # Only our own faults get here; every caller mistake is turned into a 4xx above.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error; it has been logged")
