"""`moderation eval FILE.jsonl`: per-label precision, recall and F1, clean false-positive rate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from moderation.cli.common import add_layers_option, moderator_for, parse_layers
from moderation.evaluate import EvalFileError, LabelScore, Report, evaluate, load_gold
from moderation.types import Label


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="precision/recall/F1 per label against a labelled JSONL file")
    p.add_argument("file", type=Path)
    add_layers_option(p)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--errors", action="store_true", help="also list every misjudged item")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moderation.cli.main import CliError

    layers = parse_layers(args.layers)
    if not args.file.is_file():
        raise CliError(f"{args.file}: no such file")
    try:
        gold = load_gold(args.file)
    except (EvalFileError, UnicodeDecodeError) as exc:
        raise CliError(str(exc)) from None
    report = evaluate(moderator_for(layers), gold, layers=layers)
    print(json.dumps(report.to_dict(), ensure_ascii=False) if args.json else _table(report))
    if args.errors:
        _print_errors(report)
    return 0


def _table(report: Report) -> str:
    lines = [f"{'label':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'tp':>5} {'fp':>5} {'fn':>5}"]
    for label, s in report.labels.items():
        lines.append(f"{label.value:<10} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f} "
                     f"{s.tp:>5} {s.fp:>5} {s.fn:>5}")
    span = "n/a" if report.span_recall is None else f"{report.span_recall:.3f}"
    lines.append(f"macro-F1: {report.macro_f1:.3f}   clean items flagged: {report.clean_fpr:.3f}   "
                 f"span recall: {span}   items: {report.items}")
    if report.by_origin:
        lines.append("")
        lines.append(f"{'source':<40} {'items':>5} {'eff F1':>6} {'div F1':>6} {'clean flagged':>13}")
        for origin, part in report.by_origin.items():
            eff, div = part.labels[Label.EFFICACY], part.labels[Label.DIVERSION]
            lines.append(f"{origin[:40]:<40} {part.items:>5} {_f1(eff):>6} {_f1(div):>6} {part.clean_fpr:>13.3f}")
    return "\n".join(lines)


def _f1(score: LabelScore) -> str:
    return "-" if score.tp + score.fn == 0 and score.fp == 0 else f"{score.f1:.3f}"


def _print_errors(report: Report) -> None:
    for gold, result in report.errors:
        want = ",".join(sorted(label.value for label in gold.labels)) or "clean"
        got = ",".join(label.value for label in result.labels) or "clean"
        hits = "; ".join(f"{h.rule}“{h.text}”" for h in result.hits)
        print(f"{gold.id} [{gold.kind.value}/{gold.category.value}] want {want} got {got}: {gold.text}"
              f"\n    hits: {hits or '-'}  note: {gold.note}")
