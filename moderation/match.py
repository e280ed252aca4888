"""Compiled ruleset × normalized text → rule hits with offsets into the original text.

Candidates come from one Aho-Corasick pass and the rules' RE2 patterns; every candidate then
goes through one hook, `_invalidated`, that prunes false positives (exceptions, exemptions, word
boundaries, negated/quoted/warning context) and says why.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import ahocorasick

from moderation.normalize import NormalizedText
from moderation.ruleset.compile import CompiledRule, CompiledRuleset
from moderation.types import Hit, Kind, ProductCategory, Source

# --- context cues -------------------------------------------------------------------------
# Characters that end a clause in the original text; transcripts mark pauses with spaces.
_CLAUSE_BREAKS = frozenset("，。！？；,.!?;\n\t 　…~|")
# A turn in the argument: what follows is the speaker's own claim again.
_CONTRAST = tuple(("但是 但 可是 不过 然而 其实 而是 我们这个 咱们这个 咱家这个").split())
# Negators that refuse a claim when they come before it in the same clause.
_NEGATORS = tuple(
    (
        "不是 不能 不会 不说 不敢 不可 不得 不要 不加 不私 不具 不属于 不承诺 "
        "不宣传 不保证 不让 不许 不做 不走 不用加 没有 没法 并非 并不 从不 从来不 "
        "禁止 严禁 切勿 勿 别 拒绝 无法 谈不上 算不上 替代不了 代替不了 不建议 不代表 "
        "不用 无需 不需要 不必 不家 不跟你说 不和你说 不跟你们说"
    ).split()
)
# Words that contain a negator's characters without negating (特别好, 别人家).
_NOT_NEGATORS = tuple(
    (
        "特别 区别 级别 分别 别人 别家 别的 告别 个别 性别 类别 识别 没有之一 不是所有 不是每 "
        "不要错过 不得了 不得不 不可思议 不可多得 不能错过 不会错 不加价 不用等 不用犹豫 "
        "不用想 不用问 不用挑"
    ).split()
)
# Frames that report or quote someone else's words or warn about them (有人问, 冒充).
_QUOTE_FRAMES = tuple(
    (
        "有人问 问我 弹幕问 粉丝问 家人问 宝宝问 有人说 有的说 有的主播 别的主播 别人说 "
        "别家说 人家说 网上说 冒充 骗子 有人发 让我加 说让我 号称 所谓 谣言 不是说 问这个 "
        "问能不能 问能 问可不可以 问是不是 问会不会 里问 在问 别的直播间 别家直播间 诱导 自称 "
        "评论区发 评论区有人 弹幕发 公屏发 有人在"
    ).split()
)
# What comes after a phrase and takes it back (全网最低这种话我不说, …千万别信).
_AFTER_REFUSALS = tuple(
    (
        "这种话 这话 这么说 这样说 这种说法 不敢说 不让说 我不说 不敢讲 不能讲 "
        "不能用 违禁 广告法 骗人 都是骗 是假的 别信 千万别 不要信 不靠谱 智商税 不加啊 "
        "不加的 不加哈 我不加 不会加 忽悠 没这回事 夸大 不存在的 是违规 违规的 踢一下 "
        "踢了 拉黑 不加 没关系 不是让你 是型号 瞎扯 瞎说 胡说 扯淡 乱说 上当 请勿 房管 举报 "
        "夸张 得去医院 要去医院 请去医院 先去医院 还是去医院 及时就医 看医生 遵医嘱 不卖这种 不卖那种"
    ).split()
)


def _alternation(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))


_CONTRAST_RE = _alternation(_CONTRAST)
_NEGATOR_RE = _alternation(_NEGATORS)
_NOT_NEGATOR_RE = _alternation(_NOT_NEGATORS)
# 有人问, 有宝宝问, 有个叔叔问: whoever asks, the question is theirs.
_QUOTE_FRAME_RE = re.compile(_alternation(_QUOTE_FRAMES).pattern + r"|有[^，。！？,.!?\s]{1,4}问(?!题)")
# …说能根治的那种 我们不卖: the phrase is pointed back at (那种, 这种) and refused.
_AFTER_REFUSAL_RE = re.compile(
    _alternation(_AFTER_REFUSALS).pattern + r"|的?[那这]种?[\s，,]*(?:我们|咱们?|我)?(?:家)?(?:不卖|不做|不敢|没有|不说)"
)

# Punctuation that ends a clause in writing: normalization drops separators so that 微-信 reads as
# 微信, but a term read across one of these joins two clauses (发货快，手感好 is not 快手).
_CLAUSE_PUNCTUATION = frozenset("，。！？；、,!?;")
_WINDOW = 12  # characters of clause looked at before a hit
_TRAILING = " 　啊呀哈吧呢嘛哦"  # particles a segment may end with after its negator (不能啊 |)
_AFTER_WINDOW = 16
_BOUNDARY_WINDOW = 5  # characters of context given to jieba on each side
_SHORT_TERM = 2  # terms this short must sit on word boundaries


class _Candidate(NamedTuple):
    rule: int
    start: int  # normalized offsets
    end: int
    matched: str
    from_term: bool
    homophone: bool = False
    heard: bool = False  # sounds like a term of the rule (ruleset/sounds.py), spelled otherwise


# How `_refused` begins its reasons: the speaker does not make the claim (as opposed to an exception
# or a word boundary, which say the words are not the term at all).
_REFUSALS = ("negated", "quoted or reported", "taken back")


class Dropped(NamedTuple):
    """A term or pattern occurrence that `_invalidated` voided, and why (for reviewers and tests)."""

    rule: str
    start: int  # original offsets
    end: int
    text: str
    reason: str

    @property
    def refused(self) -> bool:
        """Voided as negated, quoted or taken back: the words are the term, the speaker disowns them."""
        return self.reason.startswith(_REFUSALS)


def find_hits(
    ruleset: CompiledRuleset,
    normalized: NormalizedText,
    *,
    kind: Kind | str | None = None,
    category: ProductCategory | str | None = None,
    pauses: Iterable[int] = (),
    dropped: list[Dropped] | None = None,
) -> tuple[Hit, ...]:
    """The rule hits in `normalized`, sorted by start, for a product of `category` in `kind` text.
    `dropped`, when given, collects the occurrences voided on the way, each with its reason.

    `pauses`: offsets into the original text where one ASR segment ends and the next begins (a
    stream's window joins them without a separator). A pause ends a clause, so a negator or a
    question in the earlier segment does not reach a claim in the next one, unless the earlier
    segment ends on the negator (这个不能 | 根治).
    """
    return _judge(ruleset, normalized, kind, category, dropped, pauses=_pause_set(pauses))


def find_sound_alikes(
    ruleset: CompiledRuleset,
    normalized: NormalizedText,
    *,
    kind: Kind | str | None = None,
    category: ProductCategory | str | None = None,
    near: Sequence[tuple[int, int]] | None = None,
    pauses: Iterable[int] = (),
) -> tuple[Hit, ...]:
    """Hits on spans that only sound like a rule's term (驱豆 for 祛痘), judged like any other
    occurrence (exceptions, negation, word boundaries, `pauses` as in find_hits); only those
    overlapping a `near` span (offsets into the original text) when given.

    Not findings by themselves: decide() keeps one only where the model holds that the sentence
    makes a claim of its label (ruleset/sounds.py).
    """
    if ruleset.sounds is None:
        return ()
    window = None if near is None else [_to_normalized(normalized, a, b) for a, b in near]
    return _judge(ruleset, normalized, kind, category, None, by_sound=True, near=window, pauses=_pause_set(pauses))


_NO_PAUSES: frozenset[int] = frozenset()


def _pause_set(pauses: Iterable[int]) -> frozenset[int]:
    # Most texts are not from a stream: no set is built for them.
    return frozenset(pauses) if pauses else _NO_PAUSES


def _to_normalized(normalized: NormalizedText, start: int, end: int) -> tuple[int, int]:
    """The normalized characters that came from original[start:end]."""
    return bisect_right(normalized.ends, start), bisect_left(normalized.starts, end)


def sound_alike(ruleset: CompiledRuleset, hit: Hit) -> bool:
    """Whether `hit` fired on a same-sound spelling of one of its rule's terms (视频好 for
    视频号), not on a term as written."""
    if hit.source is not Source.RULE:
        return False
    value = ruleset.automaton.get(hit.matched, None)
    if value is None:
        return bool(terms_heard(ruleset, hit))
    same_rule = [e for e in value[1] if not e.is_exception and ruleset.compiled[e.rule].rule.id == hit.rule]
    return bool(same_rule) and all(e.homophone for e in same_rule)


def bare_word(ruleset: CompiledRuleset, hit: Hit) -> bool:
    """Whether `hit` is a bare word of a rule the model may overrule (model_can_override): one of its
    terms or their same-sound spellings, not one of its firm_terms, not a pattern's match."""
    rule = ruleset.rules.get(hit.rule)
    if hit.source is not Source.RULE or rule is None or not rule.model_can_override:
        return False
    entries = ruleset.automaton.get(hit.matched, None)
    if entries is None:
        # A sound-alike of a term is as bare as the term; so is a composition (老寒腿 … 再没犯过), which
        # is two ordinary phrases, where a pattern's match is a number or a handle.
        return bool(terms_heard(ruleset, hit)) or (bool(rule.compose) and not rule.patterns)
    sources = {e.source for e in entries[1] if not e.is_exception and ruleset.compiled[e.rule].rule.id == hit.rule}
    return bool(sources) and not sources & set(rule.firm_terms)


