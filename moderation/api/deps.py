"""Each dependency written once as an alias, so handlers read `def moderate(body, moderator: ModeratorDep)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from moderation.api.batching import Batcher
from moderation.api.metrics import Metrics
from moderation.engine import Moderator
from moderation.settings import Settings
from moderation.streams import StreamSessions


# HTTPConnection, not Request, so the same dependencies serve the WebSocket route; `async def` so
# FastAPI calls them inline instead of sending each through the thread pool.
async def get_settings(conn: HTTPConnection) -> Settings:
    return conn.app.state.settings


async def get_moderator(conn: HTTPConnection) -> Moderator:
    return conn.app.state.moderator


async def get_sessions(conn: HTTPConnection) -> StreamSessions:
    return conn.app.state.sessions


async def get_metrics(conn: HTTPConnection) -> Metrics:
    return conn.app.state.metrics


@dataclass(frozen=True, slots=True)
class Scoring:
    """What a scoring route needs, as one dependency: FastAPI resolves each dependency on every
    request, and on the hot routes three separate lookups cost more than the lookups themselves."""

    settings: Settings
    batcher: Batcher
    metrics: Metrics
    sessions: StreamSessions


async def get_scoring(conn: HTTPConnection) -> Scoring:
    return conn.app.state.scoring


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModeratorDep = Annotated[Moderator, Depends(get_moderator)]
SessionsDep = Annotated[StreamSessions, Depends(get_sessions)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
ScoringDep = Annotated[Scoring, Depends(get_scoring)]
