"""The HTTP contract (SPEC.md): results, batch order, stream sessions over HTTP and WebSocket,
health, metrics, and a JSON 4xx for every caller mistake."""

from __future__ import annotations

import json
import sys
import threading
import time

import pytest
from fastapi.testclient import TestClient

from moderation.api import create_app
from moderation.engine import Moderator, build_moderator
from moderation.settings import Settings


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    # Rules only: the contract is the same with the classifier, and these tests must not wait for it.
    return build_moderator(Settings(rules_only=True))


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(
        rules_only=True,
        data_dir=tmp_path_factory.mktemp("api"),  # the rule store's SQLite file lives here
        max_text_chars=200,
        max_batch_items=8,
        max_body_bytes=4096,
    )


@pytest.fixture(scope="module")
def client(moderator, settings):
    # One app for the module: starting one opens the rule store, which takes a moment.
    with TestClient(create_app(settings, moderator=moderator)) as c:
        yield c


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


# -- one text ------------------------------------------------------------------------------------

# text, kind, category → (labels, action, [(rule category, start, end)])
MODERATE = [
    # absolute terms and cure claims
    ("这款面霜是全网最好的", "transcript", "cosmetics", ["efficacy"], "remind", [("absolute_term", 7, 9)]),
    ("用了能根治痘痘", "transcript", "cosmetics", ["efficacy"], "review", [("medical_claim", 3, 5)]),
    # disguised WeChat
    ("加我薇信领优惠", "transcript", "apparel", ["diversion"], "review", [("contact_wechat", 0, 4)]),
    # both labels in one text
    (
        "全网最低价，加我微信",
        "transcript",
        "other",
        ["efficacy", "diversion"],
        "review",
        [("absolute_term", 0, 5), ("contact_wechat", 6, 10)],
    ),
    # the same words weigh more on a product page
    ("这款面霜是全网最好的", "copy", "cosmetics", ["efficacy"], "review", [("absolute_term", 7, 9)]),
    # no match
    ("这件衣服很好看", "transcript", "apparel", [], "pass", []),
    ("今天给大家介绍一款保温杯", "copy", "home", [], "pass", []),
    ("第一次来直播间的朋友点点关注", "transcript", "other", [], "pass", []),
]


