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

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {label.value: score.to_dict() for label, score in self.labels.items()}
        out["clean_fpr"] = round(self.clean_fpr, 3)
        out["span_recall"] = None if self.span_recall is None else round(self.span_recall, 3)
        out["items"] = self.items
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


def score(gold: Sequence[GoldItem], results: Sequence[Result]) -> Report:
    pairs = list(zip(gold, results, strict=True))
    labels = {label: _label_score(pairs, label) for label in Label}
    clean = [(g, r) for g, r in pairs if not g.labels]
    flagged = sum(1 for _, r in clean if r.labels)
    errors = tuple((g, r) for g, r in pairs if set(r.labels) != g.labels)
    return Report(labels, flagged / len(clean) if clean else 0.0, _span_recall(pairs), len(pairs), errors)


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