def terms_heard(ruleset: CompiledRuleset, hit: Hit) -> list[str]:
    """The terms of the hit's rule that its matched text sounds like, without being one of them."""
    if ruleset.sounds is None:
        return []
    found = ruleset.sounds.find(hit.matched)
    return [s.term for s in found if s.start == 0 and s.end == len(hit.matched)
            and ruleset.compiled[s.rule].rule.id == hit.rule]


def explain_dropped(
    ruleset: CompiledRuleset,
    normalized: NormalizedText,
    *,
    kind: Kind | str | None = None,
    category: ProductCategory | str | None = None,
    pauses: Iterable[int] = (),
) -> tuple[Dropped, ...]:
    """The occurrences that matched a term or pattern but were voided, each with its reason."""
    dropped: list[Dropped] = []
    _judge(ruleset, normalized, kind, category, dropped, pauses=_pause_set(pauses))
    return tuple(dropped)


def _judge(
    ruleset: CompiledRuleset,
    normalized: NormalizedText,
    kind: Kind | str | None,
    category: ProductCategory | str | None,
    dropped: list[Dropped] | None,
    *,
    by_sound: bool = False,
    near: Sequence[tuple[int, int]] | None = None,
    pauses: frozenset[int] = _NO_PAUSES,
) -> tuple[Hit, ...]:
    text = normalized.text
    if not text:
        return ()
    # StrEnum members hash as their values, so plain strings look up the same entries.
    key = (kind or Kind.TRANSCRIPT, category or ProductCategory.OTHER)
    active = ruleset.applicable.get(key)
    if active is None:
        raise ValueError(f"unknown kind or product category: {key!r}")
    if not active:
        return ()
    if by_sound:
        candidates = _sound_candidates(ruleset, text, active, near)
        exception_spans = _candidates(ruleset, text, active)[1] if candidates else {}
    else:
        candidates, exception_spans = _candidates(ruleset, text, active)
    if not candidates:  # most texts
        return ()
    candidates = _drop_shadowed_homophones(candidates)
    kept: dict[int, list[_Candidate]] = defaultdict(list)
    # Longest first within a rule: an occurrence inside one already kept cannot change the hit.
    candidates.sort(key=lambda c: (c.rule, c.start, -c.end))
    for cand in candidates:
        same_rule = kept.get(cand.rule)
        if same_rule and any(k.start <= cand.start and cand.end <= k.end for k in same_rule):
            continue
        cr = ruleset.compiled[cand.rule]
        reason = _invalidated(ruleset, cr, normalized, cand, exception_spans, pauses)
        if reason is None:
            kept[cand.rule].append(cand)
        elif dropped is not None:
            start, end = normalized.to_original(cand.start, cand.end)
            dropped.append(Dropped(cr.rule.id, start, end, normalized.original[start:end], reason))
    hits = [
        _hit(ruleset.compiled[i], normalized, merged) for i, cands in kept.items() for merged in _merge(cands)
    ]
    return tuple(sorted(hits, key=lambda h: (h.start, h.end, h.rule)))