@pytest.mark.parametrize(("text", "kind", "category", "labels", "action", "hits"), MODERATE)
def test_moderate_returns_the_spec_result(client, text, kind, category, labels, action, hits):
    r = client.post("/v1/moderate", json={"text": text, "kind": kind, "category": category, "id": "seg-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "seg-1"
    assert body["labels"] == labels
    assert body["action"] == action
    assert [(h["category"], h["start"], h["end"]) for h in body["hits"]] == hits
    for hit in body["hits"]:
        assert text[hit["start"] : hit["end"]] == hit["text"]
        assert hit["source"] == "rule" and hit["rule"]
    assert {r["rule"] for r in body["reminders"]} == {h["rule"] for h in body["hits"]}
    for reminder in body["reminders"]:
        assert reminder["message"] and reminder["basis"]
    assert body["ruleset_version"] == client.app.state.moderator.ruleset_version
    assert body["model_version"] is None and body["layers"] == ["rules"]


def test_moderate_defaults_kind_and_category(client):
    r = client.post("/v1/moderate", json={"text": "用了能根治痘痘"})
    assert r.status_code == 200 and r.json()["id"] is None and r.json()["action"] == "review"


def test_plain_curl_form_content_type_is_read_as_json(client):
    r = client.post(
        "/v1/moderate",
        content=json.dumps({"text": "全网最低价"}, ensure_ascii=False).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and r.json()["labels"] == ["efficacy"]


def test_batch_keeps_order(client):
    texts = ["这件衣服很好看", "加我薇信领优惠", "用了能根治痘痘", "今天天气不错"]
    r = client.post(
        "/v1/moderate/batch", json={"items": [{"text": t, "id": str(i)} for i, t in enumerate(texts)]}
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["id"] for x in results] == ["0", "1", "2", "3"]
    assert [x["labels"] for x in results] == [[], ["diversion"], ["efficacy"], []]
    single = client.post("/v1/moderate", json={"text": texts[1], "id": "1"}).json()
    assert results[1] == single


def test_empty_batch_is_an_empty_answer(client):
    assert client.post("/v1/moderate/batch", json={"items": []}).json() == {"results": []}


# -- caller mistakes: always JSON 4xx ----------------------------------------------------------------

BAD_BODIES = [
    # (body bytes, status, code)
    (b"{bad json", 400, "malformed_json"),
    (b'{"text": "a"', 400, "malformed_json"),
    (b"", 422, "invalid_request"),
    (b"null", 422, "invalid_request"),
    (b"[]", 422, "invalid_request"),
    (b'"just a string"', 422, "invalid_request"),
    (b'{"text": 123}', 422, "invalid_request"),
    (b'{"text": null}', 422, "invalid_request"),
    (b'{"text": ["a"]}', 422, "invalid_request"),
    (b'{"id": "x"}', 422, "invalid_request"),
    ('{"text": "好", "kind": "speech"}'.encode(), 422, "invalid_request"),
    ('{"text": "好", "category": "weapons"}'.encode(), 422, "invalid_request"),
    ('{"text": "好", "layers": ["rules", "magic"]}'.encode(), 422, "invalid_request"),
    ('{"text": "好", "layers": []}'.encode(), 422, "invalid_request"),
    ('{"text": "好", "categroy": "food"}'.encode(), 422, "invalid_request"),
    ('{"text": "好", "id": 5}'.encode(), 422, "invalid_request"),
    (b'{"text": ""}', 422, "empty_text"),
    (b'{"text": "   \\n\\t "}', 422, "empty_text"),
    ('{"text": "好", "layers": ["model"]}'.encode(), 422, "layer_unavailable"),
    (json.dumps({"text": "好" * 201}).encode(), 422, "text_too_long"),
    (b'{"text": "\\ud800"}', 422, "invalid_request"),
    (b'{"text": "ok", "id": "\\udfff"}', 422, "invalid_request"),
    ('{"text": "好"}'.encode("utf-16"), 400, "invalid_utf8"),
    (b'{"text": "\xff\xfe"}', 400, "invalid_utf8"),
    ('{"text": "全网最低价"}'.encode("gbk"), 400, "invalid_utf8"),
    (b'{"text": "' + b"a" * 5000 + b'"}', 413, "body_too_large"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_BODIES)
def test_bad_moderate_body_is_a_json_4xx(client, body, status, code):
    r = client.post("/v1/moderate", content=body, headers={"content-type": "application/json"})
    error(r, status, code)


def test_validation_errors_name_the_field(client):
    err = error(client.post("/v1/moderate", json={"text": "好", "kind": "speech"}), 422, "invalid_request")
    assert err["message"].startswith("kind:")
    assert err["details"][0]["loc"] == ["body", "kind"]


def test_declared_body_too_large_is_refused_before_reading(client):
    r = client.post(
        "/v1/moderate",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": "999999"},
    )
    error(r, 413, "body_too_large")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"items": [{"text": "好"}] * 9}, 422, "batch_too_large"),
        ({"items": [{"text": "好"}, {"text": ""}]}, 422, "empty_text"),
        ({"items": [{"text": "好"}, {"text": "好" * 201}]}, 422, "text_too_long"),
        ({"items": [{"text": "好", "layers": ["rules"]}]}, 422, "invalid_request"),
        ({"items": "好"}, 422, "invalid_request"),
        ({"text": "好"}, 422, "invalid_request"),
        ({"items": [{"text": "好"}], "layers": ["model"]}, 422, "layer_unavailable"),
    ],
)
def test_bad_batch_is_a_json_4xx(client, body, status, code):
    err = error(client.post("/v1/moderate/batch", json=body), status, code)
    if code == "empty_text":
        assert "items[1]" in err["message"]


def test_unknown_route_and_method_are_json(client):
    error(client.get("/v1/nothing"), 404, "not_found")
    error(client.get("/v1/moderate"), 405, "method_not_allowed")


# -- stream sessions ---------------------------------------------------------------------------------


