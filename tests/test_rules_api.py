"""/v1/rules through the real app on SQLite and PostgreSQL: tokens and roles, validation messages,
the audit log, dry-run diffs on real sentences, publish and rollback going live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rulestore_support import SMALL_RULES

from moderation.api.app import create_app
from moderation.engine import Moderator, build_moderator
from moderation.ruleset import store
from moderation.ruleset.packs import dump_packs
from moderation.settings import Settings

# db_url: a fresh SQLite file, and a fresh PostgreSQL schema.
pytest_plugins = ["rulestore_fixtures"]


def make_settings(tmp_path: Path, url: str) -> Settings:
    packs = tmp_path / "packs"
    if not packs.exists():
        dump_packs(SMALL_RULES, packs)
    return Settings(
        rules_dir=packs, rules_only=True, db_url=url, data_dir=tmp_path / "data", reload_poll_seconds=0.2
    )


class Api:
    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def __call__(self, method: str, path: str, *, as_: str | None = "admin", **kwargs):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {self.tokens[as_]}"} if as_ else {}
        headers |= kwargs.pop("headers", {})
        return self.client.request(method, path, headers=headers, **kwargs)


@pytest.fixture(scope="module")
def moderator(tmp_path_factory: pytest.TempPathFactory) -> Moderator:
    # Built once: each app's store watcher swaps its own published version in on start.
    return build_moderator(make_settings(tmp_path_factory.mktemp("packs"), "sqlite://"))


@pytest.fixture
def api(tmp_path: Path, db_url: str, moderator: Moderator) -> Iterator[Api]:
    app = create_app(make_settings(tmp_path, db_url), moderator=moderator)
    with TestClient(app) as client:
        sessions = app.state.rule_watcher.sessions
        with sessions() as s:
            tokens = {
                role.value: store.add_user(s, name=f"{role.value}-li", role=role) for role in store.Role
            }
        yield Api(client, tokens)


def wechat_with(api: Api, *terms: str) -> dict:
    rule = api("GET", "/v1/rules/contact.wechat").json()
    return rule | {"terms": [*rule["terms"], *terms]}


def moderate(api: Api, text: str) -> dict:
    response = api("POST", "/v1/moderate", as_=None, json={"text": text, "layers": ["rules"]})
    assert response.status_code == 200, response.text
    return response.json()


def test_tokens_and_roles(api: Api) -> None:
    assert api("GET", "/v1/rules", as_=None).status_code == 401
    assert api("GET", "/v1/rules", as_=None, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert api("GET", "/v1/rules", as_=None, headers={"Authorization": "Basic abc"}).status_code == 401
    assert api("GET", "/v1/rules/whoami", as_="reviewer").json() == {
        "name": "reviewer-li",
        "role": "reviewer",
        "may_publish": False,
    }
    # a reviewer drafts but may not publish or roll back
    assert (
        api("PUT", "/v1/rules/contact.wechat", as_="reviewer", json=wechat_with(api, "卫星号")).status_code
        == 200
    )
    refused = api("POST", "/v1/rules/publish", as_="reviewer", json={"message": "加 卫星号"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert api("POST", "/v1/rules/rollback/1", as_="reviewer").status_code == 403
    assert (
        api("POST", "/v1/rules/publish", as_="publisher", json={"message": "加 卫星号"}).json()["version"]
        == 2
    )
    assert api("POST", "/v1/rules/rollback/1", as_="admin").json()["version"] == 3


@pytest.mark.parametrize(
    ("method", "path", "change", "message"),
    [
        # a pattern RE2 rejects
        (
            "PUT",
            "/v1/rules/absolute.best",
            {"patterns": ["最(?=好)"]},
            "rule absolute.best: pattern '最(?=好)' does not compile under RE2",
        ),
        # a term another rule already has
        (
            "PUT",
            "/v1/rules/absolute.best",
            {"terms": ["全网最好", "绿泡泡"]},
            "rule absolute.best: term '绿泡泡' duplicates a term of rule contact.wechat",
        ),
        # an exception that swallows its own term
        (
            "PUT",
            "/v1/rules/absolute.best",
            {"exceptions": ["全网"]},
            "rule absolute.best: exception '全网' lies inside its term '全网最好'",
        ),
        # no reminder
        ("PUT", "/v1/rules/absolute.best", {"reminder": ""}, "rule absolute.best: reminder:"),
        # a category of the other label
        (
            "PUT",
            "/v1/rules/absolute.best",
            {"category": "contact_qq"},
            "rule absolute.best: category contact_qq belongs to label diversion",
        ),
        # the URL and the body disagree
        ("PUT", "/v1/rules/absolute.best", {"id": "absolute.other"}, "rule absolute.best: the body's id"),
        # a new rule with an unknown category
        (
            "POST",
            "/v1/rules",
            {"id": "absolute.new", "category": "superlative"},
            "rule absolute.new: category:",
        ),
    ],
)
def test_validation_errors_are_422_and_name_the_rule(api: Api, method, path, change, message) -> None:
    body = api("GET", "/v1/rules/absolute.best").json() | change
    response = api(method, path, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_rule"
    assert error["message"].startswith(message), error["message"]


def test_unknown_rule_and_version_are_404(api: Api) -> None:
    assert api("GET", "/v1/rules/no.such").json()["error"] == {
        "code": "rule_not_found",
        "message": "rule no.such: not in the draft",
    }
    assert api("POST", "/v1/rules/rollback/42").status_code == 404
    assert api("GET", "/v1/rules/versions/42").status_code == 404


def test_every_change_is_in_the_audit_log(api: Api) -> None:
    api("PUT", "/v1/rules/contact.wechat?reason=新黑话", as_="reviewer", json=wechat_with(api, "卫星号"))
    new = api("GET", "/v1/rules/absolute.best").json() | {
        "id": "absolute.first",
        "terms": ["行业第一"],
        "exceptions": [],
    }
    assert api("POST", "/v1/rules?reason=补充", json=new).status_code == 201
    assert api("DELETE", "/v1/rules/absolute.first").status_code == 204
    api("POST", "/v1/rules/publish", as_="publisher", json={"message": "上线 卫星号"})
    entries = api("GET", "/v1/rules/audit").json()["entries"]
    assert [(e["action"], e["actor"], e["reason"]) for e in entries[:4]] == [
        ("publish", "publisher-li", "上线 卫星号"),
        ("delete", "admin-li", ""),
        ("create", "admin-li", "补充"),
        ("update", "reviewer-li", "新黑话"),
    ]
    assert entries[3]["diff"]["contact.wechat"]["terms"][1][-1] == "卫星号"
    assert entries[0]["diff"]["changed"]["contact.wechat"]["terms"][1][-1] == "卫星号"


def test_search_by_term_label_and_category(api: Api) -> None:
    ids = lambda query: [r["id"] for r in api("GET", f"/v1/rules?{query}").json()["rules"]]  # noqa: E731
    assert ids("q=绿泡泡") == ["contact.wechat"]
    assert ids("q=史上") == ["absolute.best"]
    assert ids("label=diversion") == ["contact.wechat"]
    assert ids("category=absolute_term") == ["absolute.best"]
    assert ids("q=没有这个词") == []


def test_dry_run_shows_new_lost_and_changed_with_sentences(api: Api, tmp_path: Path) -> None:
    api("PUT", "/v1/rules/contact.wechat", json=wechat_with(api, "卫星号"))
    best = api("GET", "/v1/rules/absolute.best").json()
    api("PUT", "/v1/rules/absolute.best", json=best | {"terms": ["全网最好"]})  # 史上最低 dropped
    findings = tmp_path / "data" / "audits" / "2026-11-20" / "findings.jsonl"
    findings.parent.mkdir(parents=True)
    findings.write_text(
        '{"stream": "a.srt", "text": "主页有卫星号", "labels": ["diversion"]}\n{"half', encoding="utf-8"
    )
    report = api("POST", "/v1/rules/dry-run", as_="reviewer", json={"sentences": ["私聊我要卫星号"]}).json()
    assert report["published"] == "v1" and report["draft"].startswith("draft-")
    new = {(n["sentence"], n["hit"]["text"], n["hit"]["rule"]) for n in report["new_hits"]}
    assert ("私聊我要卫星号", "卫星号", "contact.wechat") in new  # from the request
    assert ("V我一下，给你发卫星号", "卫星号", "contact.wechat") in new  # from the sample corpus
    assert ("主页有卫星号", "卫星号", "contact.wechat") in new  # from a recent audit
    assert {n["from"] for n in report["new_hits"]} == {"request", "sample", "audit"}
    lost = {(n["sentence"], n["hit"]["text"]) for n in report["lost_hits"]}
    assert lost == {("史上最低价，错过今天再等一年", "史上最低")}
    changed = {(c["sentence"], c["before"], c["after"]) for c in report["changed_actions"]}
    assert ("史上最低价，错过今天再等一年", "remind", "pass") in {(s, b, "pass") for s, b, _ in changed}
    assert all(c["before"] != c["after"] for c in report["changed_actions"])


def test_try_scores_with_the_draft(api: Api) -> None:
    api("PUT", "/v1/rules/contact.wechat", json=wechat_with(api, "卫星号"))
    tried = api("POST", "/v1/rules/try", as_="reviewer", json={"text": "给你发卫星号"}).json()
    assert [(h["rule"], h["start"], h["end"]) for h in tried["hits"]] == [("contact.wechat", 3, 6)]
    published = api("POST", "/v1/rules/try", json={"text": "给你发卫星号", "ruleset": "published"}).json()
    assert published["hits"] == []


def test_publish_is_live_at_once_and_rollback_restores(api: Api) -> None:
    assert moderate(api, "给你发卫星号")["hits"] == []
    api("PUT", "/v1/rules/contact.wechat", as_="reviewer", json=wechat_with(api, "卫星号"))
    nothing = api("POST", "/v1/rules/publish", json={"message": " "})
    assert nothing.status_code == 422
    published = api("POST", "/v1/rules/publish", json={"message": "加 卫星号"}).json()
    assert published == {"version": 2, "ruleset_version": "v2", "live_here": True}
    result = moderate(api, "给你发卫星号")
    assert result["ruleset_version"] == "v2" and result["labels"] == ["diversion"]
    again = api("POST", "/v1/rules/publish", json={"message": "再发一次"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "nothing_to_publish"
    assert api("POST", "/v1/rules/rollback/1", json={"message": "误伤"}).json()["version"] == 3
    assert moderate(api, "给你发卫星号")["hits"] == []
    versions = api("GET", "/v1/rules/versions").json()
    assert [v["version"] for v in versions["versions"]] == [3, 2, 1] and versions["live_version"] == 3
    assert versions["versions"][0]["rolled_back_from"] == 1
    assert "卫星号" in api("GET", "/v1/rules/versions/2").json()["rules"][1]["terms"]


def test_readyz_includes_the_rule_store(api: Api) -> None:
    body = api("GET", "/readyz", as_=None).json()
    check = next(c for c in body["checks"] if c["name"] == "rule_store")
    assert check["ok"] and "v1" in check["detail"]
