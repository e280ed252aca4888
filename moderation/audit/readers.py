"""Archived transcripts (SRT, VTT, JSONL, TXT, plain or gzipped) and their metadata → cues.

Discovery and metadata need the file system and run where the audit is started; `parse` works on
bytes, so a worker on another machine (Ray) reads exactly what a local worker reads.
"""

from __future__ import annotations

import csv
import gzip
import html
import io
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from moderation.types import ProductCategory

FORMATS = ("srt", "vtt", "jsonl", "txt")
MANIFEST_NAMES = ("manifest.jsonl", "manifest.csv")
SIDECAR_SUFFIX = ".meta.json"


class TranscriptError(Exception):
    """A file that cannot be audited; the message says why, the caller names the file."""


class InputError(Exception):
    """A path given on the command line that cannot be used at all (missing, nothing to audit)."""


@dataclass(frozen=True, slots=True)
class Cue:
    """One ASR segment. `number` is 1-based: the cue's position, or the line number for JSONL/TXT."""

    number: int
    start: float | None
    end: float | None
    text: str


@dataclass(frozen=True, slots=True)
class StreamMeta:
    streamer: str | None = None
    category: ProductCategory | None = None
    # Where the metadata came from, or why it was not used: shown in the summary's errors.
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Source:
    """A transcript file found under a PATH given, named relative to that PATH."""

    path: Path
    name: str
    format: str
    compressed: bool
    size: int
    mtime_ns: int
    meta: StreamMeta

    @property
    def fingerprint(self) -> str:
        # A finished result is reused by --resume only for the same bytes it was made from.
        return f"{self.size}:{self.mtime_ns}"


@dataclass(frozen=True, slots=True)
class Transcript:
    cues: tuple[Cue, ...]
    encoding: str
    # Lines that could not be read in an otherwise readable file: reported, the rest is audited.
    problems: tuple[str, ...] = ()

    @property
    def duration(self) -> float | None:
        times = [(c.start, c.end) for c in self.cues if c.start is not None and c.end is not None]
        if not times:
            return None
        return round(max(e for _, e in times) - min(s for s, _ in times), 3)


# ---------------------------------------------------------------------------------------------
# Discovery


def format_of(path: Path) -> tuple[str, bool] | None:
    """`a.srt` → ("srt", False), `a.vtt.gz` → ("vtt", True); None for files that are not transcripts."""
    name = path.name.lower()
    if name in MANIFEST_NAMES or name.endswith(SIDECAR_SUFFIX) or name.startswith("."):
        return None
    compressed = name.endswith(".gz")
    if compressed:
        name = name[:-3]
    suffix = name.rsplit(".", 1)[-1] if "." in name else ""
    return (suffix, compressed) if suffix in FORMATS else None


def discover(paths: Iterable[Path], *, exclude: Iterable[Path] = ()) -> list[Source]:
    """Every transcript under the given files and directories (recursive), sorted by name.

    A stream is named by its path relative to the PATH given (a file given directly is named by
    its file name). Raises InputError for a path that does not exist, is not a transcript, or
    when two inputs would give the same stream name.
    """
    excluded = [p.resolve() for p in exclude]
    sources: dict[str, Source] = {}
    for given in paths:
        if not given.exists():
            raise InputError(f"{given}: no such file or directory")
        if given.is_file():
            if format_of(given) is None:
                raise InputError(f"{given}: not a transcript (.srt .vtt .jsonl .txt, optionally .gz)")
            found = [(given, given.name)]
        else:
            found = [
                (p, p.relative_to(given).as_posix())
                for p in sorted(given.rglob("*"))
                if p.is_file()
                and format_of(p) is not None
                and not _is_excluded(p, excluded)
                and not any(part.startswith(".") for part in p.relative_to(given).parts)
            ]
        manifests = _ManifestCache()
        for path, name in found:
            if name in sources and sources[name].path.resolve() != path.resolve():
                raise InputError(
                    f"two inputs give the same stream name {name!r}: {sources[name].path} and {path}"
                )
            fmt, compressed = format_of(path)  # type: ignore[misc]
            stat = path.stat()
            sources[name] = Source(
                path=path,
                name=name,
                format=fmt,
                compressed=compressed,
                size=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
                meta=read_meta(path, manifests=manifests),
            )
    return [sources[k] for k in sorted(sources)]


