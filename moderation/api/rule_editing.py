"""Plugs rule editing into the app: the store watcher's lifespan hooks, a readiness check, the
store's error mapping, and the routers of /v1/rules and /review. `create_app` calls `install`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from moderation.api.errors import error_response
from moderation.api.routes import review, rules
from moderation.ruleset.compile import RulesetError
from moderation.ruleset.packs import load_rules
from moderation.ruleset.reload import RulesetWatcher
from moderation.ruleset.store import StoreError
from moderation.ruleset.workflow import DraftCache

_STORE_STATUS = {"rule_not_found": 404, "version_not_found": 404, "message_required": 422, "empty_draft": 422}


class RuleStoreNotReady(RuntimeError):
    """The newest published rules are not the ones scoring (the store is down, or a version is bad)."""


def install(app: FastAPI) -> None:
    settings = app.state.settings
    watcher = RulesetWatcher(
        url=settings.resolved_db_url(),
        live=app.state.moderator.live,
        poll_seconds=settings.reload_poll_seconds,
        seed=lambda: load_rules(settings.rules_dir),
    )
    app.state.rule_watcher = watcher
    app.state.draft_cache = DraftCache()

    async def start(app: FastAPI) -> None:
        # The first load migrates, seeds an empty store with the shipped packs and swaps in the
        # newest version; if the store is down, the shipped packs serve and /readyz says so.
        await run_in_threadpool(watcher.refresh)
        watcher.start()

    app.state.startup_hooks.append(start)
    app.state.shutdown_hooks.append(lambda app: watcher.stop())
    app.state.readiness_checks.append(_readiness(watcher))

    app.add_exception_handler(StoreError, _store_error)  # type: ignore[arg-type]
    app.add_exception_handler(RulesetError, _ruleset_error)  # type: ignore[arg-type]
    app.add_exception_handler(SQLAlchemyError, _store_down)  # type: ignore[arg-type]
    app.include_router(rules.router)
    app.include_router(review.router)


def _readiness(watcher: RulesetWatcher):  # type: ignore[no-untyped-def]
    def rule_store() -> str:
        status = watcher.status()
        if not status["ready"]:
            raise RuleStoreNotReady(
                f"{status['error'] or 'no published version loaded yet'}; "
                f"scoring continues with ruleset {status['ruleset_version']}"
            )
        return f"ruleset {status['ruleset_version']} is the newest published version"

    rule_store.name = "rule_store"  # type: ignore[attr-defined]
    return rule_store


async def _store_error(request: Request, exc: StoreError) -> JSONResponse:
    return error_response(_STORE_STATUS.get(exc.code, 409), exc.code, exc.message)


async def _ruleset_error(request: Request, exc: RulesetError) -> JSONResponse:
    # Each problem names its rule; the message carries them all, `details` one per line.
    return error_response(
        422, "invalid_rule", "; ".join(exc.problems), [{"message": p} for p in exc.problems]
    )


async def _store_down(request: Request, exc: SQLAlchemyError) -> JSONResponse:
    first_line = (str(exc).splitlines() or [""])[0][:200]
    return error_response(503, "store_unavailable", f"the rule store cannot be reached: {first_line}")
