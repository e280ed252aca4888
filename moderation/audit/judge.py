"""One transcript → its findings, judged segment by segment exactly as the live service would.

Every cue goes through the live window of `moderation.streams` (`segment_item` and
`judge_segment`, the two halves of `check_segment`), so a violation said across two cues is found
once, with the first cue's start and the last cue's end. The model is batched: a first pass
through the same windows collects the texts they ask about, one `check_many` judges them
together, and the real pass reads the answers. The window decides what is asked and what is
kept; this module never rebuilds it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from moderation.audit.readers import Cue, Source, StreamMeta, Transcript, TranscriptError, decompress, parse
from moderation.engine import CheckItem, Moderator
from moderation.reminders import reminders_for
from moderation.ruleset.compile import CompiledRuleset
from moderation.ruleset.schema import Rule
from moderation.streams import SegmentResult, StreamWindow, judge_segment, segment_item
from moderation.types import Action, Hit, Kind, Label, Layer, ProductCategory, Result, Scores

# Cues of a .txt file carry no times; the reminder cooldown then runs on ~2 s per ASR segment.
SECONDS_PER_UNTIMED_CUE = 2.0
MODEL_BATCH = 128


@dataclass(frozen=True, slots=True)
class AuditOptions:
    layers: frozenset[Layer] | None = None
    window_segments: int = 3
    cooldown_seconds: float = 60.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": None if self.layers is None else sorted(layer.value for layer in self.layers),
            "window_segments": self.window_segments,
            "cooldown_seconds": self.cooldown_seconds,
        }


def audit_source(
    moderator: Moderator,
    source: Source,
    options: AuditOptions,
    data: bytes | None = None,
    *,
    read_error: str | None = None,
) -> dict[str, Any]:
    """A stream's report (JSON-ready); unreadable files become a report with an error, never raise.

    `data` is the file's raw bytes when they were read elsewhere (a Ray driver), `read_error`
    why reading them there failed; otherwise the file is read here.
    """
    if read_error is not None:
        return stream_report(moderator, source, options, None, [], errors=[read_error])
    try:
        raw = data if data is not None else source.path.read_bytes()
        transcript = parse(decompress(raw, compressed=source.compressed), source.format)
    except (TranscriptError, OSError) as exc:
        return stream_report(moderator, source, options, None, [], errors=[describe_error(exc)])
    findings = audit_transcript(moderator, transcript, category=source.meta.category, options=options)
    return stream_report(moderator, source, options, transcript, findings, errors=list(transcript.problems))


def describe_error(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read: {exc.strerror}"
    return str(exc)


def stream_report(
    moderator: Moderator,
    source: Source,
    options: AuditOptions,
    transcript: Transcript | None,
    findings: list[dict[str, Any]],
    *,
    errors: list[str],
) -> dict[str, Any]:
    meta: StreamMeta = source.meta
    return {
        "stream": source.name,
        "path": str(source.path),
        "fingerprint": source.fingerprint,
        "options": options.to_dict(),
        "streamer": meta.streamer,
        "category": meta.category.value if meta.category else None,
        "format": source.format,
        "encoding": transcript.encoding if transcript else None,
        "duration": transcript.duration if transcript else None,
        "first_start": next((c.start for c in transcript.cues if c.start is not None), None)
        if transcript
        else None,
        "segments": len(transcript.cues) if transcript else 0,
        "chars": sum(len(c.text) for c in transcript.cues) if transcript else 0,
        "findings": findings,
        "errors": [*meta.problems, *errors],
        "readable": transcript is not None,
        "ruleset_version": moderator.ruleset_version,
        "model_version": moderator.model_version if _uses_model(moderator, options) else None,
    }


def _uses_model(moderator: Moderator, options: AuditOptions) -> bool:
    layers = options.layers if options.layers is not None else moderator.available_layers
    return Layer.MODEL in layers


# ---------------------------------------------------------------------------------------------


def audit_transcript(
    moderator: Moderator,
    transcript: Transcript,
    *,
    category: ProductCategory | None,
    options: AuditOptions,
) -> list[dict[str, Any]]:
    cues = transcript.cues
    product = category or ProductCategory.OTHER
    ruleset = moderator.live.current  # one ruleset judges the whole stream
    answers = _batched_answers(moderator, ruleset, cues, product, options)

    spans: list[_Span] = []
    offsets = _offsets(cues)  # stream-wide character offset of every cue, as the window counts
    window: StreamWindow | None = None
    for i, cue in enumerate(cues):
        segment, window = _step(ruleset, window, cue, answers[_question(window, cue)], options)
        _collect(spans, segment, offsets[i])
    return [_finding(span, cues, offsets, ruleset.rules, product) for span in spans]


def _step(
    ruleset: CompiledRuleset, window: StreamWindow | None, cue: Cue, joined: Result, options: AuditOptions
) -> tuple[SegmentResult, StreamWindow]:
    return judge_segment(
        ruleset,
        window,
        cue.text,
        joined,
        kind=Kind.TRANSCRIPT,
        start=cue.start,
        end=cue.end,
        now=cue.start if cue.start is not None else cue.number * SECONDS_PER_UNTIMED_CUE,
        window_segments=options.window_segments,
        cooldown_seconds=options.cooldown_seconds,
    )


def _batched_answers(
    moderator: Moderator,
    ruleset: CompiledRuleset,
    cues: Sequence[Cue],
    category: ProductCategory,
    options: AuditOptions,
) -> dict[str, Result]:
    """The engine's result for every text the window will ask about, the model batched.

    What the window asks depends only on the segments, never on earlier results, so a pass
    with empty results walks the same windows and collects the questions.
    """
    nothing = Result(None, (), Action.PASS, (), Scores(), (), ruleset.version, None)
    questions: dict[tuple[str, int], CheckItem] = {}
    window: StreamWindow | None = None
    for cue in cues:
        item = segment_item(window, cue.text, kind=Kind.TRANSCRIPT, category=category)
        questions.setdefault((item.text, item.model_from), item)
        _, window = _step(ruleset, window, cue, nothing, options)
    keys = list(questions)
    answers: dict[tuple[str, int], Result] = {}
    for i in range(0, len(keys), MODEL_BATCH):
        chunk = keys[i : i + MODEL_BATCH]
        results = moderator.check_many([questions[k] for k in chunk], layers=options.layers)
        answers.update(zip(chunk, results, strict=True))
    return answers


def _question(window: StreamWindow | None, cue: Cue) -> tuple[str, int]:
    item = segment_item(window, cue.text)
    return item.text, item.model_from


def _offsets(cues: Sequence[Cue]) -> list[int]:
    offsets, total = [], 0
    for cue in cues:
        offsets.append(total)
        total += len(cue.text)
    return offsets


@dataclass
class _Span:
    """Words found in the stream, stream-wide [start, end), with every hit and segment on them."""

    start: int
    end: int
    hits: list[Hit]
    action: Action
    sent: set[str]


def _collect(spans: list[_Span], segment: SegmentResult, offset: int) -> None:
    """Add a segment's hits; words that overlap words already found are the same violation.

    The window reports a rule once, but another rule may grow the same words in a later cue
    (`加我` in one cue, `加我微信` once the next arrives): one finding, spanning both cues.
    """
    sent = {r.rule for r in segment.result.reminders}
    for _rule, start, end in segment.grown:
        for span in spans[-8:]:
            if span.start < end and start < span.end:
                span.start, span.end = min(span.start, start), max(span.end, end)
    for hit, earlier in zip(segment.result.hits, segment.earlier, strict=True):
        start = offset - earlier if earlier else offset + hit.start
        end = offset + hit.end
        overlapping = [s for s in spans[-8:] if _same_words(s, start, end, hit)]
        if not overlapping:
            spans.append(_Span(start, end, [hit], segment.result.action, set(sent)))
            continue
        into = overlapping[0]
        for other in overlapping[1:]:
            into.hits += other.hits
            into.sent |= other.sent
            into.start, into.end = min(into.start, other.start), max(into.end, other.end)
            spans.remove(other)
        into.start, into.end = min(into.start, start), max(into.end, end)
        into.hits.append(hit)
        into.sent |= sent
        into.action = max(into.action, segment.result.action, key=lambda a: a.rank)
    spans.sort(key=lambda s: (s.start, s.end))


def _same_words(span: _Span, start: int, end: int, hit: Hit) -> bool:
    if span.start < end and start < span.end:
        return True
    # Words of one label said back to back (`杀菌` `消炎`) are one claim.
    touching = span.end == start or end == span.start
    return touching and any(h.label is hit.label for h in span.hits)


def _finding(
    span: _Span,
    cues: Sequence[Cue],
    offsets: list[int],
    rules: Mapping[str, Rule],
    category: ProductCategory,
) -> dict[str, Any]:
    first = bisect_right(offsets, span.start) - 1
    last = max(first, bisect_right(offsets, span.end - 1) - 1)
    held = cues[first : last + 1]
    sentence = "".join(c.text for c in held)
    local = span.start - offsets[first], span.end - offsets[first]
    main = max(span.hits, key=lambda h: (h.severity.rank, h.score))
    # The reminder for these very words, also when the cooldown held it back in the live service.
    reminder = reminders_for([main], rules)[0]
    labels = [label.value for label in Label if any(h.label is label for h in span.hits)]
    return {
        "start": held[0].start,
        "end": held[-1].end,
        "labels": labels,
        "text": sentence[local[0] : local[1]],
        "cues": [c.number for c in held],
        "rule": main.rule,
        # A model-only hit names its label but no finer category; a rule on the same words does.
        "category": next((h.category.value for h in (main, *span.hits) if h.category is not None), None),
        "severity": main.severity.value,
        "action": span.action.value,
        "source": main.source.value,
        "score": round(main.score, 4),
        "rules": sorted({h.rule for h in span.hits}),
        "reminder": reminder.message,
        "suggestion": reminder.suggestion,
        "basis": reminder.basis,
        # The live service would have sent this reminder, unless its cooldown held it back.
        "reminder_sent": main.rule in span.sent,
        "product_category": category.value,
        "sentence": sentence,
        "span": list(local),
    }
