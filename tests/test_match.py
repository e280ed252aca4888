"""find_hits over the shipped packs: Chinese inputs → (rule, label, start, end) in the original text."""

from __future__ import annotations

import pytest

from moderation.match import explain_dropped, find_hits
from moderation.normalize import normalize
from moderation.ruleset.compile import compile_rules
from moderation.ruleset.packs import load_rules
from moderation.ruleset.schema import Rule
from moderation.settings import DEFAULT_RULES_DIR
from moderation.types import Hit, Source

EFF, DIV = "efficacy", "diversion"
T, C = "transcript", "copy"


@pytest.fixture(scope="module")
def ruleset():
    return compile_rules(load_rules(DEFAULT_RULES_DIR))


def _hits(ruleset, text, kind=T, category="other") -> tuple[Hit, ...]:
    return find_hits(ruleset, normalize(text), kind=kind, category=category)


def assert_hits(ruleset, text, kind, category, expected):
    """`expected` lists (rule, label, start, end) that must all be found; an empty list means no hit."""
    hits = _hits(ruleset, text, kind, category)
    got = {(h.rule, h.label.value, h.start, h.end) for h in hits}
    for h in hits:
        assert h.text == text[h.start : h.end]
        assert h.source is Source.RULE and h.matched
    if not expected:
        assert not hits, [(h.rule, h.text) for h in hits]
    for row in expected:
        assert row in got, f"{text!r}: missing {row}, got {sorted(got)}"
    assert [h.start for h in hits] == sorted(h.start for h in hits)


