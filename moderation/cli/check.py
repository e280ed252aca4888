"""`moderation check`: one text, human-readable or --json; or JSONL on stdin → JSONL on stdout."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

from moderation.cli.common import add_layers_option, moderator_for, parse_layers
from moderation.engine import CheckItem, Moderator
from moderation.types import Kind, Layer, ProductCategory, Result

BATCH = 64


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("check", help="check one text, or JSONL lines from stdin with --json")
    p.add_argument("text", nargs="?", help="the text to check; omit it with --json to read JSONL from stdin")
    p.add_argument("--kind", choices=[k.value for k in Kind], default=Kind.TRANSCRIPT.value)
    p.add_argument("--category", choices=[c.value for c in ProductCategory], default=ProductCategory.OTHER.value)
    add_layers_option(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON (one line per input)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moderation.cli.main import CliError

    layers = parse_layers(args.layers)
    if args.text is None and not args.json:
        raise CliError("give a TEXT to check, or --json to read JSONL from stdin")
    if args.text is not None and not args.text.strip():
        raise CliError("the text is empty")
    moderator = moderator_for(layers)
    if args.text is None:
        return _jsonl(moderator, layers)
    result = moderator.check(args.text, kind=Kind(args.kind), category=ProductCategory(args.category), layers=layers)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        _show(args.text, result)
    return 0


def _jsonl(moderator: Moderator, layers: frozenset[Layer] | None) -> int:
    """One output line per input line, in order; a bad line gets an error line, and exit status 1."""
    failed = False
    pending: list[tuple[int, CheckItem | dict[str, Any]]] = []
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        item = _parse_line(line, number)
        failed |= isinstance(item, dict)
        pending.append((number, item))
        if len(pending) >= BATCH:
            _flush(moderator, pending, layers)
            pending = []
    _flush(moderator, pending, layers)
    return 1 if failed else 0


def _parse_line(line: str, number: int) -> CheckItem | dict[str, Any]:
    raw: Any = None
    try:
        raw = json.loads(line)
        if not isinstance(raw, dict) or not isinstance(raw.get("text"), str) or not raw["text"].strip():
            raise ValueError('each line needs a non-empty "text" string')
        return CheckItem(
            text=raw["text"],
            kind=Kind(raw.get("kind", "transcript")),
            category=ProductCategory(raw.get("category", "other")),
            id=None if raw.get("id") is None else str(raw["id"]),
        )
    except ValueError as exc:  # json.JSONDecodeError is a ValueError too
        message = f"line {number}: {exc}"
        print(f"moderation check: {message}", file=sys.stderr)
        ident = raw.get("id") if isinstance(raw, dict) else None
        return {"id": ident, "error": {"code": "bad_input", "message": message}}


def _flush(moderator: Moderator, pending: list[tuple[int, CheckItem | dict[str, Any]]],
           layers: frozenset[Layer] | None) -> None:
    items = [item for _, item in pending if isinstance(item, CheckItem)]
    results = iter(moderator.check_many(items, layers=layers))
    for _, item in pending:
        out = next(results).to_dict() if isinstance(item, CheckItem) else item
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _show(text: str, result: Result) -> None:
    console = Console(highlight=False)
    marked = Text(text)
    for hit in result.hits:
        marked.stylize("bold white on red" if hit.label.value == "diversion" else "bold black on yellow",
                       hit.start, hit.end)
    console.print(marked)
    verdict = ", ".join(label.value for label in result.labels) or "clean"
    console.print(f"[bold]{verdict}[/bold]  action: [bold]{result.action.value}[/bold]  "
                  f"scores: {result.scores.to_dict()}")
    for hit in result.hits:
        category = hit.category.value if hit.category else "-"
        console.print(f"  [{hit.start}:{hit.end}] “{hit.text}”  {hit.label.value}/{category}  "
                      f"rule {hit.rule}  ({hit.source.value}, {hit.score:.2f})")
    for reminder in result.reminders:
        console.print(f"  提醒: {reminder.message}")
        if reminder.suggestion:
            console.print(f"    建议: {reminder.suggestion}")
        console.print(f"    依据: {reminder.basis}")
    for note in result.notes:
        console.print(f"  [dim]note: {note}[/dim]")
    console.print(f"  [dim]ruleset {result.ruleset_version}, model {result.model_version}[/dim]")
