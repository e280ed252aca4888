"""Hot reload: a thread polls the store's newest published version and swaps the live ruleset.

Every worker process runs one, so a publish anywhere reaches all of them through the store.
When the store cannot be reached the last good ruleset keeps serving and `status()` says so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from moderation.ruleset import store
from moderation.ruleset.compile import RulesetError
from moderation.ruleset.live import LiveRuleset
from moderation.ruleset.schema import Rule
from moderation.ruleset.workflow import compile_checked, version_label

log = logging.getLogger("moderation.reload")


class RulesetWatcher:
    def __init__(
        self,
        *,
        url: str,
        live: LiveRuleset,
        poll_seconds: float,
        seed: Callable[[], Sequence[Rule]] | None = None,
    ) -> None:
        # `seed` gives the shipped packs, published as version 1 when the store is empty.
        self.url = url
        self.live = live
        self.poll_seconds = poll_seconds
        self._seed = seed
        self._sessions: sessionmaker[Session] | None = None
        self._lock = threading.Lock()  # one refresh at a time (the thread and a publish handler)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.version: int | None = None  # the store version now live; None before the first load
        self.store_ok = False
        self.last_error: str | None = None
        self.last_ok_at: float | None = None
        self.problem: str | None = None  # "unreachable" or "invalid_version"
        self._bad_version: int | None = None  # a published version that would not compile

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The store's session factory; opening it migrates and seeds. Raises when unreachable."""
        with self._lock:
            return self._open()

    def _open(self) -> sessionmaker[Session]:
        if self._sessions is None:
            sessions = store.open_store(self.url)
            if self._seed is not None:
                with sessions() as session:
                    _, what, conflict = store.sync_shipped(session, rules=self._seed())
                (log.warning if conflict else log.info)("rule store: %s", what)
            self._sessions = sessions
        return self._sessions

    def refresh(self) -> bool:
        """One poll; True when a new version went live. Never raises for a store problem."""
        with self._lock:
            try:
                sessions = self._open()
                with sessions() as session:
                    latest = store.latest_version(session)
                    if latest is None or latest in (self.version, self._bad_version):
                        self._ok()
                        return False
                    rules = store.version_rules(session, version=latest)
            except (SQLAlchemyError, OSError) as exc:
                first_line = (str(exc).splitlines() or [""])[0][:300]
                self._failed("unreachable", f"store unreachable: {type(exc).__name__}: {first_line}")
                return False
            try:
                compiled = compile_checked(rules, version=version_label(latest))
            except RulesetError as exc:
                # Publish validates, so this means a newer code version rejects an old snapshot.
                self._bad_version = latest
                self._failed(
                    "invalid_version", f"version {latest} does not compile: {'; '.join(exc.problems)[:500]}"
                )
                return False
            self.live.swap(compiled)
            log.info("ruleset %s is live (%d rules)", compiled.version, len(compiled))
            self.version, self._bad_version = latest, None
            self._ok()
            return True

    def _ok(self) -> None:
        self.store_ok, self.last_ok_at = True, time.monotonic()
        if self._bad_version is None:
            self.problem = self.last_error = None

    def _failed(self, problem: str, reason: str) -> None:
        if reason != self.last_error:
            log.warning("keeping ruleset %s: %s", self.live.current.version, reason)
        self.store_ok = problem != "unreachable"
        self.problem, self.last_error = problem, reason

    def status(self) -> dict[str, Any]:
        """For /readyz: whether the newest published rules are the ones scoring, and if not why."""
        since = None if self.last_ok_at is None else round(time.monotonic() - self.last_ok_at, 1)
        return {
            "ready": self.problem is None and self.version is not None,
            "store": "unreachable"
            if self.problem == "unreachable"
            else "ok"
            if self.store_ok
            else "not checked yet",
            "problem": self.problem,
            "ruleset_version": self.live.current.version,
            "store_version": self.version,
            "error": self.last_error,
            "seconds_since_store_ok": since,
        }

    # ------------------------------------------------------------ the polling thread

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ruleset-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._sessions is not None:
            self._sessions.kw["bind"].dispose()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.poll_seconds)
