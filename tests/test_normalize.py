"""normalize(): what each disguise folds to, what stays harmless, and an exact offset map."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation.normalize import NormalizedText, normalize


def assert_offsets(result: NormalizedText) -> None:
    """Every normalized char points at a non-empty, ordered slice of the original."""
    assert len(result.starts) == len(result.ends) == len(result.text)
    previous_start = 0
    for i in range(len(result.text)):
        start, end = result.starts[i], result.ends[i]
        assert 0 <= start < end <= len(result.original), (i, start, end)
        assert start >= previous_start, "offsets must not go backwards"
        previous_start = start


def assert_normalizes(original: str, expected: str) -> NormalizedText:
    result = normalize(original)
    assert result.original == original
    assert result.text == expected, f"{original!r} → {result.text!r}, expected {expected!r}"
    assert_offsets(result)
    return result


# Each row: original → normalized text.
DISGUISES = [
    # empty and blank
    ("", ""),
    ("   ", ""),
    ("\u200b\u200d", ""),
    # plain words stay as they are
    ("加我微信", "加我微信"),
    ("手机号发你", "手机号发你"),
    ("私聊我", "私聊我"),
    # homophones / near forms of 微信
    ("加我薇信", "加我微信"),
    ("有事找我威信", "有事找我微信"),
    ("维信同号", "微信同号"),
    ("徽信搜一下", "微信搜一下"),
    ("危信联系", "微信联系"),
    ("溦信号多少", "微信号多少"),
    ("伟鑫同款", "微信同款"),
    ("威❤芯", "微信"),
    ("微亻言", "微信"),
    # ASR mis-hearings
    ("加我为信吧", "加我微信吧"),
    ("私我为新", "私我微信"),
    ("维新号发了", "微信号发了"),
    ("加我微星", "加我微信"),
    ("蔻蔻是多少", "qq是多少"),
    ("叩叩联系", "qq联系"),
    ("打我电化", "打我电化"),  # left to the packs: 电话 alone is not a contact
    # Latin letters
    ("加V", "加v"),
    ("加我vx", "加我微信"),
    ("WX同号", "微信同号"),
    ("V信搜我", "微信搜我"),
    ("v信", "微信"),
    ("W X联系", "微信联系"),
    ("V x 我", "微信我"),
    ("加我q", "加我q"),
    # spaces, punctuation, symbols inserted
    ("微 信", "微信"),
    ("微-信", "微信"),
    ("微 | 信", "微信"),
    ("薇_信", "微信"),
    ("薇&信", "微信"),
    ("W-X", "微信"),
    ("v*x", "微信"),
    ("V.X.", "微信"),
    ("w x", "微信"),
    ("m e i 9 9", "mei99"),
    ("加 V", "加v"),
    # emoji inserted or replacing words
    ("薇❤信", "微信"),
    ("V❤", "v"),
    ("💚泡泡", "💚泡泡"),
    ("🐧群", "🐧群"),  # contact emoji are kept as words
    ("🛰️号", "🛰号"),
    ("➕V", "加v"),
    ("✚v 聊", "加v聊"),
    ("📞找我", "📞找我"),
    ("☎", "☎"),
    ("💬我", "💬我"),
    # zero-width characters
    ("微\u200b信", "微信"),
    ("微\u200c信\u200d号", "微信号"),
    ("abc\u200b123", "abc123"),
    # full-width forms
    ("ｖｘ", "微信"),
    ("Ｖ信", "微信"),
    ("ＱＱ群", "qq群"),
    ("ｑ", "q"),
    ("ｗｅｉｘｉｎ", "微信"),
    ("１３７００００１１１１", "13700001111"),
    # pinyin / English
    ("wei xin", "微信"),
    ("weixin", "微信"),
    ("jia wo weixin", "加我微信"),
    ("wei…xin", "微信"),
    ("WeChat", "微信"),
    ("wēixìn", "微信"),
    # slang and QQ code names
    ("扣扣", "qq"),
    ("企鹅号", "qq号"),
    ("上企鹅找我", "上qq找我"),
    ("加个球球", "加个qq"),
    ("球球联系", "qq联系"),
    ("有事威信我", "有事微信我"),
    ("扣群", "qq群"),
    ("Q号", "qq号"),
    ("卫星", "卫星"),
    # Chinese numerals incl. 幺 两 洞 拐
    ("幺三八", "138"),
    ("幺五九 两两 六六 洞洞 八八", "15922660088"),
    ("拐拐幺四", "7714"),
    ("扣扣八六七五四三二一", "qq86754321"),
    # financial numerals
    ("壹叁捌", "138"),
    ("零零柒柒", "0077"),
    ("陆陆捌捌", "6688"),
    # circled, negative-circled, parenthesized, keycap
    ("①③⑧", "138"),
    ("❶❸❺", "135"),
    ("⑴③⑧", "138"),
    ("⓪⑤③①", "0531"),
    ("1️⃣3️⃣9️⃣", "139"),
    ("➀➁➂", "123"),
    # digits split by spaces, hyphens or fillers
    ("15 8 66 12 34 00", "15866123400"),
    ("186-1234-0000", "18612340000"),
    ("幺八六 那个 四四零零", "1864400"),
    ("138 嗯 0000", "1380000"),
    # landlines and 400 hotlines
    ("零幺零 八八六六", "0108866"),
    ("0755-8888 6666", "075588886666"),
    ("400-886-5566", "4008865566"),
    ("四零零", "400"),
    # traditional characters
    ("詳情請加微信", "详情请加微信"),
    ("聯繫方式見主頁", "联系方式见主页"),
    ("電話", "电话"),
    # decorated handles
    ("l1l1_sh0p", "l1l1sh0p"),
    ("▶ home_deco ◀", "homedeco"),
    ("WX→ abc123 ←", "微信abc123"),
    ("vx：xiaoyu_77", "微信xiaoyu77"),
    # a + before letters or CJK is 加, elsewhere a separator
    ("+V 13812345678", "加v13812345678"),
    ("买2+1", "买21"),
]


@pytest.mark.parametrize(("original", "expected"), DISGUISES)
def test_disguise_is_undone(original: str, expected: str) -> None:
    assert_normalizes(original, expected)


# Harmless forms: what they normalize to is checked so the rule layer knows what it sees.
HARMLESS = [
    # ordinary words with risky characters
    ("第一次", "第一次"),
    ("最近", "最近"),
    ("最后一单", "最后一单"),
    # quantities and positional numbers are not digit strings
    ("一百三十八", "一百三十八"),
    ("库存还剩一百三十八单", "库存还剩一百三十八单"),
    ("五六七百块", "五六七百块"),
    ("一两个", "一两个"),
    ("三两天就到", "三两天就到"),
    ("九九八十一", "九九八十一"),
    # 幺 洞 拐 outside a digit run
    ("幺妹儿", "幺妹儿"),
    ("洞洞鞋", "洞洞鞋"),
    ("拐弯就到", "拐弯就到"),
    # look-alikes of contact words
    ("QQ糖", "qq糖"),  # keeps its letters; the rule layer's exception tells it apart
    ("QQ弹弹", "qq弹弹"),
    ("Q弹", "q弹"),
    ("扣扣子", "扣扣子"),
    ("企鹅公仔", "企鹅公仔"),
    ("企鹅图案", "企鹅图案"),
    ("微星显卡", "微星显卡"),
    ("微辣", "微辣"),
    ("微波炉", "微波炉"),
    ("因为信号不好", "因为信号不好"),
    ("专为新人准备", "专为新人准备"),
    ("作为新手", "作为新手"),
    ("电化学", "电化学"),
    ("很有威信", "很有威信"),
    ("叩叩叩 声音很脆", "叩叩叩声音很脆"),
    ("毛绒球球挂件", "毛绒球球挂件"),
    ("企鹅造型", "企鹅造型"),
    ("一个企鹅公仔", "一个企鹅公仔"),
    ("M S I那个微星", "msi那个微星"),
    ("🐧公仔", "🐧公仔"),
    ("💚绿色食品", "💚绿色食品"),
    ("V领", "v领"),
    ("V字纹", "v字纹"),
    ("平安扣", "平安扣"),
    ("威武", "威武"),
    # model numbers fold like any other text (the rule layer exempts 型号)
    ("型号：WX-2023", "型号微信2023"),
    ("165/88A", "16588a"),
]


@pytest.mark.parametrize(("original", "expected"), HARMLESS)
def test_harmless_form(original: str, expected: str) -> None:
    assert_normalizes(original, expected)


# Canonical token → the span of its disguise in the original.
SPANS = [
    ("加我薇❤信abc", "微信", "薇❤信"),
    ("加我 W-X 谢谢", "微信", "W-X"),
    ("jia wo wei xin", "微信", "wei xin"),
    ("加我vx：abc", "微信", "vx"),
    ("微\u200b信", "微信", "微\u200b信"),
    ("加我微亻言", "微信", "微亻言"),
    ("号码幺三八 八八", "13888", "幺三八 八八"),
    ("电话1️⃣3️⃣9️⃣", "139", "1️⃣3️⃣9️⃣"),
    ("联系企鹅", "qq", "企鹅"),
    ("🛰️号", "🛰号", "🛰️号"),
    ("ＱＱ号", "qq号", "ＱＱ号"),
    ("➕V", "加v", "➕V"),
    ("幺八六 那个 四四", "18644", "幺八六 那个 四四"),
]


@pytest.mark.parametrize(("original", "token", "disguise"), SPANS)
def test_canonical_token_maps_to_its_disguise(original: str, token: str, disguise: str) -> None:
    result = normalize(original)
    assert_offsets(result)
    i = result.text.index(token)
    start, end = result.to_original(i, i + len(token))
    assert original[start:end] == disguise


def test_each_char_comes_from_its_own_slice() -> None:
    """Where no context rule applies, a char's own slice normalizes to (a string holding) it."""
    for original in ["加我微信", "ＡＢＣ１２３", "詳情請見", "① 号链接", "⑩⑪", "微\u200b信 号", "㎏装"]:
        result = normalize(original)
        assert_offsets(result)
        for i, ch in enumerate(result.text):
            assert ch in normalize(original[result.starts[i] : result.ends[i]]).text


