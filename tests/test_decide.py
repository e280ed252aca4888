"""The decision step: vetoes, model-only findings, nested phrases and the action policy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from moderation.classifier import ModelOutput, ModelSpan
from moderation.decide import decide
from moderation.ruleset.compile import compile_rules
from moderation.ruleset.schema import Rule
from moderation.types import Action, Hit, Kind, Label, RuleCategory, Scores, Severity, Source

THRESHOLDS = {Label.EFFICACY: 0.5, Label.DIVERSION: 0.5}


def _rule(rule_id: str, category: RuleCategory, *, overridable: bool = False) -> Rule:
    return Rule(
        id=rule_id, label=category.label, category=category, terms=[rule_id.split(".")[-1] + "词"],
        model_can_override=overridable, basis="《广告法》第九条", reminder="主播您好，请注意用语。",
        suggestion="换个说法。",
        examples={"positive": ["测试"], "negative": ["测试"]},
    )


RULESET = compile_rules([
    _rule("absolute.best", RuleCategory.ABSOLUTE_TERM, overridable=True).model_copy(update={"terms": ["最好"]}),
    _rule("absolute.lowest", RuleCategory.ABSOLUTE_TERM).model_copy(update={"terms": ["全网最低价"]}),
    _rule("wechat.plain", RuleCategory.CONTACT_WECHAT),
])


LOOSE = compile_rules([
    _rule("wechat.loose", RuleCategory.CONTACT_WECHAT, overridable=True).model_copy(
        update={"terms": ["微信", "加我微信"], "firm_terms": ["加我微信"],
                "patterns": [r"(微信号\s*[a-z][a-z0-9_]{5,19})"]}),
])


def _hit(rule: str, start: int, end: int, text: str, *, severity: Severity = Severity.MEDIUM,
         category: RuleCategory = RuleCategory.ABSOLUTE_TERM, matched: str = "") -> Hit:
    return Hit(label=category.label, category=category, rule=rule, start=start, end=end,
               text=text[start:end], severity=severity, matched=matched)


def _model(efficacy: float, diversion: float, *spans: ModelSpan, marks: dict | None = None) -> ModelOutput:
    """`marks`: {(start, end): p} for the efficacy column of the token head over TEXT's characters."""
    table = None
    if marks is not None:
        table = np.zeros((len(TEXT), 2), dtype=np.float32)
        for (a, b), p in marks.items():
            table[a:b, 0] = p
    return ModelOutput(scores=Scores(efficacy=efficacy, diversion=diversion), spans=tuple(spans), marks=table)


TEXT = "这是我用过最好的面霜 全网最低价"


@pytest.mark.parametrize(
    ("model", "kept_rules", "noted"),
    [
        # the model reads the clause as benign: the overridable rule's bare word is vetoed, the other stays
        (_model(0.005, 0.0), {"absolute.lowest"}, True),
        # the model agrees there is a claim: nothing is vetoed
        (_model(0.97, 0.0), {"absolute.best", "absolute.lowest"}, False),
        # its token head marks the words although the sentence score is low: the words stand
        (_model(0.005, 0.0, marks={(5, 7): 0.9}), {"absolute.best", "absolute.lowest"}, False),
        # the sentence scores high though its token head does not mark the words: they stand
        (_model(0.97, 0.0, marks={(5, 7): 0.001}), {"absolute.best", "absolute.lowest"}, False),
        # no model layer: the rules stand as they are
        (None, {"absolute.best", "absolute.lowest"}, False),
    ],
)
def test_model_can_veto_only_overridable_rules(model, kept_rules, noted):
    hits = [_hit("absolute.best", 5, 7, TEXT, matched="最好"), _hit("absolute.lowest", 11, 16, TEXT, matched="全网最低价")]
    decision = decide(hits, model, text=TEXT, kind=Kind.TRANSCRIPT, ruleset=RULESET, thresholds=THRESHOLDS,
                      veto_below={RuleCategory.ABSOLUTE_TERM: 0.01})
    assert {h.rule for h in decision.hits} == kept_rules
    assert any("vetoed absolute.best" in n for n in decision.notes) is noted


@pytest.mark.parametrize(
    ("text", "start", "end", "matched", "vetoed"),
    [
        ("我微信被封了两天", 1, 3, "微信", True),  # a bare word of an overridable rule
        ("想要的加我微信", 3, 7, "加我微信", False),  # one of its firm terms: an explicit offer
        ("微信号 abc_123456", 0, 3, "微信号abc_123456", False),  # a pattern's match: a handle
    ],
)
def test_firm_terms_and_patterns_are_never_vetoed(text, start, end, matched, vetoed):
    hit = _hit("wechat.loose", start, end, text, category=RuleCategory.CONTACT_WECHAT, matched=matched)
    decision = decide([hit], _model(0.0, 0.0001), text=text, kind=Kind.TRANSCRIPT, ruleset=LOOSE,
                      thresholds=THRESHOLDS, veto_below={RuleCategory.CONTACT_WECHAT: 0.5})
    assert (decision.hits == ()) is vetoed


