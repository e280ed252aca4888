"""Packs: load, round-trip, validation messages that name the rule, and the shipped counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderation.ruleset.compile import RulesetError, compile_rules, ruleset_version, validate_rules
from moderation.ruleset.live import LiveRuleset
from moderation.ruleset.packs import PackError, dump_packs, load_packs, load_rules
from moderation.ruleset.schema import Rule
from moderation.settings import DEFAULT_RULES_DIR
from moderation.types import RuleCategory


def _rule(rule_id: str = "test.rule", **fields) -> Rule:
    data = {
        "id": rule_id,
        "label": "efficacy",
        "category": "medical_claim",
        "terms": ["根治"],
        "basis": "广告法第十七条",
        "reminder": "主播您好，请不要说根治。",
    } | fields
    return Rule.model_validate(data)


def test_shipped_packs_have_enough_rules_and_terms():
    rules = load_rules(DEFAULT_RULES_DIR)
    assert len(rules) >= 40
    assert sum(len(r.terms) for r in rules) >= 400


def test_shipped_packs_cover_every_category():
    covered = {r.category for r in load_rules(DEFAULT_RULES_DIR)}
    assert covered == set(RuleCategory)


def test_shipped_rules_are_complete():
    for rule in load_rules(DEFAULT_RULES_DIR):
        assert rule.basis and rule.reminder and rule.suggestion, rule.id
        assert rule.reminder.startswith("主播您好"), rule.id


def test_shipped_packs_compile_cleanly():
    rules = load_rules(DEFAULT_RULES_DIR)
    assert validate_rules(rules) == []
    compiled = compile_rules(rules)
    assert len(compiled.version) == 12
    assert compiled.rule("medical.cure").category is RuleCategory.MEDICAL_CLAIM


def test_packs_are_sorted_and_named_after_their_files():
    packs = load_packs(DEFAULT_RULES_DIR)
    names = [p.name for p in packs]
    assert names == sorted(names)
    for pack in packs:
        assert all(r.id.split(".")[0] == pack.name for r in pack.rules), pack.name


def test_round_trip(tmp_path: Path):
    rules = load_rules(DEFAULT_RULES_DIR)
    dump_packs(rules, tmp_path)
    again = load_rules(tmp_path)
    assert sorted(again, key=lambda r: r.id) == sorted(rules, key=lambda r: r.id)
    assert ruleset_version(again) == ruleset_version(rules)
    # Writing again gives the same bytes: the export format is stable.
    first = {p.name: p.read_bytes() for p in tmp_path.glob("*.yaml")}
    dump_packs(again, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.yaml")} == first
    assert "根治" in (tmp_path / "medical.yaml").read_text(encoding="utf-8")  # allow_unicode


def test_version_ignores_order_and_follows_content():
    a, b = _rule("test.a"), _rule("test.b", terms=["断根"])
    assert ruleset_version([a, b]) == ruleset_version([b, a])
    assert ruleset_version([a]) != ruleset_version([a.model_copy(update={"terms": ["治愈"]})])
    assert compile_rules([a], version="v7").version == "v7"


# --- broken packs name the file and the rule -------------------------------------------------


def test_broken_pack_names_file_and_rule(tmp_path: Path):
    (tmp_path / "a_good.yaml").write_text(
        "name: a_good\nrules:\n- {id: a_good.x, label: efficacy, category: medical_claim, terms: [根治],"
        " basis: 广告法, reminder: 主播您好}\n",
        encoding="utf-8",
    )
    (tmp_path / "b_bad.yaml").write_text(
        "name: b_bad\nrules:\n- {id: b_bad.wrong, label: diversion, category: medical_claim, terms: [根治],"
        " basis: 广告法, reminder: 主播您好}\n",
        encoding="utf-8",
    )
    with pytest.raises(PackError) as err:
        load_packs(tmp_path)
    assert "b_bad.yaml" in str(err.value) and "rule b_bad.wrong" in str(err.value)


def test_unreadable_yaml_is_an_error(tmp_path: Path):
    (tmp_path / "x.yaml").write_text("rules: [unclosed\n", encoding="utf-8")
    with pytest.raises(PackError, match="x.yaml"):
        load_packs(tmp_path)


def test_empty_directory_is_an_error(tmp_path: Path):
    with pytest.raises(PackError, match="no \\*.yaml"):
        load_packs(tmp_path)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            [_rule(patterns=["(?<=微信)\\d+"])],
            "rule test.rule: pattern '(?<=微信)\\\\d+' does not compile under RE2",
        ),
        ([_rule(exception_patterns=["(?!x)"])], "rule test.rule: exception pattern"),
        ([_rule("test.a"), _rule("test.b")], "rule test.b: term '根治' duplicates a term of rule test.a"),
        ([_rule(exceptions=["根治"])], "rule test.rule: exception '根治' equals its term"),
        ([_rule(), _rule()], "rule test.rule: duplicate id"),
        ([_rule(reminder="  ")], "rule test.rule: missing reminder"),
        ([_rule(basis="  ")], "rule test.rule: missing basis"),
        ([_rule(terms=["Ｖ"])], "rule test.rule: term 'Ｖ' normalizes to"),
        ([_rule(terms=["❤❤"])], "rule test.rule: term '❤❤' is empty after normalization"),
    ],
)
def test_validation_messages_name_the_rule(rules, message):
    problems = validate_rules(rules)
    assert any(p.startswith(message) for p in problems), problems
    with pytest.raises(RulesetError) as err:
        compile_rules(rules)
    assert any(p.startswith(message) for p in err.value.problems)


def test_duplicates_are_found_after_normalization():
    problems = validate_rules([_rule("test.a", terms=["薇信"]), _rule("test.b", terms=["微信"])])
    assert problems and problems[0].startswith("rule test.b: term '微信' duplicates a term of rule test.a")


def test_live_ruleset_swaps_whole_objects():
    first = compile_rules([_rule()], version="one")
    second = compile_rules([_rule(terms=["断根"])], version="two")
    live = LiveRuleset(first)
    assert live.current is first
    assert live.swap(second) is first
    assert live.current is second