def _candidates(
    ruleset: CompiledRuleset, text: str, active: frozenset[int]
) -> tuple[list[_Candidate], dict[int, list[tuple[int, int]]]]:
    candidates: list[_Candidate] = []
    exception_spans: dict[int, list[tuple[int, int]]] = defaultdict(list)
    if ruleset.automaton.kind == ahocorasick.AHOCORASICK:
        for last, (key, entries) in ruleset.automaton.iter(text):
            start, end = last - len(key) + 1, last + 1
            for entry in entries:
                if entry.rule not in active:
                    continue
                if entry.is_exception:
                    exception_spans[entry.rule].append((start, end))
                else:
                    candidates.append(_Candidate(entry.rule, start, end, key, True, entry.homophone))
    matched = ruleset.pattern_set.Match(text) if ruleset.pattern_set is not None else None
    for k in matched or ():
        i, pattern, is_exception = ruleset.pattern_index[k]
        if i not in active:
            continue
        if is_exception:
            exception_spans[i].extend(m.span() for m in pattern.finditer(text))
            continue
        # A pattern's first group, when it has one, is the span; the rest is context.
        group = 1 if pattern.groups else 0
        for m in pattern.finditer(text):
            start, end = m.span(group)
            if start < end:
                candidates.append(_Candidate(i, start, end, m.group(group), False))
    return candidates, exception_spans