def test_stream_finds_a_violation_across_segments(client):
    first = client.post("/v1/streams/room-1/segments", json={"text": "用了能根", "start": 0.0, "end": 1.2})
    assert first.status_code == 200 and first.json()["hits"] == []
    second = client.post("/v1/streams/room-1/segments", json={"text": "治痘痘", "start": 1.2, "end": 2.0})
    body = second.json()
    assert body["labels"] == ["efficacy"] and body["action"] == "review"
    (hit,) = body["hits"]
    assert (hit["start"], hit["end"], hit["text"]) == (0, 1, "根治")
    assert hit["began_in_earlier_segment"] is True and hit["earlier_chars"] == 1
    assert body["segment"] == {"index": 2, "start": 1.2, "end": 2.0}
    assert body["id"] == "room-1"
    # Said again within the cooldown: reported, but no second reminder.
    third = client.post("/v1/streams/room-1/segments", json={"text": "真的能根治痘痘"}).json()
    assert [h["text"] for h in third["hits"]] == ["根治"] and third["reminders"] == []
    assert third["suppressed_reminders"] == ["medical.cure"]


def test_streams_are_independent_and_can_be_ended(client):
    client.post("/v1/streams/a/segments", json={"text": "用了能根"})
    assert client.post("/v1/streams/b/segments", json={"text": "治痘痘"}).json()["hits"] == []
    assert client.delete("/v1/streams/a").json() == {"stream_id": "a", "ended": True}
    assert client.delete("/v1/streams/a").json() == {"stream_id": "a", "ended": False}
    # Ended: the next segment starts a new session without the old context.
    assert client.post("/v1/streams/a/segments", json={"text": "治痘痘"}).json()["hits"] == []


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/v1/streams/room-1/segments", {"text": ""}, 422, "empty_text"),
        ("/v1/streams/room-1/segments", {"text": "好", "start": -1}, 422, "invalid_request"),
        ("/v1/streams/room-1/segments", {"text": "好", "start": 3, "end": 2}, 422, "invalid_request"),
        ("/v1/streams/room-1/segments", {"text": "好", "start": "soon"}, 422, "invalid_request"),
        ("/v1/streams/room-1/segments", {"text": "好", "kind": "copy!"}, 422, "invalid_request"),
        ("/v1/streams/room%20one/segments", {"text": "好"}, 422, "invalid_request"),
        ("/v1/streams/" + "x" * 129 + "/segments", {"text": "好"}, 422, "invalid_request"),
    ],
)
def test_bad_segment_is_a_json_4xx(client, path, body, status, code):
    error(client.post(path, json=body), status, code)


def test_nan_times_are_refused(client):
    r = client.post(
        "/v1/streams/r/segments",
        content='{"text": "好", "start": NaN}'.encode(),
        headers={"content-type": "application/json"},
    )
    error(r, 422, "invalid_request")


def test_websocket_carries_the_same_messages(client):
    with client.websocket_connect("/v1/streams/ws-room/ws") as ws:
        ws.send_text(json.dumps({"text": "加我微"}, ensure_ascii=False))
        first = ws.receive_json()
        ws.send_text(json.dumps({"text": "信号是abc123", "start": 3.0, "end": 4.5}, ensure_ascii=False))
        second = ws.receive_json()
        ws.send_text("{not json")
        bad = ws.receive_json()
        ws.send_text(json.dumps({"text": ""}))
        empty = ws.receive_json()
        ws.send_text(json.dumps({"text": "这件衣服很好看"}, ensure_ascii=False))
        after = ws.receive_json()  # still open after errors
    assert first["segment"]["index"] == 1
    assert "diversion" in second["labels"] and second["segment"] == {"index": 2, "start": 3.0, "end": 4.5}
    assert any(h["began_in_earlier_segment"] for h in second["hits"])
    assert bad["error"]["code"] == "malformed_json"
    assert empty["error"]["code"] == "empty_text"
    assert after["segment"]["index"] == 3 and after["action"] == "pass"
    # The HTTP route sees the same session.
    assert client.post("/v1/streams/ws-room/segments", json={"text": "好"}).json()["segment"]["index"] == 4


# -- health, readiness, metrics, docs ----------------------------------------------------------------


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_says_rules_only_loudly(client):
    r = client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready" and body["mode"] == "rules_only"
    assert "OFF" in body["warning"] and body["rules_only"]
    assert body["ruleset_version"] and body["model_version"] is None and body["layers"] == ["rules"]
    assert r.headers["x-moderation-mode"] == "rules_only"


