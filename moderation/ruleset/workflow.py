"""The reviewers' workflow over the store: validate a draft, dry-run it against the published
rules on real sentences, publish it with a message, roll back to any version."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy.orm import Session

from moderation.normalize import normalize
from moderation.ruleset import store
from moderation.ruleset.compile import CompiledRuleset, RulesetError, compile_rules, validate_rules
from moderation.ruleset.schema import Rule
from moderation.types import Hit, Kind, Label, Layer, ProductCategory, Result, RuleCategory

SAMPLE_CORPUS = Path(__file__).resolve().parent / "sample_corpus.jsonl"
# Enough recent audit findings to show real effects, few enough for a dry-run of a second or two.
MAX_AUDIT_SENTENCES = 300


def version_label(version: int) -> str:
    """The `ruleset_version` that results carry while a published version is live."""
    return f"v{version}"


def draft_label(rules: Sequence[Rule]) -> str:
    return f"draft-{store.content_hash(rules)[:12]}"


# ---------------------------------------------------------------- validation


def validate(rules: Sequence[Rule]) -> list[str]:
    """Every problem with a set of rules, each message naming its rule (`rule X: …`)."""
    return validate_rules(rules) + _swallowing_exceptions(rules)


def _swallowing_exceptions(rules: Iterable[Rule]) -> list[str]:
    # An exception inside a term overlaps every hit of that term, so the term never fires.
    # (An exception equal to a term is reported by validate_rules.)
    problems = []
    for rule in rules:
        terms = {normalize(t).text: t for t in rule.terms}
        for exception in rule.exceptions:
            key = normalize(exception).text
            for norm_term, term in terms.items():
                if key and key != norm_term and key in norm_term:
                    problems.append(
                        f"rule {rule.id}: exception {exception!r} lies inside its term {term!r}, "
                        "so the term could never fire"
                    )
    return problems


def rule_from_data(data: Any, *, rule_id: str | None = None) -> Rule:
    """A rule from JSON-like data; every problem in the RulesetError names the rule."""
    if not isinstance(data, dict):
        raise RulesetError([f"rule {rule_id or '?'}: a rule is a JSON object"])
    if rule_id is not None:
        if data.get("id", rule_id) != rule_id:
            raise RulesetError([f"rule {rule_id}: the body's id {data.get('id')!r} differs from the URL's"])
        data = {**data, "id": rule_id}
    name = data.get("id") if isinstance(data.get("id"), str) else "?"
    try:
        return Rule.model_validate(data)
    except ValidationError as exc:
        raise RulesetError([_named(name, e) for e in exc.errors()]) from None


def _named(rule_id: str, error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if message.startswith("rule "):  # the schema's own checks already name the rule
        return message
    where = ".".join(str(p) for p in error["loc"])
    return f"rule {rule_id}: {where + ': ' if where else ''}{message}"


def search_rules(
    rules: Iterable[Rule],
    *,
    term: str | None = None,
    label: Label | None = None,
    category: RuleCategory | None = None,
) -> list[Rule]:
    """Rules whose id, terms, patterns, exceptions or texts contain `term` (also after normalization)."""
    needles = {t for t in (term, normalize(term).text if term else None) if t}
    found = []
    for rule in rules:
        if label is not None and rule.label is not label:
            continue
        if category is not None and rule.category is not category:
            continue
        if needles:
            hay = [rule.id, *rule.terms, *rule.patterns, *rule.exceptions, rule.reminder, rule.suggestion]
            hay += [normalize(t).text for t in rule.terms]
            if not any(n.lower() in h.lower() for n in needles for h in hay):
                continue
        found.append(rule)
    return found


def problems_of_rule(rules: Sequence[Rule], rule_id: str) -> list[str]:
    """The problems an edit to `rule_id` would bring into the draft."""
    return [p for p in validate(rules) if p.startswith(f"rule {rule_id}:")]


def compile_checked(rules: Sequence[Rule], *, version: str) -> CompiledRuleset:
    problems = validate(rules)
    if problems:
        raise RulesetError(problems)
    return compile_rules(rules, version=version)


class DraftCache:
    """Compiled drafts by content hash, so typing in "try a sentence" does not recompile."""

    def __init__(self, size: int = 4) -> None:
        self._items: OrderedDict[str, CompiledRuleset] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def compiled(self, rules: Sequence[Rule]) -> CompiledRuleset:
        label = draft_label(rules)
        with self._lock:
            if label in self._items:
                self._items.move_to_end(label)
                return self._items[label]
        compiled = compile_checked(rules, version=label)
        with self._lock:
            self._items[label] = compiled
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return compiled


# ---------------------------------------------------------------- dry-run


class Scorer(Protocol):
    """What a dry-run needs of engine.Moderator; the ruleset layer does not import the engine."""

    def with_ruleset(self, compiled: CompiledRuleset) -> Scorer: ...

    def check_many(self, items: Sequence[Any], *, layers: frozenset[Layer] | None = None) -> list[Result]: ...


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence to score; it has the fields of engine.CheckItem, so it is one."""

    text: str
    kind: Kind = Kind.TRANSCRIPT
    category: ProductCategory = ProductCategory.OTHER
    source: str = "sample"  # sample | audit
    id: str | None = None
    model_from: int = 0
    pauses: tuple[int, ...] = ()