CASES = [
    # plain claims
    ("这款膏药能根治老寒腿", T, "home", [("medical.cure", EFF, 5, 7), ("medical.disease", EFF, 6, 10)]),
    ("销量第一的扫地机", T, "electronics", [("absolute_terms.first_rank", EFF, 0, 4)]),
    ("家人们 这个面霜是最好用的", T, "cosmetics", [("absolute_terms.superlative", EFF, 9, 12)]),
    ("黄金只涨不跌", T, "jewelry", [("guaranteed.return", EFF, 2, 6)]),
    ("这个面膜三天白一度", T, "cosmetics", [("guaranteed.instant", EFF, 4, 7)]),
    ("这款精油燃脂", T, "cosmetics", [("cosmetics.body_shaping", EFF, 4, 6)]),
    ("全网最低 假一赔十", T, "food", [("absolute_terms.lowest_price", EFF, 0, 4)]),
    # disguised WeChat
    ("要的加我薇❤信", T, "apparel", [("contact_wechat.word", DIV, 2, 7)]),
    ("加我 v x 发你图", T, "apparel", [("contact_wechat.word", DIV, 0, 6)]),
    ("想要的加我威信 abc12345", T, "home", [("contact_wechat.handle", DIV, 5, 16)]),
    ("微\u200b信同号", C, "home", [("contact_wechat.letters", DIV, 0, 5)]),
    ("詳情請加微信", C, "other", [("contact_wechat.word", DIV, 3, 6)]),
    ("🛰️号在简介", T, "other", [("contact_wechat.slang", DIV, 0, 3)]),
    ("你把你V发评论区", T, "apparel", [("private_deal.ask_contact", DIV, 1, 5)]),
    # ASR mis-hearings
    ("要实拍的家我 我发你", T, "apparel", [("private_deal.add_first", DIV, 4, 6)]),
    ("家人门 加我为信", T, "other", [("contact_wechat.word", DIV, 4, 8)]),
    ("这个茶喝了能将血脂", T, "food", [("medical.blood", EFF, 6, 9)]),  # homophone of 降血脂
    ("全网最第价 就今天", T, "food", [("absolute_terms.lowest_price", EFF, 0, 5)]),
    ("大家我跟你们说 这个是新款", T, "apparel", []),
    ("我们的国家、我们的民族", T, "other", []),
    # a jieba cut across one edge keeps the term (快|手上)
    ("快手上也能找到我", T, "other", [("contact_other.platforms", DIV, 0, 2)]),
    # numbers in disguise
    ("扣扣 幺二三四五六七八", T, "other", [("contact_qq.number", DIV, 0, 11)]),
    ("电话 幺三八 一二三四 五六七八", T, "other", [("contact_phone.number", DIV, 3, 16)]),
    ("❶❸❽❶❷❸❹❺❻❼❽ 随时打", T, "other", [("contact_phone.number", DIV, 0, 11)]),
    # a negation followed by a real claim is still a claim
    ("我不敢说包治百病 但是头疼脑热吃它就好", T, "health_food", [("guaranteed.certain_result", EFF, 15, 19)]),
    # ordinary words that hold risky characters
    ("第一次来直播间的家人", T, "other", []),
    ("第一 续航好 第二 拍照好", T, "electronics", []),
    ("唯一的缺点是重", T, "home", []),
    ("这台是顶配 旗舰版", T, "electronics", []),
    ("最近降温了 多穿点", T, "apparel", []),
    ("这个根本不用洗", T, "home", []),
    ("微辣 微波炉加热", T, "food", []),
    ("巴氏杀菌 冷藏", C, "food", []),
    ("100%桑蚕丝", C, "apparel", []),
    # look-alikes of contacts
    ("支持微信支付", C, "other", []),
    ("QQ糖软软的 Q弹", T, "food", []),
    ("V领毛衣 显脸小", C, "apparel", []),
    ("型号：VX-300", C, "electronics", []),
    ("平安扣 A货", C, "jewelry", []),
    ("企鹅公仔🐧", C, "other", []),
    ("生产许可证 SC11332068501234", C, "food", []),
    ("看我头像进橱窗", T, "apparel", []),
    ("可以发个朋友圈晒一下", T, "home", []),
    # negation, quotation, warnings
    ("我们不说根治 只是日常护理", T, "home", []),
    ("别信那些一次见效的", T, "cosmetics", []),
    ("这个不能治病", T, "food", []),
    ("我们不加微信", T, "other", []),
    ("有人问 这个能降血压吗", T, "food", []),
    ("有人冒充我们让你加微信 千万别信", T, "other", []),
    ("有阿姨问 这个护腰能治腰间盘突出吗", T, "home", []),
    ("这个治病还是得去医院", T, "home", []),
    # a question frame covers the next clause, not the speaker's own offer after it
    ("有姐妹问 能不能便宜点 私我 给你少十块", T, "cosmetics", [("private_deal.private_chat", DIV, 12, 14)]),
    ("有问题私我", T, "other", [("private_deal.private_chat", DIV, 3, 5)]),
    # product category decides
    ("这个核桃补脑", T, "agri", [("health_food.food_function", EFF, 4, 6)]),
    ("这个核桃补脑", T, "health_food", [("health_food.unregistered_wording", EFF, 4, 6)]),
    ("有助于增强免疫力", C, "health_food", []),
    ("提高免疫力", C, "health_food", [("health_food.unregistered_wording", EFF, 0, 5)]),
    ("美白精华", C, "cosmetics", [("cosmetics.special_use", EFF, 0, 2)]),
    ("美白精华 国妆特字G20230001", C, "cosmetics", []),
    ("这个枕头治疗颈椎", T, "home", [("medical.treatment_words", EFF, 4, 6)]),
    ("低频治疗仪 用于缓解肌肉酸痛", C, "medical_device", []),
    ("收腹提臀 显瘦", C, "apparel", []),
    # compositions: a condition then an outcome, a certainty then an effect, in one clause
    ("我二姨的老寒腿 贴了一周 再没犯过", T, "home", [("medical.condition_outcome", EFF, 4, 17)]),
    ("泡了半个月 胃病好利索了", T, "home", [("medical.condition_outcome", EFF, 6, 11)]),
    ("这个减肥茶 你喝一个月 肯定能瘦下来", T, "food", [("guaranteed.certain_effect", EFF, 12, 18)]),
    ("胃病的话，好多人都有", T, "home", []),
    ("肯定是正品 放心拍", T, "food", []),
    # a Latin lead-in belongs to the number (售后Tel：139… reads tel139… once separators go)
    ("售后Tel：13677778888", C, "home", [("contact_phone.number", DIV, 2, 17)]),
    ("订购phone 0755-86651234", C, "home", [("contact_phone.number", DIV, 2, 21)]),
    # a term is never read across clause punctuation
    ("发货快，手感好", T, "apparel", []),
    ("加我们的粉丝团 领券", T, "other", []),
    # a refusal that points back at the phrase takes it back
    ("说能根治的那种 我们不卖", T, "home", []),
    ("这个能根治 我们不卖假货", T, "home", [("medical.cure", EFF, 3, 5)]),
    # no text
    ("", T, "other", []),
]


@pytest.mark.parametrize(("text", "kind", "category", "expected"), CASES)
def test_find_hits(ruleset, text, kind, category, expected):
    assert_hits(ruleset, text, kind, category, expected)


def test_overlapping_hits_of_one_rule_merge(ruleset):
    hits = [h for h in _hits(ruleset, "加我微信 微信同号") if h.rule == "contact_wechat.letters"]
    # 加微信 and 微信号 overlap: one hit covers both; touching hits stay apart.
    word = [h for h in _hits(ruleset, "加微信号") if h.rule == "contact_wechat.word"]
    assert [(h.start, h.end) for h in word] == [(0, 4)]
    assert len(hits) == 2  # 加我微 and 微信同号 do not overlap