def test_confident_model_without_rule_hit_becomes_a_model_hit_with_its_span():
    text = "咱家那个绿色软件上搜我名字就行"
    model = _model(0.02, 0.995, ModelSpan(Label.DIVERSION, 4, 8, 0.9))
    decision = decide([], model, text=text, kind=Kind.TRANSCRIPT, ruleset=RULESET, thresholds=THRESHOLDS)
    assert decision.labels == (Label.DIVERSION,)
    (hit,) = decision.hits
    assert (hit.source, hit.rule, hit.text, hit.category) == (Source.MODEL, "model.diversion", "绿色软件", None)
    assert decision.action is Action.REMIND


def test_model_hit_never_blocks_even_when_the_model_is_sure():
    text = "喝完第二天血糖就下来了"
    model = _model(0.9999, 0.0, ModelSpan(Label.EFFICACY, 5, 10, 0.97))
    decision = decide([], model, text=text, kind=Kind.COPY, ruleset=RULESET, thresholds=THRESHOLDS)
    (hit,) = decision.hits
    assert (hit.text, hit.severity) == ("血糖就下来", Severity.MEDIUM)
    assert decision.action is Action.REVIEW  # medium severity on copy, capped for the model alone


@pytest.mark.parametrize(
    "span",
    [
        None,  # no span at all: the model cannot say which words
        ModelSpan(Label.EFFICACY, 2, 3, 0.9),  # one character
        ModelSpan(Label.EFFICACY, 5, 10, 0.3),  # the classifier's fallback run: no character passed 0.5
    ],
)
def test_model_only_finding_must_point_at_words(span):
    text = "喝完第二天血糖就下来了"
    model = _model(0.999, 0.0, *([span] if span else []))
    decision = decide([], model, text=text, kind=Kind.TRANSCRIPT, ruleset=RULESET, thresholds=THRESHOLDS)
    assert decision.hits == () and decision.action is Action.PASS


@pytest.mark.parametrize("p", [0.3, 0.6, 0.94, 0.985])
def test_model_below_its_confidence_floor_adds_nothing(p):
    decision = decide([], _model(p, p), text="今天天气不错", kind=Kind.TRANSCRIPT, ruleset=RULESET,
                      thresholds=THRESHOLDS)
    assert decision.hits == () and decision.action is Action.PASS and decision.labels == ()


def test_rule_hit_of_a_label_suppresses_a_second_model_hit_of_that_label():
    text = "加我微信 领优惠"
    hit = _hit("wechat.plain", 0, 4, text, category=RuleCategory.CONTACT_WECHAT)
    model = _model(0.0, 0.99, ModelSpan(Label.DIVERSION, 0, 4, 0.99))
    decision = decide([hit], model, text=text, kind=Kind.TRANSCRIPT, ruleset=RULESET, thresholds=THRESHOLDS)
    assert [h.source for h in decision.hits] == [Source.RULE]


def test_nested_phrase_of_one_label_reports_once():
    text = "全网最低价"
    hits = [_hit("absolute.lowest", 0, 5, text), _hit("absolute.best", 2, 5, text)]
    decision = decide(hits, None, text=text, kind=Kind.TRANSCRIPT, ruleset=RULESET, thresholds=THRESHOLDS)
    assert [h.rule for h in decision.hits] == ["absolute.lowest"]


@pytest.mark.parametrize(
    ("kind", "severity", "action"),
    [
        (Kind.TRANSCRIPT, Severity.LOW, Action.REMIND),
        (Kind.TRANSCRIPT, Severity.MEDIUM, Action.REMIND),
        (Kind.TRANSCRIPT, Severity.HIGH, Action.REVIEW),
        (Kind.COPY, Severity.LOW, Action.REMIND),
        (Kind.COPY, Severity.MEDIUM, Action.REVIEW),
        (Kind.COPY, Severity.HIGH, Action.BLOCK),
    ],
)
def test_action_policy(kind, severity, action):
    text = "加我微信"
    hit = _hit("wechat.plain", 0, 4, text, severity=severity, category=RuleCategory.CONTACT_WECHAT)
    decision = decide([hit], None, text=text, kind=kind, ruleset=RULESET, thresholds=THRESHOLDS)
    assert decision.action is action


