"""Hot reload across real processes: a publish reaches running servers within 2 s through the
store, and when the store goes away scoring goes on with the last good ruleset and /readyz says so."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from rulestore_support import SMALL_RULES, Server, pg_schema_url
from server_support import free_port

from moderation.ruleset import store
from moderation.ruleset.live import LiveRuleset
from moderation.ruleset.packs import dump_packs
from moderation.ruleset.reload import RulesetWatcher
from moderation.ruleset.workflow import compile_checked, publish

# db_url: a fresh SQLite file, and a fresh PostgreSQL schema.
pytest_plugins = ["rulestore_fixtures"]

pytestmark = pytest.mark.slow
NEW_TERM_SENTENCE = "想要内部价的 去卫星号找我"


def flagged(result: dict[str, Any]) -> bool:
    return any(h["rule"] == "contact.wechat" and h["text"] == "卫星号" for h in result["hits"])


def add_term(sessions: Any, *, actor: str = "li") -> int:
    with sessions() as s:
        old = store.get_draft_rule(s, rule_id="contact.wechat")
        store.update_rule(s, rule=old.model_copy(update={"terms": [*old.terms, "卫星号"]}), actor=actor)
        return publish(s, actor=actor, message="新黑话 卫星号")


@pytest.fixture
def packs(tmp_path: Path) -> Path:
    dump_packs(SMALL_RULES, tmp_path / "packs")
    return tmp_path / "packs"


def test_publish_in_another_process_is_live_within_2_seconds(
    db_url: str, packs: Path, tmp_path: Path
) -> None:
    # Two servers start at once on an empty store: one migrates and seeds, the other waits.
    servers = [Server(url=db_url, rules_dir=packs, data_dir=tmp_path) for _ in range(2)]
    try:
        for server in servers:
            server.wait_ready()
        for server in servers:
            assert not flagged(server.moderate(NEW_TERM_SENTENCE))
            assert server.moderate("你好")["ruleset_version"] == "v1"
        sessions = store.open_store(db_url)
        # Requests keep arriving during the swap: none may fail, and each must be judged wholly by
        # the version it names (v1 never flags the new term, v2 always does).
        seen: list[tuple[str, bool]] = []
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                result = servers[0].moderate(NEW_TERM_SENTENCE)
                seen.append((result["ruleset_version"], flagged(result)))

        traffic = threading.Thread(target=hammer)
        traffic.start()
        try:
            version = add_term(sessions)  # this test process is a third one sharing the store
            committed_at = time.monotonic()
            for server in servers:
                server.wait_for(NEW_TERM_SENTENCE, flagged, timeout=2.0 - (time.monotonic() - committed_at))
                print(f"publish → live on :{server.port}: {time.monotonic() - committed_at:.2f} s")
                assert server.moderate("你好")["ruleset_version"] == f"v{version}"
        finally:
            stop.set()
            traffic.join()
        assert set(seen) <= {("v1", False), ("v2", True)} and ("v2", True) in seen
        sessions.kw["bind"].dispose()
    finally:
        for server in servers:
            server.stop()


class TcpProxy:
    """Forwards a local port to PostgreSQL; `stop()` cuts every connection, as an outage would."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self._listener is not None:
            # shutdown wakes the thread blocked in accept(); close alone would leave it listening.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        for s in self._sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self._sockets.clear()


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from pg_schema_url()


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@127.0.0.1:{port}"))


@pytest.mark.postgres
def test_store_outage_keeps_scoring_and_readyz_says_so(pg_url: str, packs: Path, tmp_path: Path) -> None:
    proxy = TcpProxy(("127.0.0.1", urlsplit(pg_url).port or 5432))
    proxy.start()
    server = Server(url=_via(pg_url, proxy.port), rules_dir=packs, data_dir=tmp_path, poll_seconds=0.2)
    try:
        server.wait_ready()
        sessions = store.open_store(pg_url)
        add_term(sessions)
        server.wait_for(NEW_TERM_SENTENCE, flagged, timeout=2.0)
        assert httpx.get(server.base + "/readyz").status_code == 200

        proxy.stop()
        deadline = time.monotonic() + 10
        while (
            ready := httpx.get(server.base + "/readyz")
        ).status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready.status_code == 503
        check = next(c for c in ready.json()["checks"] if c["name"] == "rule_store")
        assert (
            "store unreachable" in check["detail"] and "scoring continues with ruleset v2" in check["detail"]
        )
        # scoring goes on with the last good ruleset
        result = server.moderate(NEW_TERM_SENTENCE)
        assert flagged(result) and result["ruleset_version"] == "v2"
        # editing needs the store: a clear 503, not a hang or a 500
        edit = httpx.get(server.base + "/v1/rules", headers={"Authorization": "Bearer x"}, timeout=15)
        assert edit.status_code == 503 and edit.json()["error"]["code"] == "store_unavailable"

        proxy.start()  # the store is back: ready again without a restart
        deadline = time.monotonic() + 10
        while httpx.get(server.base + "/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert httpx.get(server.base + "/readyz").status_code == 200
        sessions.kw["bind"].dispose()
    finally:
        server.stop()
        proxy.stop()


def test_watcher_keeps_the_last_good_ruleset_when_the_sqlite_store_vanishes(
    packs: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "store"
    url = f"sqlite:///{folder / 'rules.db'}"
    live = LiveRuleset(compile_checked(SMALL_RULES, version="shipped"))
    watcher = RulesetWatcher(url=url, live=live, poll_seconds=0.1, seed=lambda: SMALL_RULES)
    assert watcher.refresh() and live.current.version == "v1"
    assert watcher.status()["ready"]
    watcher.stop()  # closes pooled connections, as a restarted worker would have none
    folder.rename(tmp_path / "moved")
    assert not watcher.refresh()
    status = watcher.status()
    assert status["store"] == "unreachable" and not status["ready"]
    assert live.current.version == "v1"
