"""Bearer tokens for rule editing, and the store, watcher and draft cache as dependency aliases.

No token → 401; a token whose role is too low → 403. `reviewer` drafts, `publisher` also
publishes and rolls back, `admin` may do everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from moderation.api.errors import ApiError
from moderation.ruleset import store
from moderation.ruleset.reload import RulesetWatcher
from moderation.ruleset.store import Principal, Role
from moderation.ruleset.workflow import DraftCache


def get_watcher(conn: HTTPConnection) -> RulesetWatcher:
    return conn.app.state.rule_watcher


def get_draft_cache(conn: HTTPConnection) -> DraftCache:
    return conn.app.state.draft_cache


WatcherDep = Annotated[RulesetWatcher, Depends(get_watcher)]
DraftCacheDep = Annotated[DraftCache, Depends(get_draft_cache)]


def get_store_session(watcher: WatcherDep) -> Iterator[Session]:
    try:
        sessions = watcher.sessions
    except (SQLAlchemyError, OSError) as exc:
        raise ApiError(
            503, "store_unavailable", f"the rule store cannot be reached: {type(exc).__name__}"
        ) from None
    with sessions() as session:
        yield session


StoreDep = Annotated[Session, Depends(get_store_session)]


def _principal(session: StoreDep, authorization: Annotated[str | None, Header()] = None) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "sign in: send `Authorization: Bearer <token>`")
    principal = store.principal_for_token(session, token=token.strip())
    if principal is None:
        raise ApiError(401, "unauthorized", "unknown token")
    return principal


def requires(role: Role):  # type: ignore[no-untyped-def]
    def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if not principal.role.allows(role):
            raise ApiError(
                403, "forbidden", f"{principal.name} is a {principal.role.value}; this needs {role.value}"
            )
        return principal

    return check


ReviewerDep = Annotated[Principal, Depends(requires(Role.REVIEWER))]
PublisherDep = Annotated[Principal, Depends(requires(Role.PUBLISHER))]
