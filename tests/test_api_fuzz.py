"""Never a 500 on user input: schemathesis drives the OpenAPI of the scoring endpoints with valid and
invalid requests, and hypothesis throws raw bytes at the body parser."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from moderation.api import create_app
from moderation.engine import build_moderator
from moderation.settings import Settings

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    config = Settings(
        rules_only=True, data_dir=tmp_path_factory.mktemp("fuzz"), max_text_chars=500, max_batch_items=16
    )
    app = create_app(config, moderator=build_moderator(config))
    with TestClient(app):  # run the lifespan once, so the rule store is open
        yield app


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def scoring_operations(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # The rule-editing routes need bearer tokens and are fuzzed with their own tests.
    schema = schema.include(path_regex=r"^/(v1/(moderate|streams)|healthz|readyz|metrics)")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error_from_the_openapi(app, mode):
    operations = scoring_operations(app)
    assert {op.path for op in operations} >= {
        "/v1/moderate",
        "/v1/moderate/batch",
        "/v1/streams/{stream_id}/segments",
    }
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET":
            continue  # nothing a caller sends to a GET here can be made invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @FUZZ
        def check(case):
            response = case.call()
            assert response.status_code < 500, (case.method, case.path, case.body, response.text)
            if response.status_code >= 400:
                assert set(response.json()) == {"error"}, response.text

        check()


JSON_ISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["text", "kind", "category", "id", "layers", "items", "start", "end"])
            | st.text(max_size=5),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)


@given(body=st.binary(max_size=300))
@FUZZ
def test_raw_bytes_never_break_the_parser(client, body):
    for path in ["/v1/moderate", "/v1/moderate/batch", "/v1/streams/fuzz/segments"]:
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code in (200, 400, 413, 422), (path, body, r.text)


@given(body=JSON_ISH)
@FUZZ
def test_any_json_gets_a_result_or_a_json_4xx(client, body):
    for path in ["/v1/moderate", "/v1/moderate/batch", "/v1/streams/fuzz/segments"]:
        r = client.post(path, json=body)
        assert r.status_code in (200, 400, 413, 422), (path, body, r.text)
        assert r.status_code == 200 or set(r.json()) == {"error"}


@given(text=st.text(min_size=1, max_size=60))
@FUZZ
def test_any_text_is_judged_with_offsets_inside_it(client, text):
    r = client.post("/v1/moderate", json={"text": text})
    if not text.strip():
        assert r.status_code == 422
        return
    assert r.status_code == 200, r.text
    for hit in r.json()["hits"]:
        assert 0 <= hit["start"] < hit["end"] <= len(text)
