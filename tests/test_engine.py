"""The Moderator with the shipped packs and the shipped model: the SPEC's Python API."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from moderation import build_moderator
from moderation.decide import decide
from moderation.engine import CheckItem, LayerUnavailable
from moderation.reminders import reminders_for
from moderation.ruleset.compile import compile_rules
from moderation.ruleset.workflow import Sentence, dry_run
from moderation.settings import Settings
from moderation.types import ALL_LAYERS, Action, Kind, Label, Layer, ProductCategory, Result, Scores, Source

RULES = frozenset({Layer.RULES})


@pytest.fixture(scope="module")
def moderator():
    return build_moderator()


@pytest.fixture(scope="module")
def rules_only():
    return build_moderator(Settings(rules_only=True))


def test_result_has_the_spec_shape(moderator):
    r = moderator.check("加我薇信 私下给你便宜", kind=Kind.TRANSCRIPT, category=ProductCategory.APPAREL)
    d = r.to_dict()
    assert set(d) >= {"id", "labels", "action", "hits", "scores", "reminders", "ruleset_version", "model_version"}
    assert d["labels"] == ["diversion"]
    assert d["scores"]["diversion"] is not None and d["model_version"]
    for hit in d["hits"]:
        assert "加我薇信 私下给你便宜"[hit["start"]:hit["end"]] == hit["text"]


@pytest.mark.parametrize(
    ("text", "kind", "category", "labels"),
    [
        ("家人们这个茶喝了能降血压", Kind.TRANSCRIPT, ProductCategory.FOOD, (Label.EFFICACY,)),
        ("有问题加我V 我单独给你算", Kind.TRANSCRIPT, ProductCategory.HOME, (Label.DIVERSION,)),
        ("这件卫衣纯棉的 最近天冷 穿着正好", Kind.TRANSCRIPT, ProductCategory.APPAREL, ()),
        ("【旗舰店】补水保湿面霜 温和不刺激", Kind.COPY, ProductCategory.COSMETICS, ()),
    ],
)
def test_both_layers_judge_clear_cases(moderator, text, kind, category, labels):
    assert moderator.check(text, kind=kind, category=category).labels == labels


def test_check_many_matches_check(moderator):
    texts = ["全网最低价 拍一发二", "加我扣扣 一二三四五六七", "今天包邮", "用了能根治脚气"]
    many = moderator.check_many([CheckItem(t, id=str(i)) for i, t in enumerate(texts)])
    single = [moderator.check(t, id=str(i)) for i, t in enumerate(texts)]
    # Padding in a batch moves int8 probabilities in the third decimal; the decision must not move.
    for a, b in zip(many, single, strict=True):
        assert (a.id, a.labels, a.action) == (b.id, b.labels, b.action)
        assert [(h.rule, h.start, h.end) for h in a.hits] == [(h.rule, h.start, h.end) for h in b.hits]
        for label in ("efficacy", "diversion"):
            assert a.scores.to_dict()[label] == pytest.approx(b.scores.to_dict()[label], abs=0.02)


def test_layers_choose_what_runs(moderator):
    r = moderator.check("加我微信", layers=RULES)
    assert r.scores.diversion is None and r.model_version is None
    assert all(h.source is Source.RULE for h in r.hits)
    m = moderator.check("加我微信", layers=frozenset({Layer.MODEL}))
    assert m.scores.diversion is not None and all(h.source is Source.MODEL for h in m.hits)


def test_rules_only_mode_says_so_and_refuses_the_model_layer(rules_only):
    r = rules_only.check("加我微信")
    assert any("rules-only" in n for n in r.notes) and r.model_version is None
    assert rules_only.status()["rules_only"]
    with pytest.raises(LayerUnavailable):
        rules_only.check("加我微信", layers=frozenset({Layer.MODEL}))


@pytest.mark.parametrize(
    ("text", "layers"),
    [
        # no term at all
        ("今天包邮 拍一发二", RULES),
        ("", RULES),
        # a term voided by an exception (第一次), and the rules-only note when no layers are named
        ("第一次来直播间的宝宝 点点关注", RULES),
        ("第一次来直播间的宝宝 点点关注", None),
    ],
)
def test_a_clean_text_gets_the_result_decide_and_reminders_give(rules_only, text, layers):
    """check() builds a clean result without decide() and reminders_for(); it must be theirs."""
    ruleset = rules_only.live.current
    decision = decide((), None, text=text, kind=Kind.COPY, ruleset=ruleset, thresholds=dict.fromkeys(Label, 1.0))
    notes = () if layers else ("rules-only mode: started with --rules-only",)
    expected = Result(
        id="s1",
        labels=decision.labels,
        action=decision.action,
        hits=decision.hits,
        scores=Scores(),
        reminders=reminders_for(decision.hits, ruleset.rules),
        ruleset_version=ruleset.version,
        model_version=None,
        layers=RULES,
        notes=notes + decision.notes,
    )
    assert rules_only.check(text, kind=Kind.COPY, layers=layers, id="s1") == expected


@pytest.mark.parametrize(
    "text",
    [
        "今天包邮 明天就发货",  # nothing anywhere
        "第一次来直播间的宝宝 点点关注",  # a term voided by an exception
        "",
        "这个面霜很保湿 敏感肌可用",  # a permitted claim the model reads and lets pass
    ],
)
def test_a_clean_text_with_the_model_gets_the_result_decide_and_reminders_give(moderator, text):
    """With the model, the shortcut is taken when neither layer has anything to point at."""
    ruleset = moderator.live.current
    (model,) = moderator.classifier.predict([text])
    assert not model.spans
    decision = decide((), model, text=text, kind=Kind.COPY, ruleset=ruleset, thresholds=moderator.classifier.thresholds)
    expected = Result(
        id="s1",
        labels=decision.labels,
        action=decision.action,
        hits=decision.hits,
        scores=model.scores,
        reminders=reminders_for(decision.hits, ruleset.rules),
        ruleset_version=ruleset.version,
        model_version=moderator.model_version,
        layers=ALL_LAYERS,
        notes=decision.notes,
    )
    assert moderator.check(text, kind=Kind.COPY, id="s1") == expected
    assert moderator.check_many([CheckItem(text, Kind.COPY, id="s1")]) == [expected]


def test_missing_model_is_a_clear_error_at_start(tmp_path):
    from moderation.classifier import ModelLoadError

    with pytest.raises(ModelLoadError):
        build_moderator(Settings(model_dir=tmp_path))


def test_check_is_safe_from_many_threads(moderator):
    texts = ["加我薇信领红包", "这款精华三天美白", "今天最后一单了", "扣扣群里发链接"] * 25
    expected = [moderator.check(t).to_dict() for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda t: moderator.check(t).to_dict(), texts))
    assert got == expected


@pytest.mark.parametrize(
    ("earlier", "text"),
    [("家人们晚上好 今天福利多", "想要的加我薇信 发你优惠券"), ("这款面霜很滋润 ", "用了三天痘痘全没了 永不复发")],
)
def test_model_from_limits_what_the_model_reads_and_spans_stay_in_whole_text_offsets(moderator, earlier, text):
    whole = CheckItem(earlier + text, model_from=len(earlier))
    (joined,) = moderator.check_many([whole], layers=frozenset({Layer.MODEL}))
    alone = moderator.check(text, layers=frozenset({Layer.MODEL}))
    assert joined.scores == alone.scores and joined.hits  # the model finds these clear cases
    shifted = [(h.rule, h.start - len(earlier), h.end - len(earlier), h.text) for h in joined.hits]
    assert shifted == [(h.rule, h.start, h.end, h.text) for h in alone.hits]


def test_the_floor_for_model_only_findings_comes_from_the_model_card(moderator):
    """The build writes the floor it chose on the held-out split into model.json; the engine uses
    it, and a dry-run moderator keeps it."""
    card = moderator.classifier.model_only_min
    assert card is not None and set(card) == set(Label) and all(0.5 <= v < 1.0 for v in card.values())
    assert moderator.model_only_min == card
    assert moderator.with_ruleset(moderator.live.current).model_only_min == card


def test_the_bar_for_sound_alikes_comes_from_the_model_card(moderator):
    card = moderator.classifier.heard_min
    assert card is not None and 0.0 < card < 1.0
    assert moderator.heard_min == card
    assert moderator.with_ruleset(moderator.live.current).heard_min == card



@pytest.mark.parametrize(
    ("text", "category", "rule", "heard", "term"),
    [
        # The shipped student scores 驱豆 (祛痘) and 曲班 (祛斑) in such sentences below the bar
        # (0.07, 0.14): models/MODEL_CARD.md, Known limits.
        ("宝宝们 这款精华淡办效果特别好", ProductCategory.COSMETICS, "cosmetics.special_use", "淡办", "淡斑"),
    ],
)
def test_a_claim_heard_in_other_characters_counts_where_the_model_agrees(
    moderator, text, category, rule, heard, term
):
    """The rules alone leave a two-character sound-alike alone; with the model it is the rule's
    finding, with the rule's reminder, at the model's probability."""
    alone = moderator.check(text, category=category, layers=RULES)
    assert alone.action is Action.PASS and not alone.hits
    both = moderator.check(text, category=category)
    (hit,) = both.hits
    assert (hit.rule, hit.text, hit.source) == (rule, heard, Source.RULE)
    assert hit.score == both.scores.efficacy and both.labels == (Label.EFFICACY,)
    assert both.action is Action.REMIND and both.reminders
    assert any(f"“{heard}” sounds like {term}" in note for note in both.notes)


def test_a_sound_alike_the_speaker_refuses_is_not_a_finding(moderator):
    result = moderator.check("这个面霜可不能曲班哈 就是保湿的", category=ProductCategory.COSMETICS)
    assert result.action is Action.PASS and not result.hits


def test_a_reviewers_dry_run_scores_with_the_model_too(moderator):
    """The rule editor's dry-run hands the engine its own sentences; with the model loaded (the
    default service) they must score like CheckItems."""
    published = moderator.live.current
    draft = compile_rules([r.model_copy(update={"terms": [*r.terms, "小蓝鸟号"]}) if r.id == "contact_wechat.slang"
                           else r for r in published.rules.values()])
    report = dry_run(moderator=moderator, published=published, draft=draft,
                     sentences=[Sentence("加我小蓝鸟号 给你便宜"), Sentence("这款面霜很保湿")])
    assert report.sentences == 2
    assert [(h["sentence"], h["hit"]["rule"]) for h in report.new_hits] == [("加我小蓝鸟号 给你便宜", "contact_wechat.slang")]


@pytest.mark.parametrize(
    ("text", "kind", "labels", "phrase"),
    [
        # a mention: the model reads the clause as benign and vetoes the bare word
        ("我微信昨天被封了 今天才解封", Kind.TRANSCRIPT, (), None),
        # a handle is never vetoed, and the Latin lead-in belongs to the number
        ("售后Tel：13677778888", Kind.COPY, (Label.DIVERSION,), "Tel：13677778888"),
        # the rule layer refused the clause (治病 … 得去医院): no finding of the model there either
        ("阿姨 治病咱得去医院", Kind.TRANSCRIPT, (), None),
    ],
)
def test_the_model_judges_the_clause_both_ways(moderator, text, kind, labels, phrase):
    result = moderator.check(text, kind=kind)
    assert result.labels == labels
    if phrase:
        assert [text[h.start : h.end] for h in result.hits] == [phrase]
    if not labels and moderator.check(text, kind=kind, layers=RULES).hits:
        assert any(n.startswith("model vetoed") for n in result.notes)
