"""Real Chinese text as training data: what people write when they mention the words and what sellers
write when they use them.

The guideline labels the act, not the word: `我微信被封了` is a mention, `加我微信` an offer. Generated
sentences teach the disguises; real sentences teach the model what the trigger words look like in
ordinary writing (reviews, Weibo, news, medical answers, questions, dialogue), so that it can tell a
mention from a claim. The files under `models/data/real/` are samples of public corpora, made by
`python -m models.data.collect` (which names each repository, path and commit in
`models/data/real/SOURCES.md`); none of them is a file or dataset listed in
`../shared/eval/REAL-SOURCES.md`.

How a line is labelled depends on who wrote it:

- **not a seller** (reviews, Weibo, news, medical Q&A, Q&A, dialogue): clean. A consumer's `最好吃`, a
  doctor's `目前没有根治的办法`, a news report of a fine for `全网第一` make no claim and offer no contact.
  A line where a rule pattern finds a number or handle is left out rather than guessed at (a
  review's hotline is a mention, a Weibo ad's is an offer).
- **a seller** (product titles, app and product descriptions): the rule layer's findings, as a
  seller's own copy is judged by the guideline (`美白祛斑霜` is a claim however it is written).
"""

from __future__ import annotations

import gzip
import hashlib
import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REAL_DIR = Path(__file__).resolve().parent / "real"
# Genre (file stem) → whether its writers are sellers speaking of their own goods.
SELLERS = frozenset({"products", "apps"})
# What a real line is cut to, in characters: segments and copy are short.
MIN_CHARS, MAX_CHARS = 8, 60
HELDOUT_PERCENT = 15


@dataclass(frozen=True, slots=True)
class RealLine:
    genre: str
    text: str

    @property
    def seller(self) -> bool:
        return self.genre in SELLERS

    @property
    def heldout(self) -> bool:
        """Held out by a stable hash of the text, as the generated phrase families are."""
        return int(hashlib.md5(self.text.encode()).hexdigest(), 16) % 100 < HELDOUT_PERCENT


@cache
def real_lines() -> tuple[RealLine, ...]:
    """Every committed line, in file order (genre by genre, sorted by name)."""
    lines: list[RealLine] = []
    for path in sorted(REAL_DIR.glob("*.txt.gz")):
        genre = path.name.removesuffix(".txt.gz")
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines.extend(RealLine(genre, line.rstrip("\n")) for line in f if line.strip())
    return tuple(lines)


@cache
def contexts(*, heldout: bool) -> tuple[str, ...]:
    """Non-seller lines of one split: the ordinary text a generated claim may be set in."""
    return tuple(r.text for r in real_lines() if not r.seller and r.heldout == heldout)


# Separators a transcript turns into pauses.
_PUNCT = re.compile(r"[，。！？、；：,.!?;:【】（）()\"“”「」]")


def window(rng: random.Random, text: str, spans: list[tuple[str, int, int]]) -> tuple[str, list[tuple[str, int, int]]]:
    """A piece of MIN..MAX characters of `text` that keeps the first span whole (or any piece when
    there is none); spans cut by the window are dropped with the characters they covered."""
    n = rng.randint(MIN_CHARS, MAX_CHARS)
    if len(text) <= n:
        return text, spans
    lo, hi = 0, len(text) - n
    if spans:
        _, s, e = spans[0]
        lo, hi = max(0, e - n), min(hi, s)
        if lo > hi:
            lo = hi = max(0, min(s, len(text) - n))
    start = rng.randint(lo, hi)
    kept = [(lab, a - start, b - start) for lab, a, b in spans if start <= a and b <= start + n]
    return text[start : start + n], kept


def labelled(
    rng: random.Random, line: RealLine, findings: list[tuple[str, int, int]] | None
) -> tuple[str, tuple[str, ...], tuple[tuple[str, int, int], ...], str] | None:
    """(text, labels, spans, kind) of one training example from a real line; `findings` are the rule
    layer's (label, start, end) on it (None for a non-seller's line: clean). None when too short."""
    spans = sorted(findings or (), key=lambda s: s[1])
    text, spans = window(rng, line.text, spans)
    kind = "copy"
    if rng.random() < 0.5:
        kind = "transcript"
        text = _PUNCT.sub(" ", text)  # one space for one character: spans keep their offsets
    stripped = text.strip()
    if len(stripped) < MIN_CHARS // 2:
        return None
    shift = len(text) - len(text.lstrip())
    spans = [(lab, a - shift, b - shift) for lab, a, b in spans]
    labels = tuple(lab for lab in ("efficacy", "diversion") if any(s[0] == lab for s in spans))
    return stripped, labels, tuple(spans), kind


def pool(rng: random.Random, size: int) -> list[dict]:
    """Unlabelled windows of training-split real lines, for a teacher to read to its student."""
    lines = [r for r in real_lines() if not r.heldout]
    out = []
    for line in rng.sample(lines, min(size, len(lines))):
        got = labelled(rng, line, None)
        if got is not None:
            out.append({"text": got[0], "spans": [], "kind": got[3]})
    return out