def test_to_original_rejects_empty_and_outside_spans() -> None:
    result = normalize("加我微信")
    with pytest.raises(ValueError):
        result.to_original(2, 2)
    with pytest.raises(ValueError):
        result.to_original(0, 5)


def test_terms_and_texts_fold_alike() -> None:
    """The rule compiler normalizes a term alone; it must match the same words inside a text."""
    for term, text in [
        ("薇信", "家人们加我薇信哦"),
        ("四零零", "热线四零零"),
        ("扣扣", "有事扣扣我"),
        ("V信", "V信同号"),
    ]:
        assert normalize(term).text in normalize(text).text


def test_is_deterministic() -> None:
    text = "家人们 加我薇❤信 幺三八 八八 六六 洞洞 ①③"
    assert normalize(text) == normalize(text)


# Any text at all: the map stays exact and nothing raises.
_ALPHABET = st.sampled_from(
    list("加我微信薇威为新扣企鹅球幺两洞拐一二三四五零壹叁百十第次 -_.|❤+➕vVxXwWqQ0123456789")
    + ["\u200b", "\ufe0f", "\u20e3", "①", "❶", "⑴", "ｖ", "詳", "🐧", "😀", "\U00020000"]
)


@given(st.text(_ALPHABET, max_size=40) | st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_any_text_keeps_an_exact_map(original: str) -> None:
    result = normalize(original)
    assert_offsets(result)
    assert normalize(original) == result
    if result.text:
        start, end = result.to_original(0, len(result.text))
        assert 0 <= start < end <= len(original)