def test_readiness_checks_hook(moderator, settings):
    app = create_app(settings, moderator=moderator)

    def cache_warm() -> str:
        return "cache ok"

    def broken() -> None:
        raise ConnectionError("database is down")

    app.state.readiness_checks.append(cache_warm)
    with TestClient(app) as c:
        assert c.get("/readyz").status_code == 200
        checks = c.get("/readyz").json()["checks"]
        assert {"name": "cache_warm", "ok": True, "detail": "cache ok"} in checks
        app.state.readiness_checks.append(broken)
        r = c.get("/readyz")
    assert r.status_code == 503 and r.json()["status"] == "not_ready"
    assert r.json()["checks"][-1] == {
        "name": "broken",
        "ok": False,
        "detail": "ConnectionError: database is down",
    }


def test_startup_and_shutdown_hooks_run_in_the_lifespan(moderator, settings):
    app = create_app(settings, moderator=moderator)
    calls: list[str] = []

    async def open_store(app):
        calls.append("start:" + app.state.moderator.ruleset_version)

    app.state.startup_hooks.append(open_store)
    app.state.shutdown_hooks.append(lambda app: calls.append("stop"))
    with TestClient(app) as c:
        assert calls == ["start:" + moderator.ruleset_version]
        c.get("/healthz")
    assert calls[-1] == "stop"


@pytest.mark.parametrize(("configured", "expected"), [(2.0, 0.002), (None, 0.005)])
def test_startup_sets_the_gil_switch_interval(moderator, settings, configured, expected):
    """The batcher waits for the GIL each time it comes back from the encoder; the app sets the
    configured switch interval when it starts, and without the model keeps Python's 5 ms."""
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.01)
        with TestClient(create_app(settings.model_copy(update={"gil_switch_ms": configured}), moderator=moderator)):
            assert sys.getswitchinterval() == pytest.approx(expected)
    finally:
        sys.setswitchinterval(before)


def test_with_the_model_the_gil_switch_interval_is_short(settings):
    before = sys.getswitchinterval()
    with_model = settings.model_copy(update={"rules_only": False})
    try:
        with TestClient(create_app(with_model, moderator=build_moderator(with_model))):
            assert sys.getswitchinterval() == pytest.approx(0.0005)
    finally:
        sys.setswitchinterval(before)


def test_metrics_count_requests_findings_and_streams(moderator, settings):
    with TestClient(create_app(settings, moderator=moderator)) as client:
        _exercise_and_check_metrics(client)


