"""`moderation serve` as real processes: curl-style requests, JSON logs, graceful shutdown, and
stream state shared through Redis by two servers and by two workers of one server."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import httpx
import pytest
from server_support import ServeProcess

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Start every server this module needs at once: each builds its moderator, which takes seconds.
    One single-process server and one with two workers, both on one Redis and one rule store."""
    tmp = tmp_path_factory.mktemp("serve")
    db = f"sqlite:///{tmp / 'rules.db'}"
    started = {
        "a": ServeProcess(tmp, "--db", db, "--redis-url", REDIS_URL, "--graceful-timeout", "20"),
        "workers": ServeProcess(tmp, "--db", db, "--redis-url", REDIS_URL, "--workers", "2"),
    }
    try:
        for server in started.values():
            server.wait_ready()
        yield started
    finally:
        for server in started.values():
            server.stop()


def test_plain_requests_get_the_contract(servers):
    url = servers["a"].base
    r = httpx.post(
        url + "/v1/moderate", content='{"text": "加我薇信，全网最低价"}'.encode()
    )  # as `curl -d` sends it
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["labels"] == ["efficacy", "diversion"] and body["action"] == "review"
    assert httpx.get(url + "/docs").status_code == 200
    ready = httpx.get(url + "/readyz").json()
    assert ready["mode"] == "rules_only" and ready["ruleset_version"]
    assert {c["name"] for c in ready["checks"]} >= {"redis_stream_store"}
    bad = httpx.post(url + "/v1/moderate", content=b"{oops", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed_json"


def test_two_servers_share_a_stream_through_redis(servers):
    a, b = servers["a"].base, servers["workers"].base
    stream = f"/v1/streams/two-servers-{uuid.uuid4().hex[:8]}"
    assert httpx.post(a + stream + "/segments", json={"text": "用了能根"}).json()["hits"] == []
    second = httpx.post(b + stream + "/segments", json={"text": "治痘痘"}).json()
    assert [(h["text"], h["start"], h["end"]) for h in second["hits"]] == [("根治", 0, 1)]
    assert second["segment"]["index"] == 2 and second["reminders"]
    third = httpx.post(a + stream + "/segments", json={"text": "真的能根治痘痘"}).json()
    assert third["hits"] and third["reminders"] == [] and third["suppressed_reminders"] == ["medical.cure"]
    assert httpx.delete(b + stream).json()["ended"] is True
    assert httpx.post(a + stream + "/segments", json={"text": "好"}).json()["segment"]["index"] == 1


def segments_counted(url: str) -> float:
    metrics = httpx.get(url + "/metrics").text
    line = (
        'moderation_http_requests_total{method="POST",route="/v1/streams/{stream_id}/segments",status="200"}'
    )
    return sum(float(x.rsplit(" ", 1)[1]) for x in metrics.splitlines() if x.startswith(line))


def test_two_workers_share_streams_and_metrics(servers):
    url = servers["workers"].base
    before = segments_counted(url)
    streams = [f"/v1/streams/workers-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    results = {}

    # A fresh connection per request, from several threads: the kernel spreads them over both workers.
    def speak(stream: str) -> None:
        results[stream] = [
            httpx.post(url + stream + "/segments", json={"text": t}, headers={"connection": "close"}).json()
            for t in ["这款精华", "全网最", "低价"]
        ]

    threads = [threading.Thread(target=speak, args=(s,)) for s in streams]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for stream in streams:
        segments = results[stream]
        assert [s["segment"]["index"] for s in segments] == [1, 2, 3]
        assert [[h["text"] for h in s["hits"]] for s in segments] == [[], [], ["全网最低价"]]
    assert segments_counted(url) - before == 18  # summed over both worker processes


def in_flight(url: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("moderation_http_requests_in_flight "):
            return float(line.split()[1])
    raise AssertionError("no in-flight gauge")


def test_graceful_shutdown_drains_in_flight_requests(servers):
    # Last in this module: it stops server a.
    server = servers["a"]
    # Long, hit-dense texts: the batch takes seconds, so SIGTERM surely lands while it is in flight.
    items = [{"text": "这款面霜是全网最好的，用了能根治痘痘，加我薇信领优惠。" * 30} for _ in range(200)]
    outcome: dict = {}

    def slow_batch() -> None:
        began = time.monotonic()
        r = httpx.post(server.base + "/v1/moderate/batch", json={"items": items}, timeout=60)
        outcome.update(status=r.status_code, seconds=time.monotonic() - began, n=len(r.json()["results"]),
                       finished=time.monotonic())

    t = threading.Thread(target=slow_batch)
    t.start()
    # Wait until the batch is in flight (the scrape itself is the other one), then stop the server.
    deadline = time.monotonic() + 30
    while in_flight(server.base) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    t.join(60)
    assert outcome.get("status") == 200 and outcome["n"] == 200, outcome
    if outcome["finished"] < signalled:
        # The gauge saw the batch in flight, yet it ended before the signal left: nothing was drained.
        pytest.skip("the batch finished before SIGTERM was sent; drain not exercised this run")
    # uvicorn re-raises the signal it caught once it has drained, so the exit is "terminated".
    assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
    lines = server.log_lines()
    assert any(
        line["logger"] == "moderation.access" and line["route"] == "/v1/moderate/batch" for line in lines
    )
    assert any("Shutting down" in line["message"] for line in lines)
    # Drained: the response came after the signal, whole. (uvicorn logs "Waiting for connections to
    # close" only when the request outlives a further 0.1 s, so that line is no proof either way.)
    assert outcome["finished"] > signalled


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve"], "the model is not where settings say"),
        (["serve", "--workers", "0", "--rules-only"], "--workers must be at least 1"),
        (["serve", "--port", "70000", "--rules-only"], "is not a port number"),
    ],
)
def test_serve_refuses_plainly(monkeypatch, tmp_path, capsys, argv, message):
    from moderation.cli.main import main

    monkeypatch.setenv("MODERATION_MODEL_DIR", str(tmp_path))  # no model there
    monkeypatch.delenv("MODERATION_RULES_ONLY", raising=False)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
