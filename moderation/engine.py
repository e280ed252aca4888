"""The only place the layers meet: normalize → match → classify → decide → reminders → Result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from moderation.decide import MODEL_ONLY_MIN, decide, heard_bars, may_find_alone
from moderation.match import Dropped, clause_around, find_hits, find_sound_alikes
from moderation.normalize import normalize
from moderation.reminders import reminders_for
from moderation.ruleset.compile import CompiledRuleset, compile_rules
from moderation.ruleset.live import LiveRuleset
from moderation.ruleset.packs import load_rules
from moderation.settings import Settings
from moderation.types import (
    ALL_LAYERS,
    Action,
    Kind,
    Label,
    Layer,
    ProductCategory,
    Result,
    RuleCategory,
    Scores,
)

if TYPE_CHECKING:
    from moderation.classifier import Classifier, ModelOutput


class LayerUnavailable(ValueError):
    """The caller asked for the model layer while the service runs rules-only."""


@dataclass(frozen=True, slots=True)
class CheckItem:
    text: str
    kind: Kind = Kind.TRANSCRIPT
    category: ProductCategory = ProductCategory.OTHER
    id: str | None = None
    # The model reads text[model_from:], the rules all of it: a stream's joined text gives the
    # model only a short tail of the earlier segments (see moderation.streams). Spans come back
    # in offsets of the whole text.
    model_from: int = 0
    # Offsets where one ASR segment ends and the next begins in a stream's joined text: clause
    # breaks for the rule layer's negation and quotation checks (match.find_hits).
    pauses: tuple[int, ...] = ()


class Moderator:
    """Safe to share between threads: the ruleset is read once per call from `live`."""

    def __init__(
        self,
        *,
        live: LiveRuleset,
        classifier: Classifier | None,
        rules_only_reason: str | None = None,
        model_only_min: float | Mapping[Label, float] | None = None,
        heard_min: float | None = None,
        veto_below: Mapping[RuleCategory, float] | None = None,
    ) -> None:
        if classifier is None and not rules_only_reason:
            raise ValueError("a moderator without a classifier must say why (rules_only_reason)")
        self.live = live
        self.classifier = classifier
        # The floor for findings of the model alone: as given (the build's sweep gives 0), else the
        # model's card, else decide's default.
        if model_only_min is None and classifier is not None:
            model_only_min = classifier.model_only_min
        if model_only_min is None:
            model_only_min = MODEL_ONLY_MIN
        self.model_only_min: Mapping[Label, float] = (
            model_only_min if isinstance(model_only_min, Mapping) else dict.fromkeys(Label, model_only_min))
        # The bar at which the model confirms a term heard in other characters: as given, else the
        # card's, else (None) the labels' thresholds.
        if heard_min is None and classifier is not None:
            heard_min = classifier.heard_min
        self.heard_min = heard_min
        # Per rule family, the model's verdict below which it vetoes a bare word: as given, else the card's.
        if veto_below is None:
            veto_below = classifier.veto_below if classifier is not None else {}
        self.veto_below = veto_below
        self.rules_only_reason = rules_only_reason

    @property
    def ruleset_version(self) -> str:
        return self.live.current.version

    @property
    def model_version(self) -> str | None:
        return None if self.classifier is None else self.classifier.version

    @property
    def available_layers(self) -> frozenset[Layer]:
        return ALL_LAYERS if self.classifier is not None else _RULES_ONLY

    def with_ruleset(self, compiled: CompiledRuleset) -> Moderator:
        """The same model with another ruleset, for dry-runs of a draft."""
        return Moderator(
            live=LiveRuleset(compiled),
            classifier=self.classifier,
            rules_only_reason=self.rules_only_reason,
            model_only_min=self.model_only_min,
            heard_min=self.heard_min,
            veto_below=self.veto_below,
        )

    def status(self) -> dict[str, Any]:
        return {
            "ruleset_version": self.ruleset_version,
            "model_version": self.model_version,
            "layers": sorted(layer.value for layer in self.available_layers),
            "rules_only": self.rules_only_reason,
        }

    def check(
        self,
        text: str,
        *,
        kind: Kind = Kind.TRANSCRIPT,
        category: ProductCategory = ProductCategory.OTHER,
        layers: frozenset[Layer] | None = None,
        id: str | None = None,
    ) -> Result:
        # The same steps as check_many for one item, without a CheckItem and lists per call:
        # this is the hot path of a live stream.
        used, notes = self._layers(layers)
        ruleset = self.live.current
        model = None
        if Layer.MODEL in used:
            assert self.classifier is not None
            model = self.classifier.predict([text])[0]
        return self._judge(text, kind, category, id, ruleset, model, used, notes, ())

    def check_many(self, items: Sequence[CheckItem], *, layers: frozenset[Layer] | None = None) -> list[Result]:
        """Batch the model over all items; every item is judged with the same ruleset."""
        used, notes = self._layers(layers)
        ruleset = self.live.current
        outputs: Sequence[ModelOutput | None] = [None] * len(items)
        if Layer.MODEL in used and items:
            assert self.classifier is not None
            outputs = self.classifier.predict([item.text[item.model_from :] for item in items])
            outputs = [_shifted(out, item.model_from) for item, out in zip(items, outputs, strict=True)]
        return [
            self._judge(item.text, item.kind, item.category, item.id, ruleset, out, used, notes, item.pauses)
            for item, out in zip(items, outputs, strict=True)
        ]

    def _layers(self, requested: frozenset[Layer] | None) -> tuple[frozenset[Layer], tuple[str, ...]]:
        if requested is None:
            notes = () if self.rules_only_reason is None else (f"rules-only mode: {self.rules_only_reason}",)
            return self.available_layers, notes
        if not requested <= self.available_layers:
            raise LayerUnavailable(f"the model layer is not loaded ({self.rules_only_reason})")
        return requested, ()

    def _judge(
        self,
        text: str,
        kind: Kind,
        category: ProductCategory,
        id: str | None,
        ruleset: CompiledRuleset,
        model: ModelOutput | None,
        layers: frozenset[Layer],
        notes: tuple[str, ...],
        pauses: tuple[int, ...],
    ) -> Result:
        rule_hits = heard = ()
        thresholds = self.classifier.thresholds if self.classifier is not None else _NO_THRESHOLDS
        # Where the model is sure enough of a label to find it alone (rare), the rule layer's refusals
        # are kept: a clause it judged refused (治病咱得去医院) is no finding of the model's either.
        dropped: list[Dropped] | None = None
        if model is not None and may_find_alone((), model, thresholds=thresholds, floors=self.model_only_min):
            dropped = []
        if Layer.RULES in layers:
            normalized = normalize(text)
            rule_hits = find_hits(ruleset, normalized, kind=kind, category=category, pauses=pauses, dropped=dropped)
        model_version = self.model_version if Layer.MODEL in layers else None
        if not rule_hits and (model is None or not model.spans):
            # Most segments are clean: no rule hit, and no span the model could report (it marks
            # one only where a label or a character passed its threshold), so decide() and
            # reminders_for() would return nothing and pass. The result is built directly
            # (tests/test_engine.py holds it equal to theirs). Positional (id, labels, action, hits,
            # scores, reminders, ruleset_version, model_version, layers, notes): keywords cost a
            # quarter of the call here.
            scores = _NO_SCORES if model is None else model.scores
            return Result(id, (), Action.PASS, (), scores, (), ruleset.version, model_version, layers, notes)
        bars = heard_bars(thresholds, self.heard_min)
        if Layer.RULES in layers and model is not None and (near := _claimed_spans(model, bars)):
            # Only there can a span that merely sounds like a term count (decide._heard_hits).
            heard = find_sound_alikes(ruleset, normalized, kind=kind, category=category, near=near, pauses=pauses)
        refused = tuple(clause_around(text, d.start, d.end, pauses) for d in dropped or () if d.refused)
        decision = decide(
            rule_hits, model, text=text, kind=kind, ruleset=ruleset, thresholds=thresholds,
            model_only_min=self.model_only_min, heard=heard, heard_min=self.heard_min, veto_below=self.veto_below,
            refused=refused,
        )
        return Result(
            id=id,
            labels=decision.labels,
            action=decision.action,
            hits=decision.hits,
            scores=model.scores if model is not None else _NO_SCORES,
            reminders=reminders_for(decision.hits, ruleset.rules),
            ruleset_version=ruleset.version,
            model_version=model_version,
            layers=layers,
            notes=notes + decision.notes,
        )


_NO_THRESHOLDS = dict.fromkeys(Label, 1.0)

_NO_SCORES = Scores()  # frozen, so one value serves every result without a model
_RULES_ONLY = frozenset({Layer.RULES})


def _claimed_spans(model: ModelOutput, bars: Mapping[Label, float]) -> list[tuple[int, int]]:
    """The model's spans of the labels it holds the text makes a claim of."""
    return [(s.start, s.end) for s in model.spans if (p := model.scores.get(s.label)) is not None
            and p >= bars[s.label]]


def _shifted(out: ModelOutput, by: int) -> ModelOutput:
    if not by or not out.spans:
        return out
    return replace(out, spans=tuple(replace(s, start=s.start + by, end=s.end + by) for s in out.spans))


def build_moderator(settings: Settings | None = None) -> Moderator:
    """Shipped (or configured) packs and model. A missing or corrupt model is an error here,
    unless `settings.rules_only` asks to run without it."""
    settings = settings or Settings()
    compiled = compile_rules(load_rules(settings.rules_dir))
    if settings.rules_only:
        return Moderator(live=LiveRuleset(compiled), classifier=None, rules_only_reason="started with --rules-only")
    from moderation.classifier import Classifier  # onnxruntime loads only when the model is wanted

    classifier = Classifier(settings.model_dir, threads=settings.model_threads)
    return Moderator(live=LiveRuleset(compiled), classifier=classifier)
