"""Audit findings against a file of expected violations (the format of streams.expected.jsonl).

A finding matches an expected line when the stream is the same, the labels intersect and the
times overlap (the cues, where a transcript has no times); a line split across cues needs one
finding that covers all of its cues. A finding that matches no line is a false alarm; an
expected line matched by more than one finding was found more than once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def matches(finding: dict[str, Any], expected: dict[str, Any]) -> bool:
    if finding.get("stream") != expected.get("stream"):
        return False
    if not set(finding.get("labels") or ()) & set(expected.get("labels") or ()):
        return False
    f_cues, e_cues = set(finding.get("cues") or ()), set(expected.get("cues") or ())
    if expected.get("split") or len(e_cues) > 1:
        return e_cues <= f_cues
    times = (finding.get("start"), finding.get("end"), expected.get("start"), expected.get("end"))
    if None not in times:
        fs, fe, es, ee = (float(t) for t in times)  # type: ignore[arg-type]
        return fs < ee and es < fe or (fs, fe) == (es, ee)
    return bool(f_cues & e_cues)


def compare(findings: Sequence[dict[str, Any]], expected: Sequence[dict[str, Any]]) -> dict[str, Any]:
    matched_by: list[list[int]] = [[] for _ in expected]
    false_alarms = []
    for i, finding in enumerate(findings):
        hits = [j for j, line in enumerate(expected) if matches(finding, line)]
        for j in hits:
            matched_by[j].append(i)
        if not hits:
            false_alarms.append(finding)
    found = [line for line, by in zip(expected, matched_by, strict=True) if by]
    matching = [i for i in range(len(findings)) if any(i in by for by in matched_by)]
    pairs = _max_matching(matching, matched_by)
    split = [line for line in expected if line.get("split")]
    return {
        "expected": len(expected),
        "found": len(found),
        "split_expected": len(split),
        "split_found": sum(
            1 for line, by in zip(expected, matched_by, strict=True) if by and line.get("split")
        ),
        # Findings that match only lines other findings already account for: one violation
        # reported twice. (Two lines in one cue may each be matched by either of two findings.)
        "found_more_than_once": len(matching) - pairs,
        "findings": len(findings),
        "false_alarms": len(false_alarms),
        "false_alarm_share": round(len(false_alarms) / len(findings), 4) if findings else 0.0,
        "missed": [line for line, by in zip(expected, matched_by, strict=True) if not by],
        "false_alarm_findings": false_alarms,
    }


def _max_matching(findings: list[int], matched_by: list[list[int]]) -> int:
    """Size of a maximum one-to-one pairing of findings with expected lines (augmenting paths)."""
    lines_of: dict[int, list[int]] = {i: [] for i in findings}
    for j, by in enumerate(matched_by):
        for i in by:
            lines_of[i].append(j)
    owner: dict[int, int] = {}

    def claim(i: int, seen: set[int]) -> bool:
        for j in lines_of[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or claim(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(1 for i in findings if claim(i, set()))


def _brief(row: dict[str, Any]) -> str:
    where = (
        f"{row.get('start')}–{row.get('end')}" if row.get("start") is not None else f"cues {row.get('cues')}"
    )
    return f"{row.get('stream')} {where} {','.join(row.get('labels') or [])} {row.get('text')!r}"


def format_comparison(result: dict[str, Any], *, limit: int = 20) -> str:
    lines = [
        f"found {result['found']}/{result['expected']} expected violations "
        f"(split: {result['split_found']}/{result['split_expected']}; "
        f"found more than once: {result['found_more_than_once']})",
        f"false alarms: {result['false_alarms']} of {result['findings']} findings ({result['false_alarm_share']:.1%})",
    ]
    for title, rows in (("missed", result["missed"]), ("false alarms", result["false_alarm_findings"])):
        if rows:
            lines.append(f"{title}:")
            lines.extend(f"  {_brief(r)}" for r in rows[:limit])
            if len(rows) > limit:
                lines.append(f"  … and {len(rows) - limit} more")
    return "\n".join(lines)


def compare_files(findings: Path, expected: Path) -> dict[str, Any]:
    return compare(read_jsonl(findings), read_jsonl(expected))
