"""Where reviewers' rule edits live: the draft, immutable published versions, the audit log, users.

SQLite by default, PostgreSQL by URL. Every data function takes a Session and keyword-only
options, and commits its own unit of work so that a change and its audit entry land together.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, create_engine, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from moderation.ruleset.schema import Rule


class Role(StrEnum):
    """What a user may do; a higher role includes everything below it."""

    REVIEWER = "reviewer"  # edits the draft, runs dry-runs
    PUBLISHER = "publisher"  # also publishes and rolls back
    ADMIN = "admin"  # everything

    @property
    def rank(self) -> int:
        return ("reviewer", "publisher", "admin").index(self.value)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class StoreError(ValueError):
    """A caller's mistake against the store (unknown rule or version, duplicate id or user)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@contextmanager
def _unit(session: Session) -> Iterator[None]:
    """One unit of work: commit at the end, roll back on any error (the session autobegins)."""
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class DraftRule(Base):
    """One rule of the single shared draft; the draft is what the next publish makes live."""

    __tablename__ = "draft_rules"

    rule_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Keeps the draft in a stable order (the packs' order, new rules last).
    position: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_by: Mapped[str] = mapped_column(String(200))


class RuleVersion(Base):
    """A published version: a full snapshot, never changed after it is written."""

    __tablename__ = "rule_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rules: Mapped[list[Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # Set when this version restores an older one.
    rolled_back_from: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    rule_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # What changed: {"rule": {field: [old, new]}} or {"added": [...], "removed": [...], "changed": {...}}.
    diff: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    # sha256 of the token; the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


# ---------------------------------------------------------------- engine and sessions


def make_engine(url: str) -> Engine:
    """An engine that several processes can share: SQLite in WAL mode with a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # pre_ping: a restarted database must not turn the next poll into a stale-connection error.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=_pg_args(url))


def _pg_args(url: str) -> dict[str, Any]:
    # A short connect timeout so that an unreachable store is noticed within a poll or two.
    return {"connect_timeout": 3} if url.startswith("postgresql") else {}


def open_store(url: str, *, migrate: bool = True) -> sessionmaker[Session]:
    """A session factory for `url`, with the schema brought to the newest migration first."""
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    if migrate:
        from moderation.migrations import upgrade_head

        upgrade_head(engine)
    return sessionmaker(engine, expire_on_commit=False)


# ---------------------------------------------------------------- rules as stored JSON


def rule_body(rule: Rule) -> dict[str, Any]:
    return rule.model_dump(mode="json")


def content_hash(rules: Iterable[Rule]) -> str:
    """The same rules give the same hash whatever their order."""
    canonical = sorted((rule_body(r) for r in rules), key=lambda b: b["id"])
    blob = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def rule_diff(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, list[Any]]:
    """Fields that differ, as {field: [old, new]}; a missing side counts as null."""
    old, new = old or {}, new or {}
    return {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


def ruleset_diff(old: Sequence[Rule], new: Sequence[Rule]) -> dict[str, Any]:
    before = {r.id: rule_body(r) for r in old}
    after = {r.id: rule_body(r) for r in new}
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": {
            rid: rule_diff(before[rid], after[rid])
            for rid in sorted(set(before) & set(after))
            if before[rid] != after[rid]
        },
    }


# ---------------------------------------------------------------- the draft


def draft_rules(session: Session) -> list[Rule]:
    rows = session.scalars(select(DraftRule).order_by(DraftRule.position, DraftRule.rule_id))
    return [Rule.model_validate(row.body) for row in rows]


def get_draft_rule(session: Session, *, rule_id: str) -> Rule:
    row = session.get(DraftRule, rule_id)
    if row is None:
        raise StoreError("rule_not_found", f"rule {rule_id}: not in the draft")
    return Rule.model_validate(row.body)


def _audit(
    session: Session,
    *,
    actor: str,
    action: str,
    diff: dict[str, Any],
    reason: str = "",
    rule_id: str | None = None,
    version: int | None = None,
) -> None:
    session.add(
        AuditEntry(actor=actor, action=action, diff=diff, reason=reason, rule_id=rule_id, version=version)
    )


def create_rule(session: Session, *, rule: Rule, actor: str, reason: str = "") -> Rule:
    with _unit(session):
        if session.get(DraftRule, rule.id) is not None:
            raise StoreError("rule_exists", f"rule {rule.id}: already in the draft; change it with PUT")
        last = session.scalar(select(func.max(DraftRule.position))) or 0
        session.add(DraftRule(rule_id=rule.id, position=last + 1, body=rule_body(rule), updated_by=actor))
        _audit(
            session,
            actor=actor,
            action="create",
            rule_id=rule.id,
            reason=reason,
            diff={rule.id: rule_diff(None, rule_body(rule))},
        )
    return rule


def update_rule(session: Session, *, rule: Rule, actor: str, reason: str = "") -> Rule:
    with _unit(session):
        row = session.get(DraftRule, rule.id)
        if row is None:
            raise StoreError("rule_not_found", f"rule {rule.id}: not in the draft; add it with POST")
        changes = rule_diff(row.body, rule_body(rule))
        if changes:
            row.body, row.updated_by, row.updated_at = rule_body(rule), actor, _now()
            _audit(
                session, actor=actor, action="update", rule_id=rule.id, reason=reason, diff={rule.id: changes}
            )
    return rule


def delete_rule(session: Session, *, rule_id: str, actor: str, reason: str = "") -> None:
    with _unit(session):
        row = session.get(DraftRule, rule_id)
        if row is None:
            raise StoreError("rule_not_found", f"rule {rule_id}: not in the draft")
        _audit(
            session,
            actor=actor,
            action="delete",
            rule_id=rule_id,
            reason=reason,
            diff={rule_id: rule_diff(row.body, None)},
        )
        session.delete(row)


def _replace_draft(session: Session, *, rules: Sequence[Rule], actor: str) -> None:
    # Called inside a transaction: the draft becomes exactly `rules`, in their order.
    for row in session.scalars(select(DraftRule)):
        session.delete(row)
    session.flush()
    for i, rule in enumerate(rules, start=1):
        session.add(DraftRule(rule_id=rule.id, position=i, body=rule_body(rule), updated_by=actor))


def replace_draft(session: Session, *, rules: Sequence[Rule], actor: str, reason: str = "") -> None:
    """Make the draft exactly `rules` (an import), with one audit entry for the whole change."""
    with _unit(session):
        before = draft_rules(session)
        _replace_draft(session, rules=rules, actor=actor)
        _audit(session, actor=actor, action="import", reason=reason, diff=ruleset_diff(before, rules))


# ---------------------------------------------------------------- published versions


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: int
    content_hash: str
    message: str
    author: str
    created_at: datetime
    rule_count: int
    rolled_back_from: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "content_hash": self.content_hash,
            "message": self.message,
            "author": self.author,
            "created_at": self.created_at.isoformat(),
            "rule_count": self.rule_count,
            "rolled_back_from": self.rolled_back_from,
        }


def _info(row: RuleVersion) -> VersionInfo:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return VersionInfo(
        row.version, row.content_hash, row.message, row.author, created, len(row.rules), row.rolled_back_from
    )


def latest_version(session: Session) -> int | None:
    """The newest published version number; the cheap query the reload watcher polls."""
    return session.scalar(select(func.max(RuleVersion.version)))


def version_rules(session: Session, *, version: int) -> list[Rule]:
    row = session.get(RuleVersion, version)
    if row is None:
        raise StoreError("version_not_found", f"version {version}: no such published version")
    return [Rule.model_validate(body) for body in row.rules]


def version_info(session: Session, *, version: int) -> VersionInfo:
    row = session.get(RuleVersion, version)
    if row is None:
        raise StoreError("version_not_found", f"version {version}: no such published version")
    return _info(row)


def list_versions(session: Session, *, limit: int = 100) -> list[VersionInfo]:
    rows = session.scalars(select(RuleVersion).order_by(RuleVersion.version.desc()).limit(limit))
    return [_info(row) for row in rows]


def _publish(
    session: Session,
    *,
    rules: Sequence[Rule],
    actor: str,
    message: str,
    action: str,
    rolled_back_from: int | None = None,
) -> int:
    latest = latest_version(session)
    before = version_rules(session, version=latest) if latest else []
    number = (latest or 0) + 1
    # Two publishers at once: the second insert fails on the primary key and its transaction
    # rolls back, so a version number is never reused or overwritten.
    session.add(
        RuleVersion(
            version=number,
            rules=[rule_body(r) for r in rules],
            content_hash=content_hash(rules),
            message=message,
            author=actor,
            rolled_back_from=rolled_back_from,
        )
    )
    _audit(
        session, actor=actor, action=action, version=number, reason=message, diff=ruleset_diff(before, rules)
    )
    return number


def publish_draft(session: Session, *, actor: str, message: str) -> int:
    """Snapshot the draft as the next version; the caller validates it first."""
    with _unit(session):
        rules = draft_rules(session)
        return _publish(session, rules=rules, actor=actor, message=message, action="publish")


def rollback(session: Session, *, to_version: int, actor: str, message: str = "") -> int:
    """Publish an old version's rules again as a new version; the draft follows it."""
    with _unit(session):
        rules = version_rules(session, version=to_version)
        _replace_draft(session, rules=rules, actor=actor)
        text = message or f"rollback to version {to_version}"
        return _publish(
            session, rules=rules, actor=actor, message=text, action="rollback", rolled_back_from=to_version
        )


def seed_if_empty(
    session: Session, *, rules: Sequence[Rule], actor: str = "system", message: str = "shipped packs"
) -> int | None:
    """On first start: the shipped packs become the draft and version 1. None when not empty."""
    try:
        with _unit(session):
            if latest_version(session) is not None:
                return None
            _replace_draft(session, rules=rules, actor=actor)
            return _publish(session, rules=rules, actor=actor, message=message, action="import")
    except IntegrityError:
        # Another worker seeded the same empty store a moment earlier: its version 1 stands.
        if latest_version(session) is None:
            raise
        return None


SYSTEM = "system"
_RULE_ACTIONS = ("create", "update", "delete", "import", "publish", "rollback")


def only_system_edits(session: Session) -> bool:
    """Whether no person has ever changed the rules (only shipped packs were published)."""
    query = select(AuditEntry.id).where(AuditEntry.actor != SYSTEM, AuditEntry.action.in_(_RULE_ACTIONS))
    return session.scalar(query.limit(1)) is None


def sync_shipped(session: Session, *, rules: Sequence[Rule]) -> tuple[int | None, str, bool]:
    """Publish the shipped packs when the store is empty, or when they changed and no person has
    edited the rules yet (a new release). Reviewers' versions are never overwritten.

    Returns the version published (or None), a sentence saying what happened, and whether the
    shipped packs were left unpublished because reviewers' edits stand.
    """
    seeded = seed_if_empty(session, rules=rules, actor=SYSTEM)
    if seeded is not None:
        return seeded, f"empty store: published the shipped packs as version {seeded}", False
    latest = latest_version(session)
    assert latest is not None
    if version_info(session, version=latest).content_hash == content_hash(rules):
        return None, f"version {latest} is the shipped packs", False
    if not only_system_edits(session):
        return (
            None,
            (
                f"the shipped packs differ from version {latest}, which reviewers have edited; "
                "their version stands (`moderation rules import DIR` publishes packs)"
            ),
            True,
        )
    with _unit(session):
        _replace_draft(session, rules=rules, actor=SYSTEM)
        number = _publish(
            session, rules=rules, actor=SYSTEM, message="shipped packs updated", action="import"
        )
    return (
        number,
        f"the shipped packs changed and nobody had edited the rules: published them as version {number}",
        False,
    )


def draft_differs(session: Session) -> bool:
    """Whether the draft holds unpublished changes."""
    latest = latest_version(session)
    if latest is None:
        return True
    row = session.get(RuleVersion, latest)
    assert row is not None
    return content_hash(draft_rules(session)) != row.content_hash


# ---------------------------------------------------------------- audit log


def audit_log(session: Session, *, rule_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if rule_id is not None:
        query = query.where(AuditEntry.rule_id == rule_id)
    return [
        {
            "id": row.id,
            "at": (row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)).isoformat(),
            "actor": row.actor,
            "action": row.action,
            "rule_id": row.rule_id,
            "version": row.version,
            "diff": row.diff,
            "reason": row.reason,
        }
        for row in session.scalars(query)
    ]


# ---------------------------------------------------------------- users and tokens


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as the API sees them."""

    id: int
    name: str
    role: Role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_user(session: Session, *, name: str, role: Role, created_by: int | None = None) -> str:
    """Create a user and return their bearer token; only its hash is kept."""
    token = secrets.token_urlsafe(32)
    with _unit(session):
        if session.scalar(select(User).where(User.name == name)) is not None:
            raise StoreError("user_exists", f"user {name}: already exists")
        session.add(
            User(name=name, role=Role(role).value, token_hash=hash_token(token), created_by=created_by)
        )
        _audit(session, actor="system", action="add_user", diff={"user": name, "role": Role(role).value})
    return token


def principal_for_token(session: Session, *, token: str) -> Principal | None:
    # Looking the hash up by index leaks nothing useful about the token: an attacker would
    # need a sha256 preimage to exploit the timing.
    user = session.scalar(select(User).where(User.token_hash == hash_token(token)))
    return None if user is None else Principal(user.id, user.name, Role(user.role))


def list_users(session: Session) -> list[Principal]:
    return [Principal(u.id, u.name, Role(u.role)) for u in session.scalars(select(User).order_by(User.id))]