def _exercise_and_check_metrics(client):
    client.post("/v1/moderate", json={"text": "加我薇信领优惠"})
    client.post("/v1/moderate", json={"text": ""})
    client.post("/v1/streams/m1/segments", json={"text": "最好"})
    text = client.get("/metrics").text
    assert 'moderation_http_requests_total{method="POST",route="/v1/moderate",status="200"} 1.0' in text
    assert 'moderation_http_requests_total{method="POST",route="/v1/moderate",status="422"} 1.0' in text
    assert 'moderation_findings_total{label="diversion",rule="contact_wechat.word"} 1.0' in text
    assert 'moderation_findings_total{label="efficacy",rule="absolute_terms.superlative"} 1.0' in text
    assert "moderation_active_streams 1.0" in text
    assert 'moderation_http_request_seconds_bucket{le="0.05",method="POST",route="/v1/moderate"}' in text


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    for path in [
        "/v1/moderate",
        "/v1/moderate/batch",
        "/v1/streams/{stream_id}/segments",
        "/v1/streams/{stream_id}",
    ]:
        assert path in spec["paths"]
    assert "ResultPublic" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_access_log_is_one_json_object_per_request(client, caplog):
    from moderation.api.logs import JsonFormatter

    with caplog.at_level("INFO", logger="moderation.access"):
        client.post("/v1/moderate", json={"text": "好"})
    record = next(r for r in caplog.records if r.name == "moderation.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["route"] == "/v1/moderate" and line["status"] == 200 and line["method"] == "POST"
    assert line["ms"] >= 0 and line["level"] == "info"


def test_inference_runs_off_the_event_loop(settings):
    # A big batch keeps a worker thread busy; the event loop must answer /healthz meanwhile, so
    # its answer arrives before the batch's (a loop that judged the batch itself would answer
    # /healthz only after it). The texts are long and clean: the time goes to the model, not to
    # building a response with thousands of hits, which is the loop's own work.
    # With the model: onnxruntime lets go of the GIL, as a real inference does (a rules-only batch
    # of this size is Python work that only shares the GIL with the loop).
    settings = settings.model_copy(
        update={"rules_only": False, "max_batch_items": 256, "max_text_chars": 5000, "max_body_bytes": 2_000_000}
    )
    items = [{"text": "这款面霜质地清爽，吸收很快，早晚都可以用。" * 50} for _ in range(60)]
    with TestClient(create_app(settings, moderator=build_moderator(settings))) as c:
        finished: dict[str, float] = {}

        def batch() -> None:
            assert c.post("/v1/moderate/batch", json={"items": items}).status_code == 200
            finished["batch"] = time.perf_counter()

        t = threading.Thread(target=batch)
        t.start()
        time.sleep(0.05)
        assert c.get("/healthz").status_code == 200
        finished["healthz"] = time.perf_counter()
        t.join(120)
    assert finished["healthz"] < finished["batch"]


def test_batcher_gives_each_caller_its_own_result_and_restarts_after_close(moderator):
    from concurrent.futures import ThreadPoolExecutor

    from moderation.api.batching import Batcher
    from moderation.engine import CheckItem

    texts = ["这件衣服很好看", "加我薇信领优惠", "用了能根治痘痘", "全网最低价"] * 25
    batcher = Batcher(moderator, max_items=16, threads=2)
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = list(pool.map(lambda t: batcher.submit([CheckItem(t, id=t)]), texts))
    results = [f.result(timeout=30)[0] for f in futures]
    assert [r.id for r in results] == texts
    assert [r.labels for r in results[:4]] == [(), ("diversion",), ("efficacy",), ("efficacy",)]
    batcher.close()
    assert batcher.submit([CheckItem("最好")]).result(timeout=30)[0].labels == ("efficacy",)
    bad = batcher.submit([CheckItem("好")], layers=frozenset({"model"}))  # this service has no model
    with pytest.raises(ValueError):
        bad.result(timeout=30)
    batcher.close()


@pytest.mark.parametrize("layers", [["rules"], "rules", " rules ", None])
def test_layers_as_a_list_or_a_comma_string(client, layers):
    r = client.post("/v1/moderate", json={"text": "全网最低价", "layers": layers})
    assert r.status_code == 200 and r.json()["layers"] == ["rules"]


def test_websocket_takes_binary_frames_and_refuses_bad_utf8(client):
    with client.websocket_connect("/v1/streams/ws-bytes/ws") as ws:
        ws.send_bytes('{"text": "加我薇信领优惠"}'.encode())
        ok = ws.receive_json()
        ws.send_bytes(b'{"text": "\xff"}')
        bad = ws.receive_json()
        ws.send_text('{"text": "好", "start": 1, "end": 0}')
        backwards = ws.receive_json()
    assert ok["labels"] == ["diversion"]
    assert bad["error"]["code"] == "invalid_utf8"
    assert backwards["error"]["code"] == "invalid_request"


MODEL_FILES = ("model.onnx", "tokenizer.json", "model.json")


@pytest.mark.skipif(
    not all((Settings().model_dir / name).exists() for name in MODEL_FILES), reason="no shipped model yet"
)
def test_both_layers_with_the_shipped_model(tmp_path):
    settings = Settings(data_dir=tmp_path)
    with TestClient(create_app(settings)) as c:
        ready = c.get("/readyz").json()
        assert ready["mode"] == "full" and ready["model_version"] and "warning" not in ready
        body = c.post("/v1/moderate", json={"text": "加我薇信，给你们发优惠"}).json()
        assert body["model_version"] == ready["model_version"] and body["layers"] == ["model", "rules"]
        assert body["scores"]["diversion"] > 0.5 and "diversion" in body["labels"]
        clean = c.post("/v1/moderate", json={"text": "家人们晚上好，欢迎来到直播间"}).json()
        assert clean["action"] == "pass" and clean["scores"]["efficacy"] < 0.5
        batch = c.post(
            "/v1/moderate/batch", json={"items": [{"text": "用了能根治痘痘"}, {"text": "这件衣服很好看"}]}
        )
        assert [r["labels"] for r in batch.json()["results"]] == [["efficacy"], []]
        c.post("/v1/streams/model-room/segments", json={"text": "用了能根"})
        second = c.post("/v1/streams/model-room/segments", json={"text": "治痘痘"}).json()
        assert "efficacy" in second["labels"] and any(h["began_in_earlier_segment"] for h in second["hits"])
