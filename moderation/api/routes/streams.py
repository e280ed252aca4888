"""Live stream sessions: POST a segment, DELETE the stream, or send the same messages over a WebSocket."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Path, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from moderation.api.deps import Scoring, ScoringDep, SessionsDep
from moderation.api.errors import ApiError, validation_error
from moderation.api.schemas import (
    ERRORS,
    SegmentCreate,
    SegmentPublic,
    StreamEndedPublic,
    check_segment_times,
    check_text,
    layer_set,
)
from moderation.engine import LayerUnavailable
from moderation.settings import Settings
from moderation.streams import SegmentResult, StreamBusyError

router = APIRouter(prefix="/v1/streams", tags=["streams"])

StreamId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:\-]+$",
        description="the platform's id of the live stream (letters, digits, _ . : -)",
    ),
]


@router.post(
    "/{stream_id}/segments",
    response_model=SegmentPublic,
    responses=ERRORS,
    summary="Check one ASR segment in the context of the stream's recent segments",
)
async def post_segment(stream_id: StreamId, body: SegmentCreate, scoring: ScoringDep) -> JSONResponse:
    outcome = await _segment(stream_id, body, scoring)
    return JSONResponse(outcome.to_dict())


@router.delete("/{stream_id}", response_model=StreamEndedPublic, summary="End a stream session")
async def end_stream(stream_id: StreamId, sessions: SessionsDep) -> dict[str, Any]:
    ended = await run_in_threadpool(sessions.end, stream_id)
    return {"stream_id": stream_id, "ended": ended}


@router.websocket("/{stream_id}/ws")
async def stream_ws(websocket: WebSocket, stream_id: StreamId, scoring: ScoringDep) -> None:
    """Each text message is a segment body (JSON); each reply is that segment's result, or an
    `{"error": …}` message after which the connection stays open."""
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                body = _parse_ws(_message_text(message), scoring.settings)
                outcome = await _segment(stream_id, body, scoring)
                await websocket.send_text(json.dumps(outcome.to_dict(), ensure_ascii=False))
            except ApiError as exc:
                await websocket.send_text(json.dumps(exc.body(), ensure_ascii=False))
    except WebSocketDisconnect:
        pass


def _message_text(message: Mapping[str, Any]) -> str:
    if message.get("text") is not None:
        return message["text"]
    try:
        return (message.get("bytes") or b"").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_utf8", f"the message is not valid UTF-8 (byte {exc.start})") from None


def _parse_ws(raw: str, settings: Settings) -> SegmentCreate:
    if len(raw.encode("utf-8", "surrogatepass")) > settings.max_body_bytes:
        raise ApiError(413, "body_too_large", f"the message is larger than {settings.max_body_bytes} bytes")
    try:
        return SegmentCreate.model_validate_json(raw)
    except ValidationError as exc:
        raise validation_error(exc.errors()) from None


async def _segment(stream_id: str, body: SegmentCreate, scoring: Scoring) -> SegmentResult:
    sessions, metrics = scoring.sessions, scoring.metrics
    check_text(body.text, limit=scoring.settings.max_text_chars)
    check_segment_times(body.start, body.end)
    layers = layer_set(body.layers)
    try:
        if sessions.runs_on_the_loop:
            # Memory state: wait on the stream's lock and the batcher without holding a thread.
            outcome = await sessions.segment_async(
                stream_id,
                body.text,
                check=scoring.batcher.check,
                kind=body.kind,
                category=body.category,
                layers=layers,
                start=body.start,
                end=body.end,
            )
        else:
            # Redis state: the optimistic WATCH/MULTI loop is blocking I/O, so it runs in a thread.
            outcome = await run_in_threadpool(
                partial(
                    sessions.segment,
                    stream_id,
                    body.text,
                    kind=body.kind,
                    category=body.category,
                    layers=layers,
                    start=body.start,
                    end=body.end,
                )
            )
    except LayerUnavailable as exc:
        raise ApiError(422, "layer_unavailable", str(exc)) from None
    except StreamBusyError as exc:
        raise ApiError(409, "stream_busy", str(exc)) from None
    metrics.segments.inc()
    metrics.observe_result(outcome.result)
    metrics.observe_suppressed(outcome.suppressed)
    return outcome
