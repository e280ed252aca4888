"""The project's own rule packs as training material: every term, exception and example in `rules/`.

The packs hold ~1,100 terms, their exceptions (the harmless look-alikes reviewers wrote down:
`第一次`, `最好先`, `微信支付`) and each rule's positive and negative sentences. The phrase banks
alone give the model a few hundred wordings; the packs give it every surface form the rule layer
knows, so the model's scores agree with the rules on them and its vetoes stop contradicting a
correct hit. The spans of a positive example come from the rule layer itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from moderation.match import find_hits
from moderation.normalize import normalize
from moderation.ruleset.compile import compile_rules
from moderation.ruleset.packs import load_rules
from moderation.settings import DEFAULT_RULES_DIR
from moderation.types import ProductCategory


@dataclass(frozen=True, slots=True)
class PackTerm:
    rule: str
    label: str
    term: str
    categories: tuple[str, ...]  # product categories the rule applies to


@dataclass(frozen=True, slots=True)
class PackSentence:
    rule: str
    text: str
    kind: str
    spans: tuple[tuple[str, int, int], ...]  # (label, start, end) from the rule layer; () for a negative


@dataclass(frozen=True, slots=True)
class PackData:
    terms: tuple[PackTerm, ...]
    exceptions: tuple[tuple[str, str], ...]  # (rule id, harmless phrase)
    positives: tuple[PackSentence, ...]
    negatives: tuple[PackSentence, ...]


_ALL_CATEGORIES = tuple(c.value for c in ProductCategory)


@cache
def _shipped():
    rules = [r for r in load_rules(DEFAULT_RULES_DIR) if r.enabled]
    return rules, compile_rules(rules)


def rule_findings(text: str) -> list[tuple[str, int, int, bool]]:
    """The rule layer on a real line read as product copy: (label, start, end, from a pattern) of each
    finding, disjoint; a pattern's finding is a number or a handle, the others are words."""
    _, ruleset = _shipped()
    hits = find_hits(ruleset, normalize(text), kind="copy", category="other")
    pattern = {(h.start, h.end) for h in hits if ruleset.automaton.get(h.matched, None) is None}
    spans = _disjoint(tuple((h.label.value, h.start, h.end) for h in hits))
    return [(lab, s, e, (s, e) in pattern) for lab, s, e in spans]


@cache
def pack_data() -> PackData:
    rules, ruleset = _shipped()
    terms, exceptions, positives, negatives = [], [], [], []
    for rule in rules:
        cats = _categories(rule)
        terms += [PackTerm(rule.id, rule.label.value, t, cats) for t in rule.terms if _usable(t)]
        exceptions += [(rule.id, e) for e in rule.exceptions if _usable(e)]
        for ex in rule.examples.positive:
            hits = find_hits(ruleset, normalize(ex.text), kind=ex.kind, category=ex.category)
            spans = tuple((h.label.value, h.start, h.end) for h in hits)
            if any(label == rule.label.value for label, _, _ in spans):
                positives.append(PackSentence(rule.id, ex.text, ex.kind.value, _disjoint(spans)))
        for ex in rule.examples.negative:
            # A negative of one rule may still be a positive of another; only wholly clean ones teach "clean".
            if not find_hits(ruleset, normalize(ex.text), kind=ex.kind, category=ex.category):
                negatives.append(PackSentence(rule.id, ex.text, ex.kind.value, ()))
    return PackData(tuple(terms), tuple(exceptions), tuple(positives), tuple(negatives))


def _categories(rule) -> tuple[str, ...]:
    applies = _ALL_CATEGORIES if rule.applies_to == "all" else tuple(c.value for c in rule.applies_to)
    return tuple(c for c in applies if c not in {n.value for n in rule.not_for})


def _usable(phrase: str) -> bool:
    # One-character terms (薇, V) mean something only with context the frames cannot supply.
    return len(phrase.strip()) >= 2


def _disjoint(spans: tuple[tuple[str, int, int], ...]) -> tuple[tuple[str, int, int], ...]:
    """Spans sorted by start; a span overlapping an earlier kept one is dropped (pieces cannot overlap)."""
    kept: list[tuple[str, int, int]] = []
    for span in sorted(spans, key=lambda s: (s[1], -s[2])):
        if not kept or span[1] >= kept[-1][2]:
            kept.append(span)
    return tuple(kept)


def pieces_of(sentence: PackSentence) -> list[tuple[str, str | None]]:
    """A labelled sentence as generator pieces, so styles and ASR noise keep its spans exact."""
    pieces: list[tuple[str, str | None]] = []
    pos = 0
    for label, start, end in sentence.spans:
        if start > pos:
            pieces.append((sentence.text[pos:start], None))
        pieces.append((sentence.text[start:end], label))
        pos = end
    if pos < len(sentence.text):
        pieces.append((sentence.text[pos:], None))
    return pieces

