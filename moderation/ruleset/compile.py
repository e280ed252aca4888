"""Rules → one immutable matcher: an Aho-Corasick automaton over every normalized term and
exception, RE2 patterns compiled once, and a content-hash version."""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import ahocorasick
import jieba
import re2

from moderation.normalize import normalize
from moderation.ruleset.schema import Composition, Rule
from moderation.ruleset.sounds import SoundIndex
from moderation.types import Kind, ProductCategory


class RulesetError(ValueError):
    """Rules that cannot be compiled; every problem names its rule (`rule X: …`)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems) if problems else "invalid ruleset")
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class Entry:
    """What an automaton key stands for in one rule: a term, or an exception to the rule."""

    rule: int
    is_exception: bool
    source: str  # as written in the pack
    homophone: bool = False  # a same-sound spelling of `source`, not the term itself


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    patterns: tuple[Any, ...]  # re2 compiled
    exception_patterns: tuple[Any, ...]
    exempt: tuple[str, ...]  # normalized exempt_if_text_contains


@dataclass(frozen=True, eq=False)
class CompiledRuleset:
    version: str
    rules: Mapping[str, Rule]
    compiled: tuple[CompiledRule, ...]
    automaton: Any = field(repr=False)  # ahocorasick.Automaton, read-only after compile
    # (kind, category) → indexes into `compiled` of the rules that apply there.
    applicable: Mapping[tuple[Kind, ProductCategory], frozenset[int]] = field(repr=False)
    tokenizer: Any = field(repr=False)  # jieba.Tokenizer, used on small windows only
    # One RE2 set over every rule's patterns: a single scan says which patterns to run at all.
    pattern_set: Any = field(repr=False, default=None)
    # pattern_set index → (index into `compiled`, compiled pattern, whether it is an exception)
    pattern_index: tuple[tuple[int, Any, bool], ...] = field(repr=False, default=())
    # The terms by sound, asked only where the model holds a claim is made (match.find_sound_alikes).
    sounds: SoundIndex | None = field(repr=False, default=None)

    def rule(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise KeyError(f"no rule {rule_id!r} in ruleset {self.version}") from None

    def __len__(self) -> int:
        return len(self.compiled)

    @property
    def term_count(self) -> int:
        return sum(len(c.rule.terms) for c in self.compiled)


def _norm(term: str) -> str:
    return normalize(term).text


_TOKENIZER: Any = None
_TOKENIZER_LOCK = threading.Lock()


def jieba_tokenizer() -> Any:
    """One jieba dictionary per process (0.6 s, ~75 MiB); its cache goes to a private temp dir."""
    global _TOKENIZER
    with _TOKENIZER_LOCK:
        if _TOKENIZER is None:
            jieba.setLogLevel(60)
            tok = jieba.Tokenizer()
            cache = Path(tempfile.gettempdir()) / "moderation-jieba"
            cache.mkdir(parents=True, exist_ok=True)
            tok.tmp_dir = str(cache)
            tok.initialize()
            _TOKENIZER = tok
        return _TOKENIZER


# What ends a clause in normalized text: a composition never reaches across one.
_CLAUSE_END = r"，。！？；,.!?;\n"


def composition_pattern(composition: Composition) -> str:
    """The RE2 pattern of a composition over normalized text; its group is the whole phrase."""
    def alternation(words: list[str]) -> str:
        keys = sorted({k for k in (_norm(w) for w in words) if k}, key=len, reverse=True)
        return "|".join(re2.escape(k) for k in keys)

    return (f"((?:{alternation(composition.first)})[^{_CLAUSE_END}]{{0,{composition.within}}}"
            f"(?:{alternation(composition.then)}))")


def patterns_of(rule: Rule) -> tuple[str, ...]:
    """A rule's own patterns, then its compositions as patterns."""
    return (*rule.patterns, *(composition_pattern(c) for c in rule.compose))


