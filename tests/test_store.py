"""The rule store on SQLite and PostgreSQL: draft edits, versions, rollback, audit log, users, CLI."""

from __future__ import annotations

import pytest
from rulestore_support import SMALL_RULES, rule

from moderation.cli.main import main
from moderation.ruleset import store
from moderation.ruleset.packs import dump_packs, load_rules
from moderation.ruleset.workflow import publish, rollback, validate

# db_url: a fresh SQLite file, and a fresh PostgreSQL schema.
pytest_plugins = ["rulestore_fixtures"]


@pytest.fixture
def sessions(db_url: str):
    factory = store.open_store(db_url)
    with factory() as session:
        store.seed_if_empty(session, rules=SMALL_RULES)
    yield factory
    factory.kw["bind"].dispose()


def test_first_start_publishes_the_seed_as_version_1(sessions) -> None:
    with sessions() as s:
        assert store.latest_version(s) == 1
        assert [r.id for r in store.draft_rules(s)] == ["absolute.best", "contact.wechat"]
        assert store.version_rules(s, version=1) == SMALL_RULES
        assert not store.draft_differs(s)
        # seeding again is a no-op
        assert store.seed_if_empty(s, rules=[]) is None
        assert store.audit_log(s)[0]["action"] == "import"


def test_draft_edits_are_audited_with_diffs_and_reasons(sessions) -> None:
    with sessions() as s:
        old = store.get_draft_rule(s, rule_id="contact.wechat")
        new = old.model_copy(update={"terms": [*old.terms, "卫星号"]})
        store.update_rule(s, rule=new, actor="li", reason="新黑话 卫星号")
        store.create_rule(s, rule=rule("absolute.first", ["行业第一"]), actor="li")
        store.delete_rule(s, rule_id="absolute.best", actor="wang", reason="重复")
        log = store.audit_log(s)
        assert [e["action"] for e in log[:3]] == ["delete", "create", "update"]
        update = log[2]
        assert update["actor"] == "li" and update["reason"] == "新黑话 卫星号"
        assert update["diff"] == {"contact.wechat": {"terms": [old.terms, [*old.terms, "卫星号"]]}}
        assert store.audit_log(s, rule_id="absolute.best")[0]["actor"] == "wang"
        assert store.draft_differs(s)
        assert [r.id for r in store.draft_rules(s)] == ["contact.wechat", "absolute.first"]


def test_store_errors_name_the_rule(sessions) -> None:
    with sessions() as s:
        with pytest.raises(store.StoreError, match="rule absolute.best: already in the draft"):
            store.create_rule(s, rule=SMALL_RULES[0], actor="li")
        with pytest.raises(store.StoreError, match="rule no.such: not in the draft"):
            store.delete_rule(s, rule_id="no.such", actor="li")
        with pytest.raises(store.StoreError, match="version 9: no such"):
            store.version_rules(s, version=9)
        # a failed write leaves the session usable
        assert store.latest_version(s) == 1


def test_publish_then_rollback_makes_new_immutable_versions(sessions) -> None:
    with sessions() as s:
        with pytest.raises(store.StoreError, match="same as version 1"):
            publish(s, actor="zhao", message="nothing")
        store.create_rule(s, rule=rule("absolute.first", ["行业第一"]), actor="li")
        assert publish(s, actor="zhao", message="加入 行业第一") == 2
        assert store.audit_log(s)[0]["diff"] == {"added": ["absolute.first"], "removed": [], "changed": {}}
        assert rollback(s, to_version=1, actor="zhao", message="误伤太多") == 3
        assert store.version_rules(s, version=3) == store.version_rules(s, version=1)
        assert len(store.version_rules(s, version=2)) == 3  # version 2 is untouched
        assert store.draft_rules(s) == SMALL_RULES  # the draft follows the rollback
        infos = store.list_versions(s)
        assert [(i.version, i.author, i.rolled_back_from) for i in infos] == [
            (3, "zhao", 1),
            (2, "zhao", None),
            (1, "system", None),
        ]
        assert infos[0].content_hash == infos[2].content_hash
        assert infos[0].message == "误伤太多"
        entry = store.audit_log(s)[0]
        assert entry["action"] == "rollback" and entry["diff"]["removed"] == ["absolute.first"]
        # an empty draft would silence the rule layer everywhere: refused
        for rule_id in ("absolute.best", "contact.wechat"):
            store.delete_rule(s, rule_id=rule_id, actor="li")
        with pytest.raises(store.StoreError, match="no enabled rules"):
            publish(s, actor="zhao", message="全删了")