def _sound_candidates(
    ruleset: CompiledRuleset, text: str, active: frozenset[int], near: Sequence[tuple[int, int]] | None
) -> list[_Candidate]:
    assert ruleset.sounds is not None
    return [
        _Candidate(s.rule, s.start, s.end, text[s.start : s.end], True, True, True)
        for s in ruleset.sounds.find(text, near)
        if s.rule in active
    ]


def _invalidated(
    ruleset: CompiledRuleset,
    cr: CompiledRule,
    normalized: NormalizedText,
    cand: _Candidate,
    exception_spans: dict[int, list[tuple[int, int]]],
    pauses: frozenset[int],
) -> str | None:
    """Why this candidate is not a violation, or None when it stands. The one place that decides."""
    text = normalized.text
    # Exception phrases and exception patterns alike: one overlapping the occurrence voids it.
    for s, e in exception_spans.get(cand.rule, ()):
        if s < cand.end and cand.start < e:
            return f"exception {text[s:e]!r}"
    for phrase in cr.exempt:
        if phrase in text:
            return f"exempt: text says {phrase!r}"
    o_start, o_end = normalized.to_original(cand.start, cand.end)
    original = normalized.original
    if cand.from_term and (mark := next((ch for ch in original[o_start:o_end] if ch in _CLAUSE_PUNCTUATION), None)):
        return f"{original[o_start:o_end]!r} joins two clauses across {mark!r}"
    # Context first: a regex pass is far cheaper than jieba.
    reason = _refused(original, o_start, o_end, pauses)
    if reason is None and cand.heard:
        reason = _cuts_a_word(ruleset, original, o_start, o_end)
    elif reason is None and cand.from_term and not cr.rule.match_anywhere:
        reason = _off_boundary(ruleset, original, text, cand, o_start, o_end)
    return reason


def _cuts_a_word(ruleset: CompiledRuleset, original: str, o_start: int, o_end: int) -> str | None:
    """A mis-heard word is heard as a word: a sound-alike that begins or ends inside one of jieba's
    words (公司|聊 read as 司聊) is the sound of two words run together."""
    w_start = max(0, o_start - _BOUNDARY_WINDOW)
    w_end = min(len(original), o_end + _BOUNDARY_WINDOW)
    start, end = o_start - w_start, o_end - w_start
    for t_start, t_end in _token_spans(ruleset.tokenizer, original[w_start:w_end]):
        if t_start < start < t_end or t_start < end < t_end:
            return f"{original[o_start:o_end]!r} cuts the word {original[w_start + t_start : w_start + t_end]!r}"
    return None


