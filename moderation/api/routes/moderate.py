"""POST /v1/moderate and /v1/moderate/batch: one text, or many in order."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from moderation.api.deps import ScoringDep
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
async def moderate(body: ModerateCreate, scoring: ScoringDep) -> JSONResponse:
    check_text(body.text, limit=scoring.settings.max_text_chars)
    # The engine is CPU work: it runs on the batcher's threads, together with whatever else arrived
    # meanwhile, so the event loop keeps accepting requests.
    item = CheckItem(body.text, body.kind, body.category, body.id)
    result = await scoring.batcher.check(item, layers=layer_set(body.layers))
    scoring.metrics.observe_result(result)
    return JSONResponse(result.to_dict())


@router.post(
    "/batch", response_model=BatchPublic, responses=ERRORS, summary="Check many texts, results in order"
)
async def moderate_batch(body: BatchCreate, scoring: ScoringDep) -> JSONResponse:
    settings = scoring.settings
    if len(body.items) > settings.max_batch_items:
        raise ApiError(
            422,
            "batch_too_large",
            f"the batch has {len(body.items)} items; the limit is {settings.max_batch_items}",
        )
    for i, item in enumerate(body.items):
        check_text(item.text, limit=settings.max_text_chars, where=f"items[{i}].text")
    items = [CheckItem(item.text, item.kind, item.category, item.id) for item in body.items]
    results = await scoring.batcher.check_many(items, layers=layer_set(body.layers))
    for result in results:
        scoring.metrics.observe_result(result)
    return JSONResponse({"results": [r.to_dict() for r in results]})
