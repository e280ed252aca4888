"""Homophone variants of rule terms: what ASR writes for a violating word."""

from __future__ import annotations

import pytest

from moderation.ruleset.homophones import common_readings, expand_terms, homophone_variants

# term -> variants an ASR engine writes for it (each one character off, same toneless pinyin)
EXPECTED = [
    ("根治", "跟治"),
    ("根治", "根知"),
    ("降血糖", "将血糖"),
    ("降血糖", "降雪糖"),
    ("杀螨", "杀满"),
    ("排毒", "排读"),
    ("稳赚不赔", "稳赚不陪"),
    ("燃脂", "然脂"),
    ("燃脂", "燃之"),
    ("淡斑", "淡办"),
    ("美白", "美百"),
    ("补脑", "捕脑"),
    ("免疫力", "面疫力"),
    ("失眠", "失绵"),
    ("溶栓", "荣栓"),
    ("朋友圈", "朋友全"),
    ("手机号", "手机浩"),
    ("销量", "消量"),
    ("微信", "为信"),
    ("微信", "危信"),
    ("加我微信", "加我为信"),
    ("祛痘", "去痘"),
]


@pytest.mark.parametrize(("term", "variant"), EXPECTED)
def test_expected_variant_is_produced(term: str, variant: str) -> None:
    assert variant in homophone_variants(term)


# variants that are real words in jieba's dictionary: ordinary text, not a mis-hearing
REAL_WORDS = [
    ("降糖", "姜糖"),
    ("微信", "维新"),
    ("微信", "威信"),
    ("电话", "电化"),
    ("根治", "根植"),
    ("消炎", "消烟"),
]


@pytest.mark.parametrize(("term", "word"), REAL_WORDS)
def test_real_words_are_not_variants(term: str, word: str) -> None:
    assert word not in homophone_variants(term)


@pytest.mark.parametrize("term", ["治", "微", "V", "vx", "QQ", "400", "V信", "加V", "Q号", "", "3天"])
def test_terms_with_fewer_than_two_han_characters_never_expand(term: str) -> None:
    assert homophone_variants(term) == frozenset()


@pytest.mark.parametrize("term", ["V信号", "加VX好友", "3天见效", "100%有效"])
def test_latin_and_digits_are_kept(term: str) -> None:
    variants = homophone_variants(term)
    assert variants
    for variant in variants:
        for a, b in zip(term, variant, strict=True):
            if not ("\u4e00" <= a <= "\u9fff"):
                assert a == b


@pytest.mark.parametrize("term", ["根治", "降血糖", "稳赚不赔", "朋友圈", "有助于增强免疫力", "加V信"])
def test_variants_differ_in_exactly_one_han_position(term: str) -> None:
    variants = homophone_variants(term)
    assert term not in variants
    for variant in variants:
        assert len(variant) == len(term)
        diffs = [i for i, (a, b) in enumerate(zip(term, variant, strict=True)) if a != b]
        assert len(diffs) == 1
        assert "\u4e00" <= variant[diffs[0]] <= "\u9fff"


@pytest.mark.parametrize("cap", [0, 1, 5, 24])
def test_cap_is_respected_and_spread_over_positions(cap: int) -> None:
    variants = homophone_variants("稳赚不赔", max_variants=cap)
    assert len(variants) == cap
    if cap >= 4:
        changed = {
            next(i for i, (a, b) in enumerate(zip("稳赚不赔", v, strict=True)) if a != b) for v in variants
        }
        assert changed == {0, 1, 2, 3}


def test_context_reading_of_heteronyms() -> None:
    # 长 in 长高 is zhang: 涨高 is a mis-hearing, 常高 (chang) is not
    variants = homophone_variants("长高")
    assert "涨高" in variants
    assert "常高" not in variants


def test_deterministic() -> None:
    terms = ["根治", "降血糖", "稳赚不赔", "手机号", "微信", "美白", "排毒"]
    first = [homophone_variants(t) for t in terms]
    second = [homophone_variants(t) for t in reversed(terms)][::-1]
    assert first == second
    assert list(expand_terms(terms).items()) == list(expand_terms(reversed(terms)).items())


def test_custom_lexicon_guard() -> None:
    assert "跟治" in homophone_variants("根治", lexicon={})
    assert "跟治" not in homophone_variants("根治", lexicon={"跟治": 5})
    assert "跟治" in homophone_variants("根治", lexicon={"跟治": 5}, min_word_freq=10)


def test_expand_terms_maps_variants_to_sources() -> None:
    mapping = expand_terms(["根治", "降血糖", "手机号"])
    assert mapping["跟治"] == "根治"
    assert mapping["将血糖"] == "降血糖"
    assert mapping["手机浩"] == "手机号"
    assert all(v not in {"根治", "降血糖", "手机号"} for v in mapping)


def test_expand_terms_shared_variant_goes_to_first_sorted_source() -> None:
    lexicon: dict[str, int] = {}
    terms = ["致愈", "治愈"]  # both yield 知愈, 之愈, ...
    shared = homophone_variants("治愈", max_variants=99, lexicon=lexicon) & homophone_variants(
        "致愈", max_variants=99, lexicon=lexicon
    )
    assert "知愈" in shared
    mapping = expand_terms(terms, max_variants=99, lexicon=lexicon)
    first = sorted(terms)[0]
    for variant in shared:
        assert mapping[variant] == first


def test_expand_terms_drops_variants_that_are_source_terms() -> None:
    # 跟治 is a homophone of 根治 but is itself listed: it stays a term, not a variant
    mapping = expand_terms(["根治", "跟治"], lexicon={})
    assert "跟治" not in mapping
    assert "根治" not in mapping


@pytest.mark.parametrize(
    ("ch", "expected"),
    [
        ("长", {"chang", "zhang"}),  # both readings are common
        ("行", {"hang", "xing"}),
        ("白", {"bai"}),  # bo is a dictionary reading, too rare to hear
        ("癌", {"ai"}),
        ("a", set()),
        ("，", set()),
    ],
)
def test_common_readings(ch: str, expected: set[str]) -> None:
    assert set(common_readings(ch)) == expected
