"""Shared by the rule-store tests: a fresh SQLite file or PostgreSQL schema per test, small rules.

The `db_url` fixture lives in `rulestore_fixtures.py`, which test modules load as a plugin.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_support import ServeProcess
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from moderation.ruleset.schema import Rule

PG_ADMIN_URLS = [
    os.environ.get("MODERATION_TEST_PG_URL", ""),
    "postgresql+psycopg://root@127.0.0.1:5432/test",
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
]


def _pg_admin_url() -> str:
    errors = []
    for url in filter(None, PG_ADMIN_URLS):
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect():
                return url
        except OperationalError as exc:
            errors.append(f"{url}: {str(exc).splitlines()[0]}")
        finally:
            engine.dispose()
    pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432 (run `make services`): " + "; ".join(errors))


def pg_schema_url() -> Iterator[str]:
    """A URL whose search_path is a new, empty schema, dropped afterwards."""
    admin = _pg_admin_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{admin}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def rule(rule_id: str, terms: list[str], **fields: Any) -> Rule:
    """A small valid rule; label and category follow the id's pack unless given."""
    defaults: dict[str, Any] = {
        "label": "efficacy",
        "category": "absolute_term",
        "basis": "《广告法》第九条",
        "reminder": "主播您好，请不要使用绝对化用语。",
        "suggestion": "可以说“很受欢迎”。",
    }
    if rule_id.startswith("contact."):
        defaults |= {
            "label": "diversion",
            "category": "contact_wechat",
            "basis": "平台站外交易规则",
            "reminder": "主播您好，请不要引导家人们去站外联系。",
        }
    return Rule.model_validate(defaults | fields | {"id": rule_id, "terms": terms})


SMALL_RULES = [
    rule("absolute.best", ["全网最好", "史上最低"], exceptions=["最好看"]),
    rule("contact.wechat", ["加我微信", "绿泡泡"], match_anywhere=True),
]


# ---------------------------------------------------------------- real server processes


class Server(ServeProcess):
    """`moderation serve --rules-only` on the rule store at `url`, polling it for publishes."""

    def __init__(self, *, url: str, rules_dir: Any, data_dir: Any, poll_seconds: float = 0.5) -> None:
        env = {"MODERATION_RULES_DIR": str(rules_dir), "MODERATION_RELOAD_POLL_SECONDS": str(poll_seconds)}
        super().__init__(Path(data_dir), "--db", url, "--log-level", "warning", env=env)

    def wait_ready(self, path: str = "/healthz", timeout: float = 60) -> None:
        # Only that it answers, as these tests always waited; those about readiness ask /readyz.
        super().wait_ready(path, timeout)

    def moderate(self, text: str) -> dict[str, Any]:
        import httpx

        response = httpx.post(self.base + "/v1/moderate", json={"text": text, "layers": ["rules"]}, timeout=5)
        assert response.status_code == 200, f"/v1/moderate answered {response.status_code}: {response.text}"
        return response.json()

    def wait_for(self, text: str, predicate: Any, *, timeout: float) -> float:
        """Poll /v1/moderate until `predicate(result)`; seconds it took. TimeoutError otherwise."""
        import time

        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if predicate(self.moderate(text)):
                return time.monotonic() - start
            time.sleep(0.02)
        raise TimeoutError(f"{text!r}: not as expected within {timeout} s: {self.moderate(text)}")
