"""Rules-only check() on one core vs a naive substring scan and one compiled `re` alternation."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

from bench.corpus import product_copy, review_segments, segments
from moderation.engine import Moderator, build_moderator
from moderation.normalize import normalize
from moderation.settings import Settings
from moderation.types import Kind, Layer

RULES = frozenset({Layer.RULES})


def _rate(fn: Callable[[str], object], texts: Sequence[str]) -> tuple[float, float]:
    """(items/s, MiB/s) of fn over texts, best of two passes."""
    mib = sum(len(t.encode("utf-8")) for t in texts) / 2**20
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        for t in texts:
            fn(t)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best, mib / best


def _terms(moderator: Moderator) -> list[str]:
    return sorted({normalize(t).text for r in moderator.live.current.rules.values() for t in r.terms})


def run() -> str:
    moderator = build_moderator(Settings(rules_only=True))
    terms = _terms(moderator)
    alternation = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)))
    corpora = {"segments (5–40 chars)": segments(200_000), "product copy (~1,500 chars)": product_copy(1_200)}
    reviews = review_segments(200_000)
    if reviews:
        corpora["real review sentences cut to 5–40 chars"] = reviews
    ways: dict[str, Callable[[str], object]] = {
        "moderation check(), rules only, normalization included": lambda t: moderator.check(t, layers=RULES),
        "copy check() (kind=copy)": lambda t: moderator.check(t, kind=Kind.COPY, layers=RULES),
        "baseline: naive `[t for t in terms if t in text]`": lambda t: [x for x in terms if x in t],
        "baseline: one compiled `re` alternation": alternation.findall,
    }
    lines = [f"### Rule layer, one core ({len(terms)} distinct normalized terms)", "",
             "| corpus | method | items/s | MiB/s | × naive |", "|---|---|---|---|---|"]
    for corpus_name, texts in corpora.items():
        rates = {name: _rate(fn, texts) for name, fn in ways.items()
                 if not (name.startswith("copy") and not corpus_name.startswith("product"))}
        naive = rates["baseline: naive `[t for t in terms if t in text]`"][0]
        mib = sum(len(t.encode()) for t in texts) / 2**20
        for name, (items, speed) in rates.items():
            lines.append(f"| {corpus_name}, {mib:.1f} MiB | {name} | {items:,.0f} | {speed:.2f} | {items / naive:.1f} |")
    return "\n".join(lines)
