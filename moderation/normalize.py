"""Undo what evaders and ASR do to text, keeping a map from every normalized char to the original.

(First slice: width, case and invisible characters. The full pass is being written.)
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """`text[i]` came from `original[starts[i]:ends[i]]`."""

    original: str
    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalized span [start, end) to the original span that produced it."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"span {start}:{end} outside normalized text of length {len(self.text)}")
        return self.starts[start], self.ends[end - 1]


_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"}


def normalize(original: str) -> NormalizedText:
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, ch in enumerate(original):
        if ch in _INVISIBLE:
            continue
        for c in unicodedata.normalize("NFKC", ch).lower():
            out.append(c)
            starts.append(i)
            ends.append(i + 1)
    return NormalizedText(original, "".join(out), tuple(starts), tuple(ends))