def test_users_keep_only_a_hash_of_the_token(sessions) -> None:
    with sessions() as s:
        token = store.add_user(s, name="li", role=store.Role.REVIEWER)
        assert store.principal_for_token(s, token=token) == store.Principal(1, "li", store.Role.REVIEWER)
        assert store.principal_for_token(s, token=token + "x") is None
        assert s.query(store.User).one().token_hash == store.hash_token(token) != token
        with pytest.raises(store.StoreError, match="user li: already exists"):
            store.add_user(s, name="li", role=store.Role.ADMIN)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        # a term that two rules claim
        (
            [rule("absolute.best", ["全网最好"]), rule("absolute.top", ["全网最好"])],
            "rule absolute.top: term '全网最好' duplicates a term of rule absolute.best",
        ),
        # an exception that swallows its own term
        (
            [rule("absolute.best", ["第一名"], exceptions=["第一"])],
            "rule absolute.best: exception '第一' lies inside its term '第一名'",
        ),
        # a pattern RE2 cannot compile (look-ahead)
        (
            [rule("absolute.best", ["最好"], patterns=["最(?=好)"])],
            "rule absolute.best: pattern '最(?=好)' does not compile under RE2",
        ),
    ],
)
def test_validation_messages_name_the_rule(rules, message) -> None:
    assert any(p.startswith(message) for p in validate(rules)), validate(rules)


def test_cli_users_import_export(db_url: str, tmp_path, capsys) -> None:
    packs = tmp_path / "packs"
    dump_packs(SMALL_RULES, packs)
    assert main(["rules", "validate", str(packs)]) == 0
    assert main(["rules", "import", str(packs), "--db", db_url, "--message", "初始规则"]) == 0
    assert "published version 1" in capsys.readouterr().out
    assert main(["users", "add", "li", "--role", "publisher", "--db", db_url]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert len(token) >= 40
    sessions = store.open_store(db_url)
    with sessions() as s:
        assert store.principal_for_token(s, token=token).role is store.Role.PUBLISHER
        store.create_rule(s, rule=rule("absolute.first", ["行业第一"]), actor="li")
        publish(s, actor="li", message="加入 行业第一")
    sessions.kw["bind"].dispose()
    out = tmp_path / "out"
    assert main(["rules", "export", str(out), "--db", db_url]) == 0
    assert {r.id for r in load_rules(out)} == {"absolute.best", "absolute.first", "contact.wechat"}


def test_cli_validate_reports_broken_packs(tmp_path, capsys) -> None:
    dump_packs([rule("absolute.best", ["最好"], patterns=["最(?=好)"])], tmp_path)
    assert main(["rules", "validate", str(tmp_path)]) == 2
    assert "rule absolute.best: pattern '最(?=好)' does not compile under RE2" in capsys.readouterr().err


def test_new_shipped_packs_replace_only_unedited_rules(sessions) -> None:
    newer = [*SMALL_RULES, rule("absolute.first", ["行业第一"])]
    with sessions() as s:
        assert store.sync_shipped(s, rules=SMALL_RULES)[:2] == (None, "version 1 is the shipped packs")
        # a new release while nobody has edited: published as the next version
        assert store.sync_shipped(s, rules=newer)[0] == 2
        assert store.draft_rules(s) == newer
        # once a reviewer has published, their version stands, and the caller hears of it
        store.delete_rule(s, rule_id="absolute.first", actor="li")
        publish(s, actor="li", message="不要 行业第一")
        version, message, conflict = store.sync_shipped(s, rules=newer)
        assert version is None and conflict and "reviewers have edited" in message
        assert store.latest_version(s) == 3