def test_different_rules_may_both_fire(ruleset):
    rules = {h.rule for h in _hits(ruleset, "这个能根治 加我微信")}
    assert {"medical.cure", "contact_wechat.word"} <= rules


def _tiny(**fields):
    data = {
        "id": "tiny.rule",
        "label": "efficacy",
        "category": "medical_claim",
        "terms": ["根治"],
        "basis": "广告法第十七条",
        "reminder": "主播您好",
    } | fields
    return compile_rules([Rule.model_validate(data)])


@pytest.mark.parametrize(
    ("fields", "kind", "category", "fires"),
    [
        ({"kinds": ["copy"]}, T, "other", False),
        ({"kinds": ["copy"]}, C, "other", True),
        ({"applies_to": ["food"]}, T, "home", False),
        ({"applies_to": ["food"]}, T, "food", True),
        ({"not_for": ["medical_device"]}, T, "medical_device", False),
        ({"exempt_if_text_contains": ["说明书"]}, T, "other", False),
    ],
)
def test_applicability(fields, kind, category, fires):
    text = "按说明书 能根治" if "exempt_if_text_contains" in fields else "能根治"
    hits = find_hits(_tiny(**fields), normalize(text), kind=kind, category=category)
    assert bool(hits) is fires


def test_hit_carries_rule_evidence():
    (hit,) = find_hits(_tiny(severity="high"), normalize("能根治的"), kind=T, category="other")
    assert (hit.rule, hit.label.value, hit.category.value, hit.severity.value) == (
        "tiny.rule",
        EFF,
        "medical_claim",
        "high",
    )
    assert (hit.start, hit.end, hit.text, hit.matched) == (1, 3, "根治", "根治")


def test_exception_overlapping_the_term_kills_it():
    ruleset = _tiny(terms=["第一"], exceptions=["第一次"])
    assert not find_hits(ruleset, normalize("第一次买"), kind=T, category="other")
    assert find_hits(ruleset, normalize("销量 第一"), kind=T, category="other")


def test_short_terms_need_word_boundaries():
    ruleset = _tiny(terms=["第一"])
    assert not find_hits(ruleset, normalize("第一名拍到的送"), kind=T, category="other")
    anywhere = _tiny(terms=["第一"], match_anywhere=True)
    assert find_hits(anywhere, normalize("第一名拍到的送"), kind=T, category="other")


def test_homophones_can_be_switched_off():
    rules = load_rules(DEFAULT_RULES_DIR)
    plain = compile_rules(rules, homophones=False)
    assert not find_hits(plain, normalize("喝了能将血脂"), kind=T, category="food")
    assert find_hits(plain, normalize("喝了能降血脂"), kind=T, category="food")


@pytest.mark.parametrize(
    ("text", "rule", "reason"),
    [
        ("第一次来直播间", "absolute_terms.first_rank", "exception"),
        ("我们不说根治", "medical.cure", "negated by"),
        ("有人问 这个能降血压吗", "medical.blood", "quoted or reported"),
        ("全网最低这种话我不说", "absolute_terms.lowest_price", "taken back by"),
        ("美白精华 国妆特字G20230001", "cosmetics.special_use", "exempt"),
        ("发货快，手感好", "contact_other.platforms", "'快，手' joins two clauses"),
    ],
)
def test_dropped_occurrences_say_why(ruleset, text, rule, reason):
    dropped = explain_dropped(ruleset, normalize(text), kind=T, category="cosmetics")
    assert any(d.rule == rule and d.reason.startswith(reason) for d in dropped), dropped
    assert all(d.text == text[d.start : d.end] for d in dropped)


@pytest.mark.parametrize(
    ("before", "after", "rule"),
    [
        # the question and its negator belong to the earlier segment; the next one is a new clause
        ("有宝宝问 还有没有赠品", "淘宝搜我们店名就有", "contact_other.platforms"),
        ("这款没有香精", "能根治湿疹", "medical.cure"),
        # an earlier segment that ends on its negator refuses what the next one begins with
        ("这个可不能", "根治鼻炎哈", None),
        ("这个真不能啊 ", "根治的", None),
        ("我们不说", "全网最低", None),
        # a question frame still covers the clause after it, across the pause
        ("有人问", "这个能降血压吗", None),
    ],
)
def test_a_pause_between_segments_ends_a_clause(ruleset, before, after, rule):
    text = before + after
    hits = find_hits(ruleset, normalize(text), kind=T, category="other", pauses=(len(before),))
    assert [h.rule for h in hits if h.rule == rule] == ([rule] if rule else [])
    if rule is None:
        assert not hits
