"""Precision, recall and F1 per label against a labelled JSONL set (the format of the dev set)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moderation.engine import CheckItem, Moderator
from moderation.types import Kind, Label, Layer, ProductCategory, Result


class EvalFileError(ValueError):
    """The labelled file cannot be read; the message names the line."""


@dataclass(frozen=True, slots=True)
class GoldItem:
    id: str
    text: str
    kind: Kind
    category: ProductCategory
    labels: frozenset[Label]
    spans: tuple[tuple[Label, str], ...] = ()
    note: str = ""
    source: str = ""  # where the text comes from (`owner/repo:path@commit`, a web address); may be empty

    @property
    def origin(self) -> str:
        """The source's repository or web site, the unit figures are broken down by."""
        if "://" in self.source:
            return "web"
        return self.source.split(":", 1)[0] if self.source else ""


@dataclass(frozen=True, slots=True)
class LabelScore:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"precision": round(self.precision, 3), "recall": round(self.recall, 3),
                "f1": round(self.f1, 3), "tp": self.tp, "fp": self.fp, "fn": self.fn}


@dataclass(frozen=True, slots=True)
class Report:
    labels: dict[Label, LabelScore]
    clean_fpr: float
    span_recall: float | None
    items: int
    errors: tuple[tuple[GoldItem, Result], ...] = field(default=())
    # The same figures per origin (GoldItem.origin), when the file names more than one.
    by_origin: dict[str, Report] = field(default_factory=dict)

    @property
    def macro_f1(self) -> float:
        return sum(s.f1 for s in self.labels.values()) / len(self.labels)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {label.value: score.to_dict() for label, score in self.labels.items()}
        out["macro_f1"] = round(self.macro_f1, 3)
        out["clean_fpr"] = round(self.clean_fpr, 3)
        out["span_recall"] = None if self.span_recall is None else round(self.span_recall, 3)
        out["items"] = self.items
        if self.by_origin:
            out["by_origin"] = {k: v.to_dict() for k, v in self.by_origin.items()}
        return out


def load_gold(path: Path) -> list[GoldItem]:
    items: list[GoldItem] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                items.append(_gold_item(line, number, path))
    if not items:
        raise EvalFileError(f"{path}: no labelled items")
    return items


def _gold_item(line: str, number: int, path: Path) -> GoldItem:
    try:
        raw = json.loads(line)
        return GoldItem(
            id=str(raw["id"]),
            text=raw["text"],
            kind=Kind(raw.get("kind", "transcript")),
            category=ProductCategory(raw.get("category", "other")),
            labels=frozenset(Label(x) for x in raw.get("labels", [])),
            spans=tuple((Label(s["label"]), s["text"]) for s in raw.get("spans", [])),
            note=raw.get("note", ""),
            source=str(raw.get("source", "")),
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise EvalFileError(f"{path}:{number}: {exc}") from None


def evaluate(moderator: Moderator, gold: Sequence[GoldItem], *, layers: frozenset[Layer] | None,
             batch: int = 64) -> Report:
    results: list[Result] = []
    for i in range(0, len(gold), batch):
        chunk = gold[i:i + batch]
        results += moderator.check_many([CheckItem(g.text, g.kind, g.category, g.id) for g in chunk],
                                        layers=layers)
    return score(gold, results)


def score(gold: Sequence[GoldItem], results: Sequence[Result], *, by_origin: bool = True) -> Report:
    pairs = list(zip(gold, results, strict=True))
    labels = {label: _label_score(pairs, label) for label in Label}
    clean = [(g, r) for g, r in pairs if not g.labels]
    flagged = sum(1 for _, r in clean if r.labels)
    errors = tuple((g, r) for g, r in pairs if set(r.labels) != g.labels)
    origins = sorted({g.origin for g in gold})
    parts = {}
    if by_origin and len(origins) > 1:
        for origin in origins:
            mine = [(g, r) for g, r in pairs if g.origin == origin]
            parts[origin or "(none)"] = score([g for g, _ in mine], [r for _, r in mine], by_origin=False)
    return Report(labels, flagged / len(clean) if clean else 0.0, _span_recall(pairs), len(pairs), errors, parts)


def _label_score(pairs: Iterable[tuple[GoldItem, Result]], label: Label) -> LabelScore:
    tp = fp = fn = 0
    for g, r in pairs:
        want, got = label in g.labels, label in r.labels
        tp += want and got
        fp += got and not want
        fn += want and not got
    return LabelScore(tp, fp, fn)


def _span_recall(pairs: Iterable[tuple[GoldItem, Result]]) -> float | None:
    """A gold span is found when a hit of its label overlaps its first occurrence (as score.py)."""
    found = total = 0
    for g, r in pairs:
        for label, span_text in g.spans:
            start = g.text.find(span_text)
            if start < 0:
                continue
            end = start + len(span_text)
            total += 1
            found += any(h.label is label and h.start < end and h.end > start for h in r.hits)
    return found / total if total else None
