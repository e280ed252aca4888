"""Rule terms heard in other characters (祛痘 as 驱豆): the sound index over the shipped packs, and
find_sound_alikes judging what it finds like any other occurrence."""

from __future__ import annotations

import pytest

from moderation.match import find_hits, find_sound_alikes, sound_alike, terms_heard
from moderation.normalize import normalize
from moderation.ruleset.compile import compile_rules
from moderation.ruleset.packs import load_rules
from moderation.ruleset.sounds import SoundIndex
from moderation.settings import DEFAULT_RULES_DIR


@pytest.fixture(scope="module")
def ruleset():
    return compile_rules(load_rules(DEFAULT_RULES_DIR))


def _heard(ruleset, text, category="other", kind="transcript"):
    return find_sound_alikes(ruleset, normalize(text), kind=kind, category=category)


@pytest.mark.parametrize(
    ("text", "category", "surface", "term"),
    [
        ("姐妹们这款驱豆面膜 敷一晚上", "cosmetics", "驱豆", "祛痘"),  # both characters swapped
        ("这瓶面霜能曲班 晚上涂", "cosmetics", "曲班", "祛斑"),  # same syllables, another tone
        ("这个酵素能排读 一天一包", "health_food", "排读", "排毒"),
        ("这个茶喝了能简肥 早晚一杯", "food", "简肥", "减肥"),
    ],
)
def test_a_term_heard_in_other_characters_is_found_with_the_term_it_sounds_like(
    ruleset, text, category, surface, term
):
    heard = _heard(ruleset, text, category)
    assert [h.text for h in heard][:1] == [surface]
    hit = heard[0]
    assert hit.start == text.index(surface) and hit.end == hit.start + len(surface)
    assert term in terms_heard(ruleset, hit)
    assert sound_alike(ruleset, hit)
    assert not find_hits(ruleset, normalize(text), kind="transcript", category=category)


@pytest.mark.parametrize(
    ("text", "category", "why"),
    [
        ("这瓶面霜能祛斑 晚上涂", "cosmetics", "the term as written is a rule hit, not a sound-alike"),
        ("宝宝们 这个可不能驱豆哈 别信", "cosmetics", "negated like any other occurrence"),
        ("下班后去公司聊聊", "other", "司聊 cuts the word 公司"),
        ("这个茶喝了能简肥 早晚一杯", "cosmetics", "the weight-loss rule does not apply to cosmetics"),
        ("今天给大家上一款新的面膜", "cosmetics", "nothing sounds like a term"),
    ],
)
def test_no_sound_alike(ruleset, text, category, why):
    assert not _heard(ruleset, text, category), why


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("这个淡办精华", [("淡办", "淡斑")]),
        ("维新变法", []),  # jieba knows 维新: ordinary text, not 微信 misheard
        ("加我微信", []),  # written exactly as a term
        ("abc 123", []),
    ],
)
def test_the_index_finds_spans_that_read_like_a_term(text, expected):
    index = SoundIndex([(0, "淡斑"), (1, "微信")], written={"淡斑", "微信"}, lexicon={"维新": 300})
    assert [(text[s.start : s.end], s.term) for s in index.find(text)] == expected


def test_rules_that_opt_out_of_homophones_are_not_indexed(ruleset):
    rules = [r.model_copy(update={"homophones": False}) for r in load_rules(DEFAULT_RULES_DIR)]
    compiled = compile_rules(rules)
    assert not find_sound_alikes(compiled, normalize("这瓶面霜能曲班"), kind="transcript", category="cosmetics")
    assert _heard(ruleset, "这瓶面霜能曲班", "cosmetics")


@pytest.mark.parametrize(
    ("near", "found"),
    [
        (None, ["驱豆", "曲班"]),  # everywhere
        ([(5, 7)], ["驱豆"]),  # the model points at the first claim
        ([(7, 13)], ["曲班"]),  # offsets into the original text, spaces included
        ([(0, 3)], []),  # at neither
    ],
)
def test_only_spans_near_what_the_model_points_at_are_looked_up(ruleset, near, found):
    text = "这款面膜能驱豆 还能曲班哦"
    heard = find_sound_alikes(ruleset, normalize(text), kind="transcript", category="cosmetics", near=near)
    assert [h.text for h in heard] == found
