"""Liveness, readiness (versions, rules-only mode, the readiness checks others register) and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from moderation.api.deps import MetricsDep, ModeratorDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Ready to judge: versions, layers, and every registered readiness check")
async def readyz(request: Request, moderator: ModeratorDep) -> JSONResponse:
    status = moderator.status()
    checks = await run_in_threadpool(_run_checks, request.app.state.readiness_checks)
    ready = all(c["ok"] for c in checks)
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready", **status, "checks": checks}
    if status.get("rules_only"):
        # Loud on purpose: a rules-only service misses what only the classifier catches.
        body["mode"] = "rules_only"
        body["warning"] = f"the classifier is OFF ({status['rules_only']}); only the rule layer is judging"
    else:
        body["mode"] = "full"
    headers = {"X-Moderation-Mode": body["mode"]}
    return JSONResponse(body, status_code=200 if ready else 503, headers=headers)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(metrics: MetricsDep) -> Response:
    data = await run_in_threadpool(metrics.exposition)
    return Response(data, media_type="text/plain; version=0.0.4; charset=utf-8")


def _run_checks(checks: list[Any]) -> list[dict[str, Any]]:
    """A check passes unless it raises or returns False; a string it returns is shown as detail."""
    out = []
    for check in checks:
        name = getattr(check, "name", None) or getattr(check, "__name__", repr(check))
        try:
            value = check()
        except Exception as exc:
            out.append({"name": name, "ok": False, "detail": f"{type(exc).__name__}: {exc}"})
            continue
        out.append(
            {"name": name, "ok": value is not False, "detail": value if isinstance(value, str) else ""}
        )
    return out
