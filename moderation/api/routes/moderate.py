"""POST /v1/moderate and /v1/moderate/batch: one text, or many in order."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from moderation.api.deps import MetricsDep, ModeratorDep, SettingsDep
from moderation.api.errors import ApiError
from moderation.api.schemas import (
    ERRORS,
    BatchCreate,
    BatchPublic,
    ModerateCreate,
    ResultPublic,
    check_text,
    layer_set,
)
from moderation.engine import CheckItem

router = APIRouter(prefix="/v1/moderate", tags=["moderate"])


@router.post("", response_model=ResultPublic, responses=ERRORS, summary="Check one segment or product copy")
async def moderate(
    body: ModerateCreate, moderator: ModeratorDep, settings: SettingsDep, metrics: MetricsDep
) -> JSONResponse:
    check_text(body.text, limit=settings.max_text_chars)
    # The engine is CPU work: run it in the thread pool so the event loop keeps accepting requests.
    result = await run_in_threadpool(
        moderator.check,
        body.text,
        kind=body.kind,
        category=body.category,
        layers=layer_set(body.layers),
        id=body.id,
    )
    metrics.observe_result(result)
    return JSONResponse(result.to_dict())


@router.post(
    "/batch", response_model=BatchPublic, responses=ERRORS, summary="Check many texts, results in order"
)
async def moderate_batch(
    body: BatchCreate, moderator: ModeratorDep, settings: SettingsDep, metrics: MetricsDep
) -> JSONResponse:
    if len(body.items) > settings.max_batch_items:
        raise ApiError(
            422,
            "batch_too_large",
            f"the batch has {len(body.items)} items; the limit is {settings.max_batch_items}",
        )
    for i, item in enumerate(body.items):
        check_text(item.text, limit=settings.max_text_chars, where=f"items[{i}].text")
    items = [CheckItem(item.text, item.kind, item.category, item.id) for item in body.items]
    results = await run_in_threadpool(moderator.check_many, items, layers=layer_set(body.layers))
    for result in results:
        metrics.observe_result(result)
    return JSONResponse({"results": [r.to_dict() for r in results]})
