"""Pure decision: rule hits + model output + kind + category → hits kept, labels, action, notes.

The whole action policy lives in the tables at the top of this file, so a reader (or a
compliance officer) can check it in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from moderation.match import bare_word, snap_to_words, terms_heard
from moderation.types import Action, Hit, Kind, Label, RuleCategory, Severity, Source

if TYPE_CHECKING:
    from moderation.classifier import ModelOutput, ModelSpan
    from moderation.ruleset.compile import CompiledRuleset

# Live speech gets a reminder first; a product page is a standing text, so the same
# severity weighs more there (and contacts on pages are banned outright).
ACTION_BY_SEVERITY: Mapping[tuple[Kind, Severity], Action] = {
    (Kind.TRANSCRIPT, Severity.LOW): Action.REMIND,
    (Kind.TRANSCRIPT, Severity.MEDIUM): Action.REMIND,
    (Kind.TRANSCRIPT, Severity.HIGH): Action.REVIEW,
    (Kind.COPY, Severity.LOW): Action.REMIND,
    (Kind.COPY, Severity.MEDIUM): Action.REVIEW,
    (Kind.COPY, Severity.HIGH): Action.BLOCK,
}
# A finding of the model alone is never enough to block: a person looks first.
MODEL_ONLY_CEILING = Action.REVIEW
# A rule's term heard in other characters (驱豆 for 祛痘) counts when the model agrees, at most at
# this severity: in speech a reminder, on a product page a review, never a block on a guess at a sound.
HEARD_CEILING = Severity.MEDIUM
# Model confidence above which a model-only finding counts as medium rather than low severity.
MODEL_CONFIDENT = 0.998
# A finding of the model alone needs at least this probability, whatever the card's threshold. The
# build chooses the floor per label for each model on its held-out split and writes it in model.json
# (`model_only_min`; models/export.py): a model's contact findings are surer than its claim findings.
# This value is the floor for a model that carries none.
MODEL_ONLY_MIN = 0.99
_DEFAULT_FLOORS: Mapping[Label, float] = dict.fromkeys(Label, MODEL_ONLY_MIN)
# A model-only finding must point at words, as a reminder quotes what was said: a run of at least
# this many characters that the token head itself marks (probability >= MODEL_SPAN_MIN). The
# classifier's fallback span around a single peak character does not qualify.
MODEL_SPAN_MIN_CHARS = 2
MODEL_SPAN_MIN = 0.5
# A hit of a rule marked model_can_override, on one of its bare words (微信, 第一, 治疗: not a
# handle, a number, a pattern's match or one of the rule's firm_terms), is dropped when the model's
# verdict on those words (ModelOutput.verdict: the higher of its sentence score and its token head's
# marks over them) is below the bar of the rule's family. The build chooses one bar per family on its held-out split and writes them in
# model.json (`veto_below`); a model that carries none vetoes nothing.
NO_VETOES: Mapping[RuleCategory, float] = {}


@dataclass(frozen=True, slots=True)
class Decision:
    hits: tuple[Hit, ...]
    labels: tuple[Label, ...]
    action: Action
    notes: tuple[str, ...]


def decide(
    rule_hits: Sequence[Hit],
    model: ModelOutput | None,
    *,
    text: str,
    kind: Kind,
    ruleset: CompiledRuleset,
    thresholds: Mapping[Label, float],
    veto_below: Mapping[RuleCategory, float] = NO_VETOES,
    model_only_min: Mapping[Label, float] = _DEFAULT_FLOORS,
    heard: Sequence[Hit] = (),
    heard_min: float | None = None,
    refused: Sequence[tuple[int, int]] = (),
) -> Decision:
    """`heard`: rule hits on spans that only sound like a term (match.find_sound_alikes), kept
    where the model's probability for their label reaches `heard_min` (default: the label's
    threshold). `refused`: spans where the rule layer found a term and voided it as negated, quoted or
    taken back (match.Dropped.refused); the model's finding on those words does not stand either."""
    notes: list[str] = []
    hits = list(rule_hits)
    if model is not None:
        hits, vetoed = _apply_vetoes(hits, model, ruleset, veto_below)
        notes += vetoed
        confirmed, heard_notes = _heard_hits(heard, hits, model, ruleset, heard_bars(thresholds, heard_min), text)
        hits += confirmed
        notes += heard_notes
        hits += _model_only_hits(hits, model, text=text, thresholds=thresholds, floors=model_only_min,
                                 ruleset=ruleset, refused=refused)
    # Merged only now, after the vetoes: a handle must not fall with a bare word that overlaps it.
    hits = one_per_phrase(hits, text)
    labels = tuple(label for label in Label if any(h.label is label for h in hits))
    return Decision(tuple(hits), labels, _action(hits, kind), tuple(notes))


