"""Same-sound spellings of rule terms, the way ASR mis-hears them (根治 → 跟治, 降血糖 → 将血糖).

ASR writes a violating word as another common character with the same sound. Listing each typo by
hand does not generalize, so the rule compiler can expand every term into its one-character
homophone variants:

    homophone_variants("根治")    -> {"跟治", "根知", "根之", ...}
    expand_terms(["根治", "降糖"]) -> {"跟治": "根治", ..., "将糖": "降糖", ...}   (no 姜糖)

A variant replaces exactly ONE Han character of the term by a *common* character (GB2312 level 1,
the 3,755 most common characters) with the same toneless pinyin. The term's own reading is taken
in context (pypinyin's phrase dictionary: 降 in 降血糖 is jiang, 长 in 长高 is zhang). A common
character is listed under each reading it has in at least 10 % of its uses, weighted by the word
frequencies of jieba's dictionary, so 长 sits under chang and zhang but 的 only under de.

Guard against false variants: a variant that jieba's dictionary knows — as a word (降糖 → 姜糖,
微信 → 维新) or as the prefix of a longer word — is dropped, because then it is ordinary text and
not a mis-hearing. Latin letters and digits are never replaced, and a term with fewer than two Han
characters never expands.

The pinyin → characters table is a small generated file, ``data/homophone_chars.json``, loaded on
first use. Rebuild it (deterministic; needs only jieba and pypinyin) with

    python -m moderation.ruleset.homophones --build
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pypinyin import Style, lazy_pinyin

DATA_FILE = Path(__file__).with_name("data") / "homophone_chars.json"

DEFAULT_MAX_VARIANTS = 24
# A reading of a common character is indexed when it covers this share of the character's uses.
READING_SHARE = 0.10
# A variant whose jieba frequency reaches this is a real word (0: any entry, prefixes included).
MIN_WORD_FREQ = 0

_TABLE: dict[str, tuple[str, ...]] | None = None
_TABLE_LOCK = threading.Lock()
_LEXICON: Mapping[str, int] | None = None
_LEXICON_LOCK = threading.Lock()


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _table() -> dict[str, tuple[str, ...]]:
    """pinyin (toneless) → common characters with that reading, most frequent first."""
    global _TABLE
    if _TABLE is None:
        with _TABLE_LOCK:
            if _TABLE is None:
                raw = json.loads(DATA_FILE.read_text(encoding="utf-8"))
                _TABLE = {py: tuple(chars) for py, chars in raw["buckets"].items()}
    return _TABLE


def _default_lexicon() -> Mapping[str, int]:
    """jieba's word → frequency map (prefixes of words are present with frequency 0).

    Shares the rule compiler's tokenizer so a process holds one jieba dictionary.
    """
    global _LEXICON
    if _LEXICON is None:
        with _LEXICON_LOCK:
            if _LEXICON is None:
                try:
                    from moderation.ruleset.compile import jieba_tokenizer

                    _LEXICON = jieba_tokenizer().FREQ
                except ImportError:  # pragma: no cover - compile.py always ships it today
                    import jieba

                    jieba.dt.check_initialized()
                    _LEXICON = jieba.dt.FREQ
    return _LEXICON


@lru_cache(maxsize=8192)
def _readings(run: str) -> tuple[str, ...] | None:
    """Toneless reading of each character of a Han run, in context; None if not one per char."""
    out = lazy_pinyin(run, style=Style.NORMAL, errors="ignore")
    if len(out) != len(run) or not all(out):
        return None
    return tuple(out)


def readings(term: str) -> list[str | None]:
    """Toneless reading per character of term, in context; None for anything not a Han character."""
    result: list[str | None] = [None] * len(term)
    i = 0
    while i < len(term):
        if not _is_han(term[i]):
            i += 1
            continue
        j = i
        while j < len(term) and _is_han(term[j]):
            j += 1
        run = _readings(term[i:j])
        if run is not None:
            result[i:j] = run
        i = j
    return result


def common_readings(ch: str) -> tuple[str, ...]:
    """The toneless readings a Han character has in at least READING_SHARE of its uses (长: chang,
    zhang; 癌: ai only), its dictionary reading for a character outside the common table; () for
    anything that is not a Han character."""
    if not _is_han(ch):
        return ()
    found = _readings_by_char().get(ch)
    if found is None:
        default = lazy_pinyin(ch, style=Style.NORMAL, errors="ignore")
        found = tuple(default[:1]) if default and default[0] else ()
    return found


@lru_cache(maxsize=1)
def _readings_by_char() -> dict[str, tuple[str, ...]]:
    by_char: dict[str, list[str]] = defaultdict(list)
    for reading, chars in sorted(_table().items()):
        for ch in chars:
            by_char[ch].append(reading)
    return {ch: tuple(r) for ch, r in by_char.items()}


def read_as(reading: str) -> tuple[str, ...]:
    """The common characters with this toneless reading, most frequent first."""
    return _table().get(reading, ())


def _column(
    term: str, i: int, chars: tuple[str, ...], lex: Mapping[str, int], min_word_freq: int
) -> Iterator[str]:
    head, own, tail = term[:i], term[i], term[i + 1 :]
    for ch in chars:
        if ch == own:
            continue
        variant = head + ch + tail
        freq = lex.get(variant)
        if freq is None or freq < min_word_freq:
            yield variant


def homophone_variants(
    term: str,
    *,
    max_variants: int = DEFAULT_MAX_VARIANTS,
    lexicon: Mapping[str, int] | None = None,
    min_word_freq: int = MIN_WORD_FREQ,
) -> frozenset[str]:
    """Spellings of term with exactly one Han character swapped for a common homophone.

    Excluded: the term itself, variants jieba knows as a word or word prefix (frequency >=
    min_word_freq in lexicon, jieba's FREQ by default), changes to Latin letters or digits, and
    every variant of a term with fewer than two Han characters. At most max_variants are
    returned, chosen round-robin over the term's positions, the most frequent replacement
    character first, so every position gets its likeliest mis-hearings.
    """
    if max_variants <= 0:
        return frozenset()
    term_readings = readings(term)
    positions = [i for i, r in enumerate(term_readings) if r is not None]
    if sum(1 for ch in term if _is_han(ch)) < 2 or not positions:
        return frozenset()
    table = _table()
    lex = _default_lexicon() if lexicon is None else lexicon

    # One lazy column per position, each in the table's frequency order; deal them round-robin
    # so the cap takes every position's likeliest mis-hearings and no column is built in full.
    columns = [_column(term, i, table.get(term_readings[i] or "", ()), lex, min_word_freq) for i in positions]
    out: list[str] = []
    while columns and len(out) < max_variants:
        alive = []
        for column in columns:
            variant = next(column, None)
            if variant is None:
                continue
            alive.append(column)
            out.append(variant)
            if len(out) >= max_variants:
                break
        columns = alive
    return frozenset(out)


def expand_terms(
    terms: Iterable[str],
    *,
    max_variants: int = DEFAULT_MAX_VARIANTS,
    lexicon: Mapping[str, int] | None = None,
) -> dict[str, str]:
    """Every homophone variant of terms → the term it came from.

    A variant two terms share goes to the first of them in sorted order; a variant that is itself
    one of the terms is dropped. The result is sorted by variant, so it is deterministic.
    """
    sources = sorted(set(terms))
    source_set = set(sources)
    result: dict[str, str] = {}
    for term in sources:
        for variant in homophone_variants(term, max_variants=max_variants, lexicon=lexicon):
            if variant not in source_set and variant not in result:
                result[variant] = term
    return dict(sorted(result.items()))


# --------------------------------------------------------------------------- data file builder


def _gb2312_level1() -> list[str]:
    """The 3,755 level-1 characters of GB2312 (the common characters), in code order."""
    chars = []
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            if hi == 0xD7 and lo > 0xF9:
                break
            chars.append(bytes([hi, lo]).decode("gb2312"))
    return chars


def build_table() -> dict[str, Any]:
    """Index the common characters by reading, weighting each reading by jieba word frequency."""
    import jieba

    common = set(_gb2312_level1())
    dict_path = Path(jieba.__file__).with_name("dict.txt")
    weight: dict[tuple[str, str], int] = defaultdict(int)
    with dict_path.open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 2:
                continue
            word, freq = parts[0], int(parts[1])
            if freq <= 0 or not all(_is_han(c) for c in word):
                continue
            if not any(c in common for c in word):
                continue
            readings = lazy_pinyin(word, style=Style.NORMAL, errors="ignore")
            if len(readings) != len(word):
                continue
            for ch, reading in zip(word, readings, strict=True):
                if ch in common and reading:
                    weight[ch, reading] += freq
    total: dict[str, int] = defaultdict(int)
    by_char: dict[str, dict[str, int]] = defaultdict(dict)
    for (ch, reading), w in weight.items():
        total[ch] += w
        by_char[ch][reading] = w
    buckets: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for ch in sorted(common):
        default = lazy_pinyin(ch, style=Style.NORMAL, errors="ignore")
        keep = {r for r, w in by_char[ch].items() if w >= READING_SHARE * total[ch]}
        if default and default[0]:
            keep.add(default[0])
        for reading in keep:
            buckets[reading].append((weight.get((ch, reading), 0), ch))
    return {
        "about": "pinyin (toneless) -> GB2312 level-1 characters with that reading, most frequent "
        "first (jieba dict.txt word frequencies); generated by "
        "python -m moderation.ruleset.homophones --build",
        "reading_share": READING_SHARE,
        "buckets": {
            reading: "".join(ch for _w, ch in sorted(items, key=lambda t: (-t[0], t[1])))
            for reading, items in sorted(buckets.items())
        },
    }


def main(argv: list[str] | None = None) -> int:
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m moderation.ruleset.homophones")
    parser.add_argument("--build", action="store_true", help=f"regenerate {DATA_FILE.name}")
    parser.add_argument("terms", nargs="*", help="terms to expand and print")
    args = parser.parse_args(argv)
    if args.build:
        data = build_table()
        DATA_FILE.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, ensure_ascii=False, indent=0, sort_keys=True)
        DATA_FILE.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {DATA_FILE} ({len(data['buckets'])} readings)")
    for term in args.terms:
        start = time.perf_counter()
        variants = sorted(homophone_variants(term))
        ms = (time.perf_counter() - start) * 1000
        print(f"{term} ({len(variants)}, {ms:.1f} ms): {' '.join(variants)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