def _is_excluded(path: Path, excluded: list[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(e) for e in excluded)


# ---------------------------------------------------------------------------------------------
# Metadata: `<stream>.meta.json` beside the file, else the nearest `manifest.jsonl|csv` above it.


def sidecar_paths(path: Path) -> list[Path]:
    """`show.srt.gz` → `show.meta.json`, then `show.srt.meta.json`."""
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    stem = name.rsplit(".", 1)[0]
    return [path.with_name(stem + SIDECAR_SUFFIX), path.with_name(name + SIDECAR_SUFFIX)]


class _ManifestCache:
    """Manifests read once per directory: {directory: {relative stream path: record} or error}."""

    def __init__(self) -> None:
        self._by_dir: dict[Path, tuple[dict[str, dict[str, str]], str | None] | None] = {}

    def lookup(self, path: Path) -> tuple[dict[str, str] | None, str | None]:
        for directory in path.resolve().parents:
            entry = self._load(directory)
            if entry is None:
                continue
            records, error = entry
            if error:
                return None, error
            rel = path.resolve().relative_to(directory).as_posix()
            for key in (rel, rel[:-3] if rel.endswith(".gz") else None, path.name):
                if key and key in records:
                    return records[key], None
        return None, None

    def _load(self, directory: Path) -> tuple[dict[str, dict[str, str]], str | None] | None:
        if directory not in self._by_dir:
            self._by_dir[directory] = _read_manifest(directory)
        return self._by_dir[directory]


def _read_manifest(directory: Path) -> tuple[dict[str, dict[str, str]], str | None] | None:
    for name in MANIFEST_NAMES:
        path = directory / name
        if not path.is_file():
            continue
        try:
            text = decode(path.read_bytes())[0]
            if name.endswith(".csv"):
                rows: list[dict[str, str]] = list(csv.DictReader(io.StringIO(text)))
            else:
                rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            records = {}
            for i, row in enumerate(rows, 1):
                if not isinstance(row, dict) or not row.get("stream"):
                    raise ValueError(f"record {i} has no 'stream'")
                records[str(row["stream"])] = {k: str(v) for k, v in row.items() if v is not None}
            return records, None
        except (OSError, ValueError, TranscriptError, csv.Error) as exc:
            return {}, f"manifest {path}: {exc}"
    return None


def read_meta(path: Path, *, manifests: _ManifestCache | None = None) -> StreamMeta:
    record: dict[str, str] | None = None
    problems: list[str] = []
    for sidecar in sidecar_paths(path):
        if sidecar.is_file():
            try:
                loaded = json.loads(decode(sidecar.read_bytes())[0])
                if not isinstance(loaded, dict):
                    raise ValueError("not a JSON object")
                record = {k: str(v) for k, v in loaded.items() if v is not None}
            except (OSError, ValueError, TranscriptError) as exc:
                problems.append(f"metadata {sidecar.name}: {exc}")
            break
    if record is None and not problems:
        record, error = (manifests or _ManifestCache()).lookup(path)
        if error:
            problems.append(error)
    if not record:
        return StreamMeta(problems=tuple(problems))
    category = None
    raw_category = (record.get("category") or "").strip()
    if raw_category:
        try:
            category = ProductCategory(raw_category)
        except ValueError:
            choices = " ".join(c.value for c in ProductCategory)
            problems.append(f"metadata: unknown product category {raw_category!r} (one of: {choices})")
    streamer = (record.get("streamer") or "").strip() or None
    return StreamMeta(streamer=streamer, category=category, problems=tuple(problems))


# ---------------------------------------------------------------------------------------------
# Bytes → text


def decode(data: bytes) -> tuple[str, str]:
    """Bytes → (text, encoding name): a BOM decides, else strict UTF-8, else GB18030 (GBK's superset).

    Anything else (binary data, another legacy encoding) raises TranscriptError rather than
    auditing mojibake, which would find nothing and look clean.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        if b"\x00" in data:
            raise TranscriptError("binary data (NUL bytes), not a text transcript")
        candidates = ["utf-8", "gb18030"]
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text) and (encoding != "gb18030" or _looks_like_chinese(text)):
            return text, "gbk" if encoding == "gb18030" else encoding
    raise TranscriptError("cannot decode: neither UTF-8 (with or without BOM), UTF-16 with BOM nor GBK")


# Control characters (other than line breaks and tabs) and private-use code points.
_ODD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ue000-\uf8ff]")


def _looks_like_text(text: str) -> bool:
    # GB18030 decodes many random byte strings; real transcripts are mostly CJK, ASCII and spaces.
    return not text or len(_ODD.findall(text)) / len(text) < 0.01


def _looks_like_chinese(text: str) -> bool:
    # Other legacy encodings (Shift-JIS, Big5) also decode as GB18030, but largely into rare
    # characters outside GB2312, which real GBK transcripts hardly use.
    rare = text.encode("gb2312", errors="replace").count(b"?") - text.count("?")
    return not text or rare / len(text) <= 0.1


def decompress(raw: bytes, *, compressed: bool) -> bytes:
    """Gunzip when the name says `.gz` or the bytes start with gzip's magic number."""
    if compressed or raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise TranscriptError(f"corrupt gzip data: {exc}") from None
    return raw


def read_bytes(path: Path, *, compressed: bool) -> bytes:
    return decompress(path.read_bytes(), compressed=compressed)


def parse(data: bytes, fmt: str) -> Transcript:
    """Transcript bytes (already decompressed) of a format → cues. Raises TranscriptError."""
    text, encoding = decode(data)
    if not text.strip():
        raise TranscriptError("empty file: no cues")
    cues, problems = _PARSERS[fmt](text)
    if not cues:
        detail = f": {problems[0]}" if problems else ""
        raise TranscriptError(f"no readable cues in this {fmt.upper()} file{detail}")
    return Transcript(cues=tuple(cues), encoding=encoding, problems=tuple(problems))


def read_source(source: Source) -> Transcript:
    try:
        data = read_bytes(source.path, compressed=source.compressed)
    except OSError as exc:
        raise TranscriptError(f"cannot read: {exc.strerror or exc}") from None
    return parse(data, source.format)


# ---------------------------------------------------------------------------------------------
# Formats

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_ARROW = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_TAG = re.compile(r"<[^>]*>")
_Parsed = tuple[list[Cue], list[str]]


def _seconds(h: str | None, m: str, s: str, frac: str) -> float:
    return round(int(h or 0) * 3600 + int(m) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000, 3)


def _blocks(text: str) -> Iterator[list[str]]:
    block: list[str] = []
    for line in text.splitlines():
        if line.strip():
            block.append(line.strip())
        elif block:
            yield block
            block = []
    if block:
        yield block


def _timed_cues(text: str, *, vtt: bool) -> _Parsed:
    cues: list[Cue] = []
    problems: list[str] = []
    for block in _blocks(text):
        if vtt and (block[0].startswith(("WEBVTT", "NOTE", "STYLE", "REGION"))):
            continue
        timing = next((i for i, line in enumerate(block[:2]) if "-->" in line), None)
        match = _ARROW.match(block[timing]) if timing is not None else None
        if match is None:
            problems.append(f"cue {len(cues) + 1}: no valid 'start --> end' line ({block[0][:40]!r})")
            continue
        g = match.groups()
        start, end = _seconds(*g[:4]), _seconds(*g[4:])
        lines = block[timing + 1 :]  # type: ignore[operator]
        words = " ".join(html.unescape(_TAG.sub("", line)) if vtt else _TAG.sub("", line) for line in lines)
        cues.append(Cue(number=len(cues) + 1, start=start, end=end, text=words.strip()))
    return cues, problems


def parse_srt(text: str) -> _Parsed:
    return _timed_cues(text, vtt=False)


def parse_vtt(text: str) -> _Parsed:
    if not text.lstrip().startswith("WEBVTT"):
        return [], ["missing the WEBVTT header"]
    return _timed_cues(text, vtt=True)


def parse_jsonl(text: str) -> _Parsed:
    cues: list[Cue] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise ValueError("expected an object with a string 'text'")
            start = None if row.get("start") is None else float(row["start"])
            end = None if row.get("end") is None else float(row["end"])
        except (ValueError, TypeError) as exc:
            problems.append(f"line {number}: {exc}")
            continue
        cues.append(Cue(number=number, start=start, end=end, text=row["text"]))
    return cues, problems


def parse_txt(text: str) -> _Parsed:
    cues = [
        Cue(number=number, start=None, end=None, text=line.strip())
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip()
    ]
    return cues, []


_PARSERS = {"srt": parse_srt, "vtt": parse_vtt, "jsonl": parse_jsonl, "txt": parse_txt}
