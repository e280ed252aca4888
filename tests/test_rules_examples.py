"""Every shipped rule's own examples, as tests: positives must fire the rule, negatives must not."""

from __future__ import annotations

import pytest

from moderation.match import find_hits
from moderation.normalize import normalize
from moderation.ruleset.compile import compile_rules
from moderation.ruleset.packs import load_rules
from moderation.settings import DEFAULT_RULES_DIR

RULES = load_rules(DEFAULT_RULES_DIR)


@pytest.fixture(scope="module")
def ruleset():
    return compile_rules(RULES)


def _cases(polarity: str):
    for rule in RULES:
        for i, ex in enumerate(getattr(rule.examples, polarity)):
            yield pytest.param(rule.id, ex, id=f"{rule.id}-{polarity}-{i}")


def _rule_hits(ruleset, rule_id, example):
    hits = find_hits(ruleset, normalize(example.text), kind=example.kind, category=example.category)
    return [h for h in hits if h.rule == rule_id], hits


@pytest.mark.parametrize("rule_id", [r.id for r in RULES])
def test_every_rule_has_examples_both_ways(rule_id):
    rule = next(r for r in RULES if r.id == rule_id)
    assert rule.examples.positive, f"rule {rule_id}: no positive example"
    assert rule.examples.negative, f"rule {rule_id}: no negative example"


@pytest.mark.parametrize(("rule_id", "example"), list(_cases("positive")))
def test_positive_example_fires(ruleset, rule_id, example):
    own, hits = _rule_hits(ruleset, rule_id, example)
    assert own, f"{example.text!r} should fire {rule_id}; got {[h.rule for h in hits]}"


@pytest.mark.parametrize(("rule_id", "example"), list(_cases("negative")))
def test_negative_example_is_quiet(ruleset, rule_id, example):
    own, _ = _rule_hits(ruleset, rule_id, example)
    assert not own, f"{example.text!r} should not fire {rule_id}: {[(h.text, h.matched) for h in own]}"
