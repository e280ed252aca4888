"""Undo what evaders and ASR do to text, keeping a map from every normalized char to the original.

One pass of five table-driven steps; every choice below is one sentence so the rule writers know
what their terms turn into (the rule compiler runs `normalize()` over every term and exception, so
a term and the text it should match always fold the same way):

1. Per character (a table of the whole BMP built on first use, a memo beyond it):
   - NFKC, then lower case: full-width ｖｘ/１３７/ＱＱ become vx/137/qq, circled ①/⓪ become digits.
   - Latin letters lose their diacritics (pinyin with tones `wēixìn` → `weixin`).
   - Traditional characters become simplified with OpenCC t2s applied one char at a time, so the
     offset map stays exact (a multi-char answer is ignored and the char kept).
   - Negative-circled, dingbat-circled and double-circled digits (❶ ➀ ➊ ⓵ ⓫ ⓿) become digits;
     parenthesized ⑴ and keycap 1️⃣ already do via NFKC and by dropping their marks.
   - Cyrillic and Greek letters that look Latin (х, ν, о) become the Latin letter.
   - Invisible characters (zero-width, joiners, BOM, soft hyphen, variation selectors, combining
     and enclosing marks such as the keycap U+20E3) are dropped.
   - The emoji that stand for contact words (🐧 💚 🟢 🛰 ☎ 📞 📱 ✈ 🛩 💬) are kept as themselves,
     not rewritten to a word: rewriting 📞 to 电话 would make a rule term 📞 fire on every 电话,
     so the packs name the emoji with their context (🐧号) and exceptions (🐧公仔).
   - ○ becomes 〇 (a zero in 二○二三); ➕ and ✚ become `+`.
   - Every other punctuation mark, symbol, emoji, space or control char becomes a separator.
2. Latin forms of 微信 and QQ are read while separators still mark word boundaries: `vx`, `wx`,
   `v x`, `V.X.` (a lone v/w followed by x), `weixin`/`wei xin`/`wechat` anywhere,
   `v`/`w` directly before 信/芯/鑫 (`V信`), `koukou` and `jia wo` become 微信, qq or 加我.
3. All separators are removed, between CJK, Latin and digits alike (`微 | 信`, `W-X`, `186-1234-0000`,
   `15 8 66 12 34 00` all join; a handle `xiaoyu_77` becomes `xiaoyu77` and English words run
   together); a `+` that precedes a letter or CJK char is kept as 加 (`+V`, `➕威`), any other `+`
   is a separator (`2+1`, `+86`).
4. Chinese digits become ASCII digits only inside a run of ≥ 3 digit-like chars (0-9, 零〇一…九,
   壹…玖, 幺 两 洞 拐) that touches no positional char (十百千万亿拾佰仟), so `幺三八` → `138` and
   `壹叁捌` → `138`, while `一百三十八`, `第一次`, `一两个`, `幺妹儿` and `洞洞鞋` stay as written;
   a filler (那个, 嗯, 呃, 然后, 就是) between two digit-like chars is dropped first, so
   `幺八六 那个 四四零零` → `1864400`. Dates written in Chinese digits become digits too (`二〇二三`).
5. Homophones and look-alikes of contact words become a canonical form, but only where the
   form is not also an ordinary word; a form that is both gets guards from the table:
   - 薇信 维信 徽信 危信 溦信 威芯 伟鑫 微亻言 … → 微信 always;
   - 威信 → 微信 except as prestige (很有威信, 树立威信, 威信力);
   - 为信 为新 维新 伟信 伟新 → 微信 unless the neighbours make an ordinary word (因为信号, 为新人,
     作为新手, 维新派);
   - 微星 → 微信 only next to a contact cue (加微星, 微星号), so the MSI brand stays;
   - 扣扣 蔻蔻 寇寇 → `qq` (not in 扣扣子); 叩叩 → `qq` but not inside knocking (叩叩叩);
   - 企鹅 and 球球 → `qq` only next to a contact cue (加企鹅, 上企鹅, 球球群), so 企鹅公仔 and
     毛绒球球 stay; 扣群 and q群 → `qq群`, q号 → `qq号`.
   Canonical forms are only ever 微信 and qq, which the packs flag anyway; a look-alike whose
   canonical word is harmless on its own (电化 for 电话, 家我 for 加我) is left to the rule layer, or
   a pack term 电化 would turn into 电话 and fire on every phone mention. QQ糖, QQ弹弹 and Q弹 keep
   their letters (`qq糖`, `q弹`) and are the packs' exceptions, as are a lone 薇/微/V standing for
   微信 and spelled-out descriptions (微是微笑的微).

Repeated characters are kept: digits (8888) and 扣扣 depend on them, and the automaton finds 微信
inside 微微信 anyway. A rewritten token maps to the span of its disguise: in `加我薇❤信abc`, `微信`
maps back to `薇❤信`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import compress


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """`text[i]` came from `original[starts[i]:ends[i]]`."""

    original: str
    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalized span [start, end) to the original span that produced it."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"span {start}:{end} outside normalized text of length {len(self.text)}")
        return self.starts[start], self.ends[end - 1]


# ---------------------------------------------------------------------------------------------
# Step 1: the per-character table

_SEP = " "  # every separator folds to this; step 3 removes them all

_CHAR_OVERRIDES: dict[str, str] = {
    # emoji that stand for a contact word are kept as words, so a rule can name them with context
    **{e: e for e in "🐧💚🟢🛰☎📞📱✈🛩💬"},
    "○": "〇",
    "◯": "〇",
    "➕": "+",
    "✚": "+",
    # look-alike letters (Cyrillic, Greek)
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j",
    "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
    "χ": "x", "ω": "w",
}  # fmt: skip
# Circled digits that NFKC leaves alone: ❶-❿ ➀-➉ ➊-➓ ⓵-⓾ (1-10), ⓫-⓴ (11-20), ⓿ (0).
for _first in (0x2776, 0x2780, 0x278A, 0x24F5):
    for _k in range(10):
        _CHAR_OVERRIDES[chr(_first + _k)] = str(_k + 1)
for _k in range(10):
    _CHAR_OVERRIDES[chr(0x24EB + _k)] = str(_k + 11)
_CHAR_OVERRIDES["⓿"] = "0"

_DROP_CATEGORIES = frozenset({"Mn", "Me", "Cf"})  # invisible: zero-width, VS16, keycap, marks


@cache
def _t2s() -> Callable[[str], str]:
    import opencc  # imported on first use: nothing is built at import time

    return opencc.OpenCC("t2s").convert


def _fold_one(c: str) -> str:
    """One char after NFKC and lower-casing → its normalized form ('' dropped, ' ' separator)."""
    if c in _CHAR_OVERRIDES:
        return _CHAR_OVERRIDES[c]
    cat = unicodedata.category(c)
    if cat in _DROP_CATEGORIES:
        return ""
    if cat[0] not in "LN":
        return "+" if c == "+" else _SEP
    if c < "\u0250":  # Latin: strip diacritics (pinyin tones)
        return "".join(d for d in unicodedata.normalize("NFD", c) if not unicodedata.combining(d))
    if "\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" or c >= "\U00020000":
        s = _t2s()(c)
        return s if len(s) == 1 else c
    return c


def _fold_char(c: str) -> str:
    if c in _CHAR_OVERRIDES:
        return _CHAR_OVERRIDES[c]
    folded = unicodedata.normalize("NFKC", c).lower()
    return "".join(_fold_one(x) for x in folded)


class _FoldMemo(dict[str, str]):
    """Memo of the pure per-char fold for chars outside the precomputed table (emoji, rare planes)."""

    def __missing__(self, c: str) -> str:
        value = self[c] = _fold_char(c)
        return value


_FOLD = _FoldMemo()


@dataclass(frozen=True, slots=True)
class _CharTable:
    translate: dict[int, str]  # every BMP char whose fold differs from itself
    irregular: re.Pattern[str]  # chars whose fold is not exactly one char, and all astral chars
    changed: re.Pattern[str]  # the keys of `translate` and all astral chars (so every irregular one)


@cache
def _char_table() -> _CharTable:
    """The fold of the whole BMP, built once on first use (about half a second)."""
    translate: dict[int, str] = {}
    irregular: list[int] = []
    for cp in range(0x10000):
        if 0xD800 <= cp < 0xE000:
            continue
        c = chr(cp)
        folded = _fold_char(c)
        if folded != c:
            translate[cp] = folded
        if len(folded) != 1:
            irregular.append(cp)
    astral = [(0x10000, 0x10FFFF)]
    return _CharTable(
        translate,
        re.compile(_char_class(_ranges(irregular) + astral)),
        re.compile(_char_class(_ranges(sorted(translate)) + astral)),
    )


def _ranges(codepoints: list[int]) -> list[tuple[int, int]]:
    """Sorted code points → runs of consecutive ones as (first, last)."""
    runs: list[tuple[int, int]] = []
    for cp in codepoints:
        if runs and runs[-1][1] == cp - 1:
            runs[-1] = (runs[-1][0], cp)
        else:
            runs.append((cp, cp))
    return runs


def _char_class(runs: list[tuple[int, int]]) -> str:
    return "[" + "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in runs) + "]"


def _fold(original: str) -> tuple[str, Sequence[int], Sequence[int]]:
    """Step 1 over a whole string, with the offsets of every output char."""
    table = _char_table()
    n = len(original)
    # Most segments are simplified Chinese, digits and spaces, which fold to themselves; a search
    # says so in a tenth of the time `translate` takes to copy the string char by char.
    if not table.changed.search(original):
        return original, range(n), range(1, n + 1)
    if not table.irregular.search(original):  # one char in, one char out
        return original.translate(table.translate), range(n), range(1, n + 1)
    parts = [_FOLD[c] for c in original]
    st: list[int] = []
    en: list[int] = []
    for i, p in enumerate(parts):
        if not p and en and en[-1] == i:
            en[-1] = i + 1  # a dropped mark (keycap, VS16, zero-width) stays with the char before it
        for _ in p:
            st.append(i)
            en.append(i + 1)
    return "".join(parts), st, en


# ---------------------------------------------------------------------------------------------
# Rewrites: tables of (forms, canonical, guards) compiled into one alternation each


_WECHAT = "微信"
_QQ = "qq"

# Step 2, before separators go: the letters still show where a Latin word starts and ends.
# (regex over the folded text, canonical form); each starts with a letter so the scan is quick.
_LATIN_ROWS = (
    (r"[vw](?<![a-z][vw]) *x(?![a-z])", _WECHAT),
    (r"w *e *i *x *i *n|w *e *c *h *a *t", _WECHAT),
    (r"[vw](?<![a-z0-9][vw])(?= *[信芯鑫])", "微"),
    (r"k(?<![a-z]k) *o *u *k *o *u(?![a-z])", _QQ),
    (r"j(?<![a-z]j) *i *a *w *o(?![a-z])", "加我"),
)
_LATIN_FIRSTS = "vwkj"
_LATIN_HINT = re.compile(f"[{_LATIN_FIRSTS}]")


@dataclass(frozen=True, slots=True)
class _Phrase:
    """Step 5: CJK look-alikes of a contact word, read on the joined text."""

    forms: str  # space-separated literals
    canonical: str
    not_before: str = ""  # a char here, just before the form, makes it an ordinary word
    not_after: str = ""
    cue: str = ""  # if set, the form counts only with one of these chars just before or after


_PHRASES = (
    _Phrase(
        "薇信 维信 徽信 危信 溦信 薇芯 威芯 维芯 微芯 徽芯 溦芯 薇鑫 威鑫 维鑫 微鑫 伟鑫 "
        "微亻言 薇亻言 威亻言 维亻言",
        _WECHAT,
    ),
    _Phrase("威信", _WECHAT, not_before="有立", not_after="力望高"),  # 很有威信 is prestige
    _Phrase("为信 伟信", _WECHAT, not_before="因作认成以称视", not_after="任用息誉念仰托赖"),
    _Phrase(
        "为新 维新 伟新",
        _WECHAT,
        not_before="因作认成以称视更",
        not_after="人手客品款年生闻鲜粉朋用家颖奇派运变会店",
    ),
    _Phrase("微星", _WECHAT, not_after="显主笔电本", cue="加家我你号聊同搜"),
    _Phrase("扣扣 蔻蔻 寇寇", _QQ, not_after="子"),
    _Phrase("叩叩", _QQ, not_before="叩", not_after="叩"),  # 叩叩叩 is knocking
    _Phrase(
        "企鹅 球球",
        _QQ,
        not_before="绒毛",
        not_after="公图玩娃抱宝馆饼形款造挂",
        cue="加上进我你个系号群联找搜",
    ),
    _Phrase("扣群 蔻群 叩群", "qq群"),
    _Phrase("q号", "qq号", not_before="q"),
    _Phrase("q群", "qq群", not_before="q"),
)
_PHRASE_BY_FORM = {form: row for row in _PHRASES for form in row.forms.split()}
_PHRASE_FIRSTS = "".join(sorted({f[0] for f in _PHRASE_BY_FORM}))
_PHRASE_HINT = re.compile(f"[{_PHRASE_FIRSTS}]")


@cache
def _latin_pattern() -> re.Pattern[str]:
    return re.compile("|".join(f"(?P<r{i}>{rx})" for i, (rx, _) in enumerate(_LATIN_ROWS)))


def _latin_replace(match: re.Match[str]) -> str:
    return _LATIN_ROWS[int(match.lastgroup[1:])][1]  # type: ignore[index]


@cache
def _phrase_pattern() -> re.Pattern[str]:
    forms = sorted(_PHRASE_BY_FORM, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, forms)))


def _phrase_replace(match: re.Match[str]) -> str:
    """The canonical form, or the text unchanged when its neighbours make it an ordinary word."""
    form = match.group()
    row = _PHRASE_BY_FORM[form]
    s, a, b = match.string, match.start(), match.end()
    before = s[a - 1] if a else ""
    after = s[b] if b < len(s) else ""
    if (before and before in row.not_before) or (after and after in row.not_after):
        return form
    if row.cue and not ((before and before in row.cue) or (after and after in row.cue)):
        return form
    return row.canonical


# Step 4 tables.
_DIGITLIKE = "0-9零〇一二三四五六七八九壹贰叁肆伍陆柒捌玖幺两洞拐"
_POSITIONAL = "十百千万亿拾佰仟"
_DIGIT_RUN = re.compile(
    f"(?<![{_DIGITLIKE}{_POSITIONAL}])[{_DIGITLIKE}]{{3,}}(?![{_DIGITLIKE}{_POSITIONAL}])"
)
_TO_DIGIT = str.maketrans(
    "零〇" "一二三四五六七八九" "壹贰叁肆伍陆柒捌玖" "幺两洞拐",
    "00" "123456789" "123456789" "1207",
)  # fmt: skip
_FILLER_HINT = re.compile("那个|这个|然后|就是|[嗯呃额啊]")
_FILLER = re.compile(f"(?<=[{_DIGITLIKE}])(?:那个|这个|然后|就是|嗯|呃|额|啊)+(?=[{_DIGITLIKE}])")
_NON_ASCII_DIGIT = re.compile("[零〇一二三四五六七八九壹贰叁肆伍陆柒捌玖幺两洞拐]")
_ANY_DIGITLIKE = re.compile(f"[{_DIGITLIKE}]")
# Any char that steps 2, 4 or 5 start from: a Latin hint, a digit-like char, a phrase's first char.
_ANY_HINT = re.compile(f"[{_LATIN_FIRSTS}{_DIGITLIKE}{_PHRASE_FIRSTS}]")
_SEPARATORS = re.compile(r"[ +]+")

# ---------------------------------------------------------------------------------------------


def _rewrite(
    s: str,
    st: Sequence[int],
    en: Sequence[int],
    pattern: re.Pattern[str],
    replace: Callable[[re.Match[str]], str],
) -> tuple[str, Sequence[int], Sequence[int]]:
    """Replace every match, giving each output char a share of the matched chars' spans.

    Output char k of m takes matched chars [k*n//m, (k+1)*n//m) (at least one), with separators
    trimmed from both ends, so `wei xin` → 微 from `wei`, 信 from `xin`.
    """
    out: list[str] = []
    nst: list[int] = []
    nen: list[int] = []
    pos = 0
    for match in pattern.finditer(s):
        a, b = match.span()
        rep = replace(match)
        out.append(s[pos:a])
        nst.extend(st[pos:a])
        nen.extend(en[pos:a])
        n, m = b - a, len(rep)
        if n == m:  # same length (薇信 → 微信, vx → 微信): each char keeps its own span
            nst.extend(st[a:b])
            nen.extend(en[a:b])
            out.append(rep)
            pos = b
            continue
        for k in range(m):
            lo = a + k * n // m
            hi = max(a + (k + 1) * n // m, lo + 1)
            while lo < hi - 1 and s[lo] == _SEP:
                lo += 1
            while hi - 1 > lo and s[hi - 1] == _SEP:
                hi -= 1
            nst.append(st[lo])
            nen.append(en[hi - 1])
        out.append(rep)
        pos = b
    if not pos:
        return s, st, en
    out.append(s[pos:])
    nst.extend(st[pos:])
    nen.extend(en[pos:])
    return "".join(out), nst, nen


def _drop(_match: re.Match[str]) -> str:
    return ""


def _join(match: re.Match[str]) -> str:
    """A separator run disappears; a `+` in it before a letter or CJK char stands for 加."""
    run = match.group()
    if "+" in run:
        s, end = match.string, match.end()
        if end < len(s) and not s[end].isdigit():
            return "加"
    return ""


def _digits(match: re.Match[str]) -> str:
    return match.group().translate(_TO_DIGIT)


def normalize(original: str) -> NormalizedText:
    """Normalize `original` for matching; see the module docstring for every mapping."""
    s, st, en = _fold(original)
    # Joining separators adds no char that steps 2, 4 and 5 look for: text with none of them
    # (most of it) skips those steps on one search.
    rare = _ANY_HINT.search(s)
    if rare and _LATIN_HINT.search(s):
        s, st, en = _rewrite(s, st, en, _latin_pattern(), _latin_replace)
    if "+" in s:
        s, st, en = _rewrite(s, st, en, _SEPARATORS, _join)
    elif _SEP in s:
        keep = [c != _SEP for c in s]
        s = s.replace(_SEP, "")
        st = tuple(compress(st, keep))
        en = tuple(compress(en, keep))
    if rare:
        s, st, en = _digits_and_phrases(s, st, en)
    return NormalizedText(original, s, _as_tuple(st), _as_tuple(en))


def _digits_and_phrases(
    s: str, st: Sequence[int], en: Sequence[int]
) -> tuple[str, Sequence[int], Sequence[int]]:
    """Steps 4 and 5 on the joined text."""
    # A filler goes only between two digit-like chars and a run is made of them.
    if _ANY_DIGITLIKE.search(s):
        if _FILLER_HINT.search(s):
            s, st, en = _rewrite(s, st, en, _FILLER, _drop)
        if _NON_ASCII_DIGIT.search(s):
            s = _DIGIT_RUN.sub(_digits, s)  # same length: the offsets do not move
    if _PHRASE_HINT.search(s):
        s, st, en = _rewrite(s, st, en, _phrase_pattern(), _phrase_replace)
    return s, st, en


def _as_tuple(offsets: Sequence[int]) -> tuple[int, ...]:
    return offsets if isinstance(offsets, tuple) else tuple(offsets)
