"""The app factory: one Moderator, the stream sessions, the routers, error handlers and lifespan hooks.

Other parts of the service plug in without editing this file's internals:
- `app.state.startup_hooks` / `app.state.shutdown_hooks`: callables `hook(app)` (sync or async)
  run in order by the lifespan, e.g. the rule store opening its database and swapping the
  published ruleset into `app.state.moderator.live`;
- `app.state.readiness_checks`: callables run by `/readyz`; one fails by raising or returning False.
"""

from __future__ import annotations

import gc
import inspect
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from moderation.api import errors, rule_editing
from moderation.api.batching import Batcher, BatchingModerator
from moderation.api.deps import Scoring
from moderation.api.metrics import Metrics
from moderation.api.middleware import BodyGuard, Observe
from moderation.api.routes import health, moderate, streams
from moderation.engine import Moderator, build_moderator
from moderation.settings import Settings
from moderation.streams import RedisStreamStore, StreamSessions, make_store

log = logging.getLogger("moderation.api")

Hook = Callable[[FastAPI], Any]


def create_app(settings: Settings | None = None, *, moderator: Moderator | None = None) -> FastAPI:
    settings = settings or Settings()
    moderator = moderator or build_moderator(settings)
    store = make_store(
        redis_url=settings.redis_url,
        max_sessions=settings.stream_max_sessions,
        idle_seconds=settings.stream_idle_seconds,
    )
    batcher = Batcher(moderator, max_items=settings.batch_max_items, threads=settings.batch_threads)
    sessions = StreamSessions(
        BatchingModerator(batcher),  # type: ignore[arg-type]  # a Moderator in all the window uses
        store,
        window_segments=settings.stream_window_segments,
        cooldown_seconds=settings.reminder_cooldown_seconds,
    )
    metrics = Metrics(active_streams=sessions.active)

    app = FastAPI(
        title="moderation",
        summary="Compliance checks for Chinese live-stream commerce: efficacy claims and off-platform diversion",
        version=_version(),
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.moderator = moderator
    app.state.sessions = sessions
    app.state.batcher = batcher
    app.state.metrics = metrics
    app.state.scoring = Scoring(settings=settings, batcher=batcher, metrics=metrics, sessions=sessions)
    startup_hooks: list[Hook] = []
    shutdown_hooks: list[Hook] = [
        lambda app: app.state.sessions.store.close(),
        lambda app: app.state.batcher.close(),
    ]
    readiness_checks: list[Callable[[], Any]] = []
    app.state.startup_hooks = startup_hooks
    app.state.shutdown_hooks = shutdown_hooks
    app.state.readiness_checks = readiness_checks
    app.state.freeze_gc = True
    if isinstance(store, RedisStreamStore):
        app.state.readiness_checks.append(_named("redis_stream_store", store.ping))

    errors.install(app)
    app.include_router(moderate.router)
    app.include_router(streams.router)
    app.include_router(health.router)
    rule_editing.install(app)  # /v1/rules, /review, the store watcher and its readiness check
    # Outermost first: every request, refused or not, is observed.
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes)
    app.add_middleware(Observe, metrics=metrics)
    return app


def _switch_ms(settings: Settings, moderator: Moderator) -> float:
    if settings.gil_switch_ms is not None:
        return settings.gil_switch_ms
    return 0.5 if moderator.classifier is not None else 5.0  # see Settings.gil_switch_ms


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    for hook in app.state.startup_hooks:
        await _call(hook, app)
    if app.state.freeze_gc:
        _freeze_gc()
    sys.setswitchinterval(_switch_ms(app.state.settings, app.state.moderator) / 1000)
    status = app.state.moderator.status()
    if status.get("rules_only"):
        log.warning("serving WITHOUT the classifier: %s", status["rules_only"], extra={"mode": "rules_only"})
    log.info("ready", extra={k: v for k, v in status.items() if k != "rules_only"})
    try:
        yield
    finally:
        for hook in reversed(app.state.shutdown_hooks):
            try:
                await _call(hook, app)
            except Exception:
                log.exception("shutdown hook failed")


async def _call(hook: Hook, app: FastAPI) -> None:
    value = hook(app)
    if inspect.isawaitable(value):
        await value


def _freeze_gc() -> None:
    """Keep the collector off the long-lived heap built at startup.

    The ruleset's automaton, jieba's dictionary and the model are millions of objects that live
    as long as the process; a full collection walking them stalled requests for 100+ ms (p99 at
    32 clients went from ~45 ms to ~150 ms). Frozen objects are never scanned, and a larger
    young generation means fewer collections of the short-lived per-request objects.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 50)


def _named(name: str, check: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        return check()

    run.name = name  # type: ignore[attr-defined]
    return run


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("moderation")
    except PackageNotFoundError:
        return "0.0.0"
