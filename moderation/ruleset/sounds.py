"""Rule terms by sound: where a text reads like a rule's term but is written otherwise.

ASR writes a claim with other characters of the same sound: 祛痘 as 驱豆, 减肥 as 简肥, 排毒 as 排读.
The compiler already spells terms of three or more Han characters with one homophone swapped
(homophones.py), but not two-character terms: alone, a two-character sound-alike is mostly
ordinary text (然只, 置好), and expanding them flagged a quarter more of 20,000 real review
sentences, nearly all wrongly. So this index is only asked where the classifier already holds
that the sentence makes a claim of the rule's label, and what it finds counts only where the
model also points at those words (decide.py).

The index is a trie over the toneless readings of each term's Han characters, in context (长 in
长高 is zhang). A text's character is read under each reading it has in at least a tenth of its
uses (homophones.common_readings: 行 is hang and xing, 白 only bai): every dictionary reading
would make 白淡 sound like 排铅. A span is a sound-alike when it reads like a term, is not that term
as written, and is neither any rule's written term or exception nor a word jieba knows (维新 and
姜糖 are words).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

from moderation.ruleset.homophones import common_readings, readings


@dataclass(frozen=True, slots=True)
class SoundAlike:
    rule: int  # index into the compiled rules
    start: int  # offsets into the text searched
    end: int
    term: str  # the term it reads like, normalized


class _Node(dict):
    """reading → child node; `terms` are the (rule, term) pairs that end here."""

    __slots__ = ("terms",)

    def __init__(self) -> None:
        super().__init__()
        self.terms: list[tuple[int, str]] = []


class SoundIndex:
    def __init__(self, terms: Iterable[tuple[int, str]], written: Iterable[str], lexicon: Mapping[str, int]) -> None:
        """`terms`: (rule index, normalized term) of the rules that take homophones; `written`:
        every key the rules match as written; `lexicon`: jieba's word frequencies."""
        self._root = _Node()
        self._written = frozenset(written)
        self._lexicon = lexicon
        self._longest = 0
        for rule, term in terms:
            path = _term_path(term)
            if path is None:
                continue
            self._longest = max(self._longest, len(path))
            node = self._root
            for reading in path:
                node = node.setdefault(reading, _Node())
            if (rule, term) not in node.terms:
                node.terms.append((rule, term))

    def find(self, text: str, near: Iterable[tuple[int, int]] | None = None) -> Iterator[SoundAlike]:
        """Every span of `text` that sounds like a term without being written as one; only those
        overlapping one of the `near` spans (offsets into `text`) when they are given."""
        near = None if near is None else list(near)
        heard = [_char_readings(ch) for ch in text]
        seen: set[tuple[int, int, int]] = set()  # several readings may lead to one term
        for start in self._starts(len(text), near):
            frontier = [self._root]
            end = start
            while frontier and end < len(text) and heard[end]:
                frontier = [child for node in frontier for r in heard[end] if (child := node.get(r)) is not None]
                end += 1
                for node in frontier:
                    for rule, term in node.terms:
                        if (rule, start, end) in seen or not _overlaps(start, end, near):
                            continue
                        if self._misheard(text[start:end], term):
                            seen.add((rule, start, end))
                            yield SoundAlike(rule, start, end, term)

    def _starts(self, length: int, near: list[tuple[int, int]] | None) -> Iterable[int]:
        if near is None:
            return range(length)
        starts: set[int] = set()
        for a, b in near:
            starts.update(range(max(0, a - self._longest + 1), min(b, length)))
        return sorted(starts)

    def _misheard(self, surface: str, term: str) -> bool:
        return surface != term and surface not in self._written and surface not in self._lexicon


def _overlaps(start: int, end: int, near: list[tuple[int, int]] | None) -> bool:
    return near is None or any(start < b and a < end for a, b in near)


def _term_path(term: str) -> tuple[str, ...] | None:
    """The readings a term is indexed under, in context; None unless two or more Han characters."""
    in_context = readings(term)
    if len(term) < 2 or any(r is None for r in in_context):
        return None
    return tuple(r for r in in_context if r is not None)


_char_readings = lru_cache(maxsize=16384)(common_readings)