def _re2(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


def validate_rules(rules: Iterable[Rule]) -> list[str]:
    """Everything wrong with a set of rules, one message per problem, each naming its rule."""
    problems: list[str] = []
    seen_ids: set[str] = set()
    term_owner: dict[str, str] = {}
    for rule in rules:
        rid = rule.id
        if rid in seen_ids:
            problems.append(f"rule {rid}: duplicate id")
        seen_ids.add(rid)
        if not rule.reminder.strip():
            problems.append(f"rule {rid}: missing reminder")
        if not rule.basis.strip():
            problems.append(f"rule {rid}: missing basis")
        for kind, pats in (("pattern", patterns_of(rule)), ("exception pattern", rule.exception_patterns)):
            for pat in pats:
                try:
                    _re2(pat)
                except Exception as exc:  # re2.error carries the reason
                    problems.append(f"rule {rid}: {kind} {pat!r} does not compile under RE2: {exc}")
        terms = {}
        for term in rule.terms:
            key = _norm(term)
            if not key:
                problems.append(f"rule {rid}: term {term!r} is empty after normalization and would never match")
                continue
            if len(key) < 2 and key.isalnum():
                # One letter or character matches almost anything (an emoji that normalizes to 绿);
                # a lone emoji (🐧) that the normalizer keeps is specific enough.
                problems.append(f"rule {rid}: term {term!r} normalizes to {key!r}, too short to match safely")
                continue
            terms[key] = term
            owner = term_owner.get(key)
            if owner is not None and owner != rid:
                problems.append(
                    f"rule {rid}: term {term!r} duplicates a term of rule {owner} (both normalize to {key!r})"
                )
            term_owner.setdefault(key, rid)
        for exc_term in rule.exceptions:
            key = _norm(exc_term)
            if not key:
                problems.append(f"rule {rid}: exception {exc_term!r} is empty after normalization")
            elif key in terms:
                problems.append(
                    f"rule {rid}: exception {exc_term!r} equals its term {terms[key]!r}, "
                    "so the term could never fire"
                )
    return problems


_HOMOPHONE_MIN_HAN = 3
# The likeliest mis-hearings per position come first; 24 doubled the automaton scan time (a root
# child per first-character variant) for rarer spellings.
_HOMOPHONE_MAX_VARIANTS = 12


@lru_cache(maxsize=65536)
def _homophones_of(term: str) -> frozenset[str]:
    # Deterministic per term and ~3 ms each: remembered so that a republish recompiles fast.
    from moderation.ruleset.homophones import homophone_variants

    return homophone_variants(term, max_variants=_HOMOPHONE_MAX_VARIANTS)


def _add_homophones(rules: list[Rule], keys: dict[str, list[Entry]]) -> None:
    """ASR writes a violating word with a same-sound character (跟治, 将血糖): every term of a rule
    that opts in also matches its one-character homophones, unless that spelling is already some
    rule's term or exception."""
    written = set(keys)
    for i, rule in enumerate(rules):
        if not rule.homophones:
            continue
        for term in rule.terms:
            # Two characters with one swapped is mostly ordinary text (然只, 置好): longer only.
            if sum(1 for ch in term if "\u3400" <= ch <= "\u9fff") < _HOMOPHONE_MIN_HAN:
                continue
            for variant in _homophones_of(_norm(term)):
                key = _norm(variant)
                if key and key not in written:
                    keys.setdefault(key, []).append(Entry(i, False, term, homophone=True))


# Common chars that start no key still get a root child (see `_automaton`); 100 gave the most.
_ROOT_SHORTCUTS = 100
_NEVER = "\x00"  # normalize() folds control chars to separators and drops them


def _automaton(values: dict[str, tuple[str, tuple[Entry, ...]]]) -> Any:
    """The automaton over every key, its root's children ordered by how common their char is.

    pyahocorasick finds a child by scanning a node's children in the order they were added,
    and every char that extends no partial match is looked up among the root's (~900, one per
    first char of a key). Adding keys by how common their first char is in jieba's dictionary,
    and giving the commonest chars that start no key a child of their own (a key ending in a
    char that normalized text never holds, with no entries, so it yields nothing even if it
    were found), puts most chars of real text near the front of that scan: the automaton runs
    30% faster on segments. The keys and what they match are the same in any order.
    """
    automaton = ahocorasick.Automaton()
    if not values:
        return automaton
    rank = _char_rank()
    firsts = {key[:1] for key in values}
    shortcuts = [c for c in list(rank)[:_ROOT_SHORTCUTS] if c not in firsts]
    rows = [*values.items(), *((c + _NEVER, (c + _NEVER, ())) for c in shortcuts)]
    rows.sort(key=lambda row: rank.get(row[0][:1], len(rank)))  # stable: ties keep their order
    for key, value in rows:
        automaton.add_word(key, value)
    automaton.make_automaton()
    return automaton


@lru_cache(maxsize=1)
def _char_rank() -> dict[str, int]:
    """Single chars of jieba's dictionary, commonest first → their rank."""
    freq = jieba_tokenizer().FREQ
    chars = sorted((w for w, f in freq.items() if len(w) == 1 and f), key=lambda w: -freq[w])
    return {c: i for i, c in enumerate(chars)}


def ruleset_version(rules: Iterable[Rule]) -> str:
    """A short hash of the rules' content, independent of their order."""
    data = sorted((r.model_dump(mode="json") for r in rules), key=lambda d: d["id"])
    blob = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def compile_rules(
    rules: Iterable[Rule], *, version: str | None = None, homophones: bool = True
) -> CompiledRuleset:
    rules = list(rules)
    problems = validate_rules(rules)
    if problems:
        raise RulesetError(problems)
    enabled = [r for r in rules if r.enabled]
    keys: dict[str, list[Entry]] = {}
    compiled: list[CompiledRule] = []
    for i, rule in enumerate(enabled):
        for term in rule.terms:
            keys.setdefault(_norm(term), []).append(Entry(i, False, term))
        for exc_term in rule.exceptions:
            keys.setdefault(_norm(exc_term), []).append(Entry(i, True, exc_term))
        compiled.append(
            CompiledRule(
                rule=rule,
                patterns=tuple(_re2(p) for p in patterns_of(rule)),
                exception_patterns=tuple(_re2(p) for p in rule.exception_patterns),
                exempt=tuple(k for k in (_norm(t) for t in rule.exempt_if_text_contains) if k),
            )
        )
    sounds = None
    if homophones:
        _add_homophones(enabled, keys)
        sounds = SoundIndex(
            ((i, _norm(t)) for i, r in enumerate(enabled) if r.homophones for t in r.terms),
            written=keys,
            lexicon=jieba_tokenizer().FREQ,
        )
    values: dict[str, tuple[str, tuple[Entry, ...]]] = {}
    for key, entries in keys.items():
        # Within one rule a term may repeat after normalization (薇信, 威信 → 微信): keep one.
        unique = tuple(dict.fromkeys(entries, None)) if len(entries) > 1 else tuple(entries)
        deduped = tuple({(e.rule, e.is_exception): e for e in unique}.values())
        values[key] = (key, deduped)
    automaton = _automaton(values)
    pattern_set = None
    pattern_index: list[tuple[int, Any, bool]] = []
    if any(c.patterns or c.exception_patterns for c in compiled):
        options = re2.Options()
        options.log_errors = False
        # The set's DFA caches the states it has visited, within this budget. RE2's default (8 MiB)
        # is exhausted and reset again and again on varied text: 3.4 µs a segment of real review
        # sentences at 8 MiB, 0.8 µs at 32 MiB. The cache grows only as states are built, to at
        # most about two thirds of the budget.
        options.max_mem = 32 << 20
        pattern_set = re2.Set.SearchSet(options)
        for i, cr in enumerate(compiled):
            for sources, patterns, is_exception in (
                (patterns_of(cr.rule), cr.patterns, False),
                (cr.rule.exception_patterns, cr.exception_patterns, True),
            ):
                for source, pattern in zip(sources, patterns, strict=True):
                    pattern_set.Add(source)
                    pattern_index.append((i, pattern, is_exception))
        pattern_set.Compile()
    applicable = {
        (kind, cat): frozenset(i for i, r in enumerate(enabled) if r.applies(kind=kind, category=cat))
        for kind in Kind
        for cat in ProductCategory
    }
    return CompiledRuleset(
        version=version or ruleset_version(rules),
        rules=MappingProxyType({r.id: r for r in rules}),
        compiled=tuple(compiled),
        automaton=automaton,
        applicable=MappingProxyType(applicable),
        tokenizer=jieba_tokenizer(),
        pattern_set=pattern_set,
        pattern_index=tuple(pattern_index),
        sounds=sounds,
    )