def test_a_model_without_veto_bars_vetoes_nothing():
    text = "最好的办法是加微信"
    rules = compile_rules([_rule("absolute.best", RuleCategory.ABSOLUTE_TERM, overridable=True),
                           _rule("wechat.loose", RuleCategory.CONTACT_WECHAT, overridable=True)])
    hits = [_hit("absolute.best", 0, 2, text, matched="best词"),
            _hit("wechat.loose", 6, 9, text, category=RuleCategory.CONTACT_WECHAT, matched="loose词")]
    decision = decide(hits, _model(0.001, 0.001), text=text, kind=Kind.TRANSCRIPT, ruleset=rules,
                      thresholds=THRESHOLDS)
    assert [h.rule for h in decision.hits] == ["absolute.best", "wechat.loose"]
    assert decision.notes == ()


# A rule term heard in other characters: 曲班 for 祛斑, found by match.find_sound_alikes.
WHITENING = compile_rules([
    _rule("cosmetics.spots", RuleCategory.COSMETIC_OVERCLAIM).model_copy(update={"terms": ["祛斑"]}),
])
HEARD_TEXT = "这瓶面霜能曲班 晚上涂"


def _heard(severity: Severity = Severity.MEDIUM) -> Hit:
    hit = _hit("cosmetics.spots", 5, 7, HEARD_TEXT, severity=severity, category=RuleCategory.COSMETIC_OVERCLAIM)
    return replace(hit, matched="曲班")


@pytest.mark.parametrize(
    ("model", "found"),
    [
        # the model holds the sentence makes a claim and points at those words: a finding
        (_model(0.7, 0.0, ModelSpan(Label.EFFICACY, 4, 7, 0.8)), True),
        # at the label's threshold, far below the floor for the model alone
        (_model(0.5, 0.0, ModelSpan(Label.EFFICACY, 6, 7, 0.6)), True),
        # below the threshold: only a sound
        (_model(0.45, 0.0, ModelSpan(Label.EFFICACY, 4, 7, 0.8)), False),
        # the model's claim is elsewhere in the sentence
        (_model(0.9, 0.0, ModelSpan(Label.EFFICACY, 8, 11, 0.8)), False),
        # a span of the other label does not confirm it
        (_model(0.9, 0.9, ModelSpan(Label.DIVERSION, 4, 7, 0.8)), False),
        # without the model a sound-alike is never a finding
        (None, False),
    ],
)
def test_a_sound_alike_counts_only_where_the_model_agrees(model, found):
    decision = decide([], model, text=HEARD_TEXT, kind=Kind.TRANSCRIPT, ruleset=WHITENING, thresholds=THRESHOLDS,
                      model_only_min=dict.fromkeys(Label, 0.9995), heard=[_heard()])
    if not found:
        assert decision.hits == () and decision.action is Action.PASS
        return
    (hit,) = decision.hits
    assert (hit.rule, hit.text, hit.source, hit.score) == ("cosmetics.spots", "曲班", Source.RULE, model.scores.efficacy)
    assert decision.labels == (Label.EFFICACY,) and decision.action is Action.REMIND
    assert decision.notes == (f"“曲班” sounds like 祛斑 (cosmetics.spots); the model agrees (efficacy p={model.scores.efficacy:.3f})",)


@pytest.mark.parametrize(("p", "heard_min", "found"), [(0.3, 0.2, True), (0.3, None, False), (0.15, 0.2, False)])
def test_the_bar_for_a_sound_alike_may_be_below_the_labels_threshold(p, heard_min, found):
    model = _model(p, 0.0, ModelSpan(Label.EFFICACY, 5, 7, 0.7))
    decision = decide([], model, text=HEARD_TEXT, kind=Kind.TRANSCRIPT, ruleset=WHITENING, thresholds=THRESHOLDS,
                      heard=[_heard()], heard_min=heard_min)
    assert bool(decision.hits) is found


def test_a_sound_alike_never_blocks():
    model = _model(0.99, 0.0, ModelSpan(Label.EFFICACY, 5, 7, 0.9))
    decision = decide([], model, text=HEARD_TEXT, kind=Kind.COPY, ruleset=WHITENING, thresholds=THRESHOLDS,
                      heard=[_heard(Severity.HIGH)])
    (hit,) = decision.hits
    assert hit.severity is Severity.MEDIUM and decision.action is Action.REVIEW


def test_a_sound_alike_over_a_written_finding_of_its_label_adds_nothing():
    text = "祛斑曲班"
    written = _hit("cosmetics.spots", 0, 4, text, category=RuleCategory.COSMETIC_OVERCLAIM)
    heard = _hit("cosmetics.spots", 2, 4, text, category=RuleCategory.COSMETIC_OVERCLAIM)
    model = _model(0.99, 0.0, ModelSpan(Label.EFFICACY, 0, 4, 0.9))
    decision = decide([written], model, text=text, kind=Kind.TRANSCRIPT, ruleset=WHITENING, thresholds=THRESHOLDS,
                      heard=[heard])
    assert [(h.start, h.end) for h in decision.hits] == [(0, 4)] and decision.notes == ()