def one_per_phrase(hits: Sequence[Hit], text: str) -> list[Hit]:
    """Overlapping hits of one label are one finding (`加我薇❤信 abc123` is one offer, not a word and a
    handle; `全网最低价` holds `最低价`): the span they cover together, named by the most severe of
    them, the longest on a tie. Sorted by start."""
    merged: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (h.label.value, h.start, -h.end)):
        last = merged[-1] if merged else None
        if last is None or last.label is not hit.label or hit.start >= last.end:
            merged.append(hit)
            continue
        lead = max(last, hit, key=lambda h: (h.severity.rank, h.end - h.start))
        start, end = last.start, max(last.end, hit.end)
        merged[-1] = replace(lead, start=start, end=end, text=text[start:end] if text else lead.text)
    return sorted(merged, key=lambda h: (h.start, h.end, h.rule))


def _apply_vetoes(
    hits: list[Hit], model: ModelOutput, ruleset: CompiledRuleset, veto_below: Mapping[RuleCategory, float]
) -> tuple[list[Hit], list[str]]:
    if not veto_below:
        return hits, []
    kept: list[Hit] = []
    notes: list[str] = []
    for hit in hits:
        bar = veto_below.get(hit.category) if hit.category is not None else None
        if bar and bare_word(ruleset, hit) and (p := model.verdict(hit.label, hit.start, hit.end)) < bar:
            notes.append(f"model vetoed {hit.rule} on “{hit.text}” ({hit.label.value} verdict {p:.3f} < {bar})")
        else:
            kept.append(hit)
    return kept, notes


def _heard_hits(
    heard: Sequence[Hit], hits: Sequence[Hit], model: ModelOutput, ruleset: CompiledRuleset,
    bars: Mapping[Label, float], text: str,
) -> tuple[list[Hit], list[str]]:
    """A span that sounds like a rule's term (驱豆 for 祛痘) is a finding where the model holds that
    the sentence makes a claim of the rule's label (p >= its bar) and points at those words: far
    below the floor for the model alone, because the rule names the words. Never above
    HEARD_CEILING."""
    found: list[Hit] = []
    notes: list[str] = []
    for hit in one_per_phrase(heard, text):
        p = model.scores.get(hit.label)
        if p is None or p < bars[hit.label]:
            continue
        if not any(s.label is hit.label and s.start < hit.end and hit.start < s.end for s in model.spans):
            continue  # the model's claim is elsewhere in the sentence
        if any(h.label is hit.label and h.start < hit.end and hit.start < h.end for h in (*hits, *found)):
            continue  # the words are already a finding as written
        severity = min(hit.severity, HEARD_CEILING, key=lambda s: s.rank)
        found.append(replace(hit, score=p, severity=severity))
        like = "、".join(terms_heard(ruleset, hit)) or hit.rule
        notes.append(f"“{hit.text}” sounds like {like} ({hit.rule}); the model agrees ({hit.label.value} p={p:.3f})")
    return found, notes


def heard_bars(thresholds: Mapping[Label, float], heard_min: float | None) -> Mapping[Label, float]:
    """The probability per label at which the model confirms a sound-alike of a rule's term."""
    return thresholds if heard_min is None else dict.fromkeys(Label, heard_min)


def may_find_alone(rule_hits: Sequence[Hit], model: ModelOutput, *, thresholds: Mapping[Label, float],
                   floors: Mapping[Label, float]) -> bool:
    """Whether the model could add a finding of its own: a label it is sure of with no rule hit."""
    return any((p := model.scores.get(label)) is not None and p >= max(thresholds[label], floors[label])
               and not any(h.label is label for h in rule_hits) for label in Label)


def _model_only_hits(
    rule_hits: Sequence[Hit], model: ModelOutput, *, text: str, thresholds: Mapping[Label, float],
    floors: Mapping[Label, float], ruleset: CompiledRuleset, refused: Sequence[tuple[int, int]] = (),
) -> list[Hit]:
    """A confident model finding with no rule hit of its label becomes a `source: model` hit, on whole words."""
    found: list[Hit] = []
    for label in Label:
        p = model.scores.get(label)
        if p is None or p < max(thresholds[label], floors[label]) or any(h.label is label for h in rule_hits):
            continue
        spans = [s for s in model.spans if s.label is label and _points_at_words(s)
                 and not any(a < s.end and s.start < b for a, b in refused)]
        severity = Severity.MEDIUM if p >= MODEL_CONFIDENT else Severity.LOW
        for span in spans:
            found.append(_model_hit(label, *snap_to_words(ruleset, text, span.start, span.end), text, p, severity))
    return found


def _points_at_words(span: ModelSpan) -> bool:
    return span.end - span.start >= MODEL_SPAN_MIN_CHARS and span.score >= MODEL_SPAN_MIN


def _model_hit(label: Label, start: int, end: int, text: str, p: float, severity: Severity) -> Hit:
    return Hit(
        label=label,
        category=None,
        rule=f"model.{label.value}",
        start=start,
        end=end,
        text=text[start:end],
        source=Source.MODEL,
        score=p,
        severity=severity,
        matched="",
    )


def _action(hits: Sequence[Hit], kind: Kind) -> Action:
    action = Action.PASS
    for hit in hits:
        candidate = ACTION_BY_SEVERITY[(kind, hit.severity)]
        if hit.source is Source.MODEL and candidate.rank > MODEL_ONLY_CEILING.rank:
            candidate = MODEL_ONLY_CEILING
        if candidate.rank > action.rank:
            action = candidate
    return action