def sample_corpus() -> list[Sentence]:
    sentences = []
    for line in SAMPLE_CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            sentences.append(Sentence(row["text"], Kind(row["kind"]), ProductCategory(row["category"])))
    return sentences


def audit_sentences(data_dir: Path, *, limit: int = MAX_AUDIT_SENTENCES) -> list[Sentence]:
    """The texts of the newest audit findings under `data_dir` (any `findings.jsonl` below it)."""
    if not data_dir.is_dir():
        return []
    files = sorted(data_dir.rglob("findings.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    seen: dict[str, Sentence] = {}
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as lines:  # findings files can be large
            for line in lines:
                try:
                    text = json.loads(line).get("text")
                except (json.JSONDecodeError, AttributeError):
                    continue  # a half-written last line of a running audit
                if isinstance(text, str) and text.strip() and text not in seen:
                    seen[text] = Sentence(text, source="audit")
                    if len(seen) >= limit:
                        return list(seen.values())
    return list(seen.values())


def _hit_key(hit: Hit) -> tuple[str, int, int]:
    return (hit.rule, hit.start, hit.end)


def _hit_view(hit: Hit) -> dict[str, Any]:
    return {
        "rule": hit.rule,
        "label": hit.label.value,
        "category": hit.category.value if hit.category else None,
        "start": hit.start,
        "end": hit.end,
        "text": hit.text,
        "source": hit.source.value,
    }


@dataclass(frozen=True)
class DryRun:
    published: str
    draft: str
    sentences: int
    new_hits: list[dict[str, Any]] = field(default_factory=list)
    lost_hits: list[dict[str, Any]] = field(default_factory=list)
    changed_actions: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "published": self.published,
            "draft": self.draft,
            "sentences": self.sentences,
            "new_hits": self.new_hits,
            "lost_hits": self.lost_hits,
            "changed_actions": self.changed_actions,
        }


def dry_run(
    *,
    moderator: Scorer,
    published: CompiledRuleset,
    draft: CompiledRuleset,
    sentences: Sequence[Sentence],
    layers: frozenset[Layer] | None = None,
) -> DryRun:
    """Score every sentence with both rulesets; report what the draft adds, loses and changes."""
    before = moderator.with_ruleset(published).check_many(sentences, layers=layers)
    after = moderator.with_ruleset(draft).check_many(sentences, layers=layers)
    report = DryRun(published=published.version, draft=draft.version, sentences=len(sentences))
    for sentence, old, new in zip(sentences, before, after, strict=True):
        _compare(report, sentence, old, new)
    return report


def _compare(report: DryRun, sentence: Sentence, old: Result, new: Result) -> None:
    where = {
        "sentence": sentence.text,
        "kind": sentence.kind.value,
        "category": sentence.category.value,
        "from": sentence.source,
    }
    old_hits = {_hit_key(h): h for h in old.hits}
    new_hits = {_hit_key(h): h for h in new.hits}
    for key in new_hits.keys() - old_hits.keys():
        report.new_hits.append(where | {"hit": _hit_view(new_hits[key])})
    for key in old_hits.keys() - new_hits.keys():
        report.lost_hits.append(where | {"hit": _hit_view(old_hits[key])})
    if old.action is not new.action:
        report.changed_actions.append(where | {"before": old.action.value, "after": new.action.value})


# ---------------------------------------------------------------- publish and roll back


def publish(session: Session, *, actor: str, message: str) -> int:
    """Validate and compile the draft, then make it the next version. Raises RulesetError, StoreError."""
    if not message.strip():
        raise store.StoreError("message_required", "a publish needs a message saying why")
    rules = store.draft_rules(session)
    if not any(rule.enabled for rule in rules):
        # One click would otherwise silence the rule layer on every stream.
        raise store.StoreError(
            "empty_draft", "the draft has no enabled rules; restore some before publishing"
        )
    compile_checked(rules, version=draft_label(rules))
    if not store.draft_differs(session):
        latest = store.latest_version(session)
        raise store.StoreError("nothing_to_publish", f"the draft is the same as version {latest}")
    return store.publish_draft(session, actor=actor, message=message.strip())


def rollback(session: Session, *, to_version: int, actor: str, message: str = "") -> int:
    # The old version compiled when it was published; compiling again guards against a schema change.
    rules = store.version_rules(session, version=to_version)
    compile_checked(rules, version=version_label(to_version))
    return store.rollback(session, to_version=to_version, actor=actor, message=message.strip())