def _off_boundary(
    ruleset: CompiledRuleset, original: str, text: str, cand: _Candidate, o_start: int, o_end: int
) -> str | None:
    key = cand.matched
    if key.isascii():
        # Latin handles (vx, qq) must not be letters inside a longer word (vivo, qqq.com is fine).
        before = text[cand.start - 1] if cand.start > 0 else ""
        after = text[cand.end] if cand.end < len(text) else ""
        if (before.isascii() and before.isalpha()) or (after.isascii() and after.isalpha()):
            return f"{key!r} inside a longer latin word"
        return None
    if len(key) > _SHORT_TERM:
        return None
    before = original[o_start - 1] if o_start > 0 else ""
    after = original[o_end] if o_end < len(original) else ""
    if not _is_cjk(before) and not _is_cjk(after):
        return None  # nothing a word could be made of on either side
    w_start = max(0, o_start - _BOUNDARY_WINDOW)
    w_end = min(len(original), o_end + _BOUNDARY_WINDOW)
    start, end = o_start - w_start, o_end - w_start
    crossed_start = crossed_end = False
    for t_start, t_end in _token_spans(ruleset.tokenizer, original[w_start:w_end]):
        word = original[w_start + t_start : w_start + t_end]
        if t_start <= start and end <= t_end and t_end - t_start > end - start:
            return f"{original[o_start:o_end]!r} is part of the word {word!r}"  # 第一次, 治愈系
        crossed_start = crossed_start or t_start < start < t_end
        crossed_end = crossed_end or t_start < end < t_end
    # Words straddling both edges (国家、我们 read as 家我) leave the term no word of its own; one
    # straddled edge (快手|上 cut as 快|手上) is jieba's ambiguity, and the term stands.
    if crossed_start and crossed_end:
        return f"{original[o_start:o_end]!r} straddles two other words"
    return None


def snap_to_words(ruleset: CompiledRuleset, text: str, start: int, end: int) -> tuple[int, int]:
    """text[start:end] widened to whole jieba words (the model's `el：139…` becomes `Tel：139…`), so a
    finding a person reads never begins or ends inside a word."""
    w_start = max(0, start - _BOUNDARY_WINDOW)
    w_end = min(len(text), end + _BOUNDARY_WINDOW)
    for t_start, t_end in _token_spans(ruleset.tokenizer, text[w_start:w_end]):
        a, b = w_start + t_start, w_start + t_end
        if a < start < b:
            start = a
        if a < end < b:
            end = b
    return start, end


@lru_cache(maxsize=8192)
def _token_spans(tokenizer: Any, window: str) -> tuple[tuple[int, int], ...]:
    """jieba's words in `window` as (start, end). Streamers repeat themselves, so the same few
    windows come back again and again."""
    spans = []
    pos = 0
    for token in tokenizer.cut(window, HMM=False):
        spans.append((pos, pos + len(token)))
        pos += len(token)
    return tuple(spans)


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff"


def _clause_start(original: str, pos: int, pauses: frozenset[int] = _NO_PAUSES) -> int:
    """Where the clause holding `pos` begins: after a break character or at a pause."""
    i = pos
    while i > 0 and original[i - 1] not in _CLAUSE_BREAKS and i not in pauses:
        i -= 1
    return i


def clause_around(original: str, start: int, end: int, pauses: Iterable[int] = ()) -> tuple[int, int]:
    """The clause that holds original[start:end]: from the break (or pause) before it to the one after."""
    pause_set = _pause_set(pauses)
    stop = end
    while stop < len(original) and original[stop] not in _CLAUSE_BREAKS and stop not in pause_set:
        stop += 1
    return _clause_start(original, start, pause_set), stop


