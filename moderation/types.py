"""Frozen values that flow through the pipeline: labels, kinds, hits, reminders, results."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Label(StrEnum):
    EFFICACY = "efficacy"
    DIVERSION = "diversion"


class Kind(StrEnum):
    TRANSCRIPT = "transcript"
    COPY = "copy"


class ProductCategory(StrEnum):
    COSMETICS = "cosmetics"
    FOOD = "food"
    HEALTH_FOOD = "health_food"
    APPAREL = "apparel"
    ELECTRONICS = "electronics"
    HOME = "home"
    AGRI = "agri"
    JEWELRY = "jewelry"
    MEDICAL_DEVICE = "medical_device"
    OTHER = "other"


class RuleCategory(StrEnum):
    """The finer category every finding names (SPEC, Labels)."""

    ABSOLUTE_TERM = "absolute_term"
    MEDICAL_CLAIM = "medical_claim"
    HEALTH_FOOD_CLAIM = "health_food_claim"
    COSMETIC_OVERCLAIM = "cosmetic_overclaim"
    GUARANTEED_RESULT = "guaranteed_result"
    FALSE_AUTHORITY = "false_authority"
    CONTACT_WECHAT = "contact_wechat"
    CONTACT_QQ = "contact_qq"
    CONTACT_PHONE = "contact_phone"
    CONTACT_OTHER = "contact_other"
    PRIVATE_DEAL = "private_deal"

    @property
    def label(self) -> Label:
        return Label.DIVERSION if self in _DIVERSION_CATEGORIES else Label.EFFICACY


_DIVERSION_CATEGORIES = frozenset(
    {
        RuleCategory.CONTACT_WECHAT,
        RuleCategory.CONTACT_QQ,
        RuleCategory.CONTACT_PHONE,
        RuleCategory.CONTACT_OTHER,
        RuleCategory.PRIVATE_DEAL,
    }
)


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return ("low", "medium", "high").index(self.value)


class Action(StrEnum):
    PASS = "pass"
    REMIND = "remind"
    REVIEW = "review"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return ("pass", "remind", "review", "block").index(self.value)


class Layer(StrEnum):
    RULES = "rules"
    MODEL = "model"

    @classmethod
    def parse(cls, value: str | set[str] | frozenset[str] | None) -> frozenset[Layer]:
        """`"rules,model"`, a set of names, or None (both) → a frozenset of layers."""
        if value is None:
            return frozenset(cls)
        names = value.split(",") if isinstance(value, str) else list(value)
        names = [n.strip() for n in names if n.strip()]
        if not names:
            raise ValueError("layers must name at least one of: rules, model")
        try:
            return frozenset(cls(n) for n in names)
        except ValueError:
            raise ValueError(f"unknown layer in {names!r}; choose from: rules, model") from None


class Source(StrEnum):
    RULE = "rule"
    MODEL = "model"


ALL_LAYERS = frozenset(Layer)


@dataclass(frozen=True, slots=True)
class Hit:
    """One finding, with its evidence from the moment it is made.

    `start`/`end` index the original text as received; `matched` is the normalized form
    that fired (a term or a pattern's match), so a reviewer sees why `薇❤信` counted.
    """

    label: Label
    # None for a model-only finding: the classifier knows the label, not the finer category.
    category: RuleCategory | None
    rule: str
    start: int
    end: int
    text: str
    source: Source = Source.RULE
    score: float = 1.0
    severity: Severity = Severity.MEDIUM
    matched: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label.value,
            "category": None if self.category is None else self.category.value,
            "rule": self.rule,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "source": self.source.value,
            "score": round(self.score, 4),
            "severity": self.severity.value,
            "matched": self.matched,
        }


@dataclass(frozen=True, slots=True)
class Reminder:
    rule: str
    message: str
    suggestion: str
    basis: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Scores:
    """The classifier's probabilities per label; None when the model layer did not run."""

    efficacy: float | None = None
    diversion: float | None = None

    def get(self, label: Label) -> float | None:
        return self.efficacy if label is Label.EFFICACY else self.diversion

    def to_dict(self) -> dict[str, float | None]:
        return {
            "efficacy": None if self.efficacy is None else round(self.efficacy, 4),
            "diversion": None if self.diversion is None else round(self.diversion, 4),
        }


@dataclass(frozen=True, slots=True)
class Result:
    id: str | None
    labels: tuple[Label, ...]
    action: Action
    hits: tuple[Hit, ...]
    scores: Scores
    reminders: tuple[Reminder, ...]
    ruleset_version: str
    model_version: str | None
    layers: frozenset[Layer] = field(default_factory=lambda: ALL_LAYERS)
    # Why the outcome moved: exceptions, category applicability, model vetoes, degraded modes.
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "labels": [label.value for label in self.labels],
            "action": self.action.value,
            "hits": [h.to_dict() for h in self.hits],
            "scores": self.scores.to_dict(),
            "reminders": [r.to_dict() for r in self.reminders],
            "ruleset_version": self.ruleset_version,
            "model_version": self.model_version,
            "layers": sorted(layer.value for layer in self.layers),
            "notes": list(self.notes),
        }