def _previous_clause_start(original: str, pos: int, pauses: frozenset[int] = _NO_PAUSES) -> int:
    end = _clause_start(original, pos, pauses)
    while end > 0 and original[end - 1] in _CLAUSE_BREAKS:
        end -= 1
    i = end
    while i > 0 and original[i - 1] not in _CLAUSE_BREAKS and (i == end or i not in pauses):
        i -= 1
    return i


def _ends_negated(original: str, pause: int) -> str | None:
    """The negator an earlier segment ends on (这个不能 |), which refuses what the next one begins with."""
    end = pause
    while end > 0 and original[end - 1] in _TRAILING:
        end -= 1
    tail = _NOT_NEGATOR_RE.sub("　", original[max(_clause_start(original, end), end - _WINDOW) : end])
    for m in _NEGATOR_RE.finditer(tail):
        if m.end() == len(tail):
            return m.group(0)
    return tail[-1] if tail.endswith(("不", "非", "无")) else None


def _after_contrast(segment: str) -> str:
    """The part of `segment` after its last contrast marker."""
    cut = 0
    for m in _CONTRAST_RE.finditer(segment):
        cut = m.end()
    return segment[cut:]


def _refused(original: str, o_start: int, o_end: int, pauses: frozenset[int] = _NO_PAUSES) -> str | None:
    """Negated, quoted or taken back: the speaker does not make this claim."""
    start = _clause_start(original, o_start, pauses)
    clause = _after_contrast(original[start:o_start])
    near = _NOT_NEGATOR_RE.sub("　", clause)[-_WINDOW:]
    if m := _NEGATOR_RE.search(near):
        return f"negated by {m.group(0)!r}"
    if near.endswith(("不", "非", "无")):
        return "negated"
    if start in pauses and clause == original[start:o_start] and (negator := _ends_negated(original, start)):
        return f"negated by {negator!r} at the end of the segment before"
    # A report or question frame covers its own clause and the one after it (有人问 这个能降血压吗),
    # not what the speaker says two clauses later (有宝宝问 能不能再便宜 私我 给你便宜二十).
    frame_start = max(_previous_clause_start(original, o_start, pauses), o_start - 20)
    if m := _QUOTE_FRAME_RE.search(_after_contrast(original[frame_start:o_start])):
        return f"quoted or reported ({m.group(0)!r})"
    after = original[o_end : o_end + _AFTER_WINDOW]
    if m := _CONTRAST_RE.search(after):
        after = after[: m.start()]
    if m := _AFTER_REFUSAL_RE.search(_NOT_NEGATOR_RE.sub("　", after)):
        return f"taken back by {m.group(0)!r}"
    return None


def _drop_shadowed_homophones(candidates: list[_Candidate]) -> list[_Candidate]:
    """A homophone reading counts only where the rule's written term did not match: 全网最低假一赔十
    is 全网最低 next to 假一赔十, not 全网最低价 misheard."""
    written = [c for c in candidates if not c.homophone]
    if len(written) == len(candidates):
        return candidates
    return written + [
        c
        for c in candidates
        if c.homophone and not any(w.rule == c.rule and w.start < c.end and c.start < w.end for w in written)
    ]


def _merge(cands: list[_Candidate]) -> list[_Candidate]:
    """Overlapping occurrences of one rule become one hit covering them all."""
    cands = sorted(cands, key=lambda c: (c.start, -c.end))
    merged: list[_Candidate] = []
    for c in cands:
        if merged and c.start < merged[-1].end:
            last = merged[-1]
            if c.end > last.end:
                longest = c.matched if len(c.matched) > len(last.matched) else last.matched
                merged[-1] = _Candidate(last.rule, last.start, c.end, longest, last.from_term)
        else:
            merged.append(c)
    return merged


def _hit(cr: CompiledRule, normalized: NormalizedText, cand: _Candidate) -> Hit:
    start, end = normalized.to_original(cand.start, cand.end)
    rule = cr.rule
    return Hit(
        label=rule.label,
        category=rule.category,
        rule=rule.id,
        start=start,
        end=end,
        text=normalized.original[start:end],
        source=Source.RULE,
        score=1.0,
        severity=rule.severity,
        matched=cand.matched,
    )
