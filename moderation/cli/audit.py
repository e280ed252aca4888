"""`moderation audit PATH… --out DIR`: audit archived transcripts, locally or on Ray, resumably."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from moderation.audit.judge import AuditOptions
from moderation.audit.readers import InputError, Source, discover
from moderation.cli.common import add_layers_option, parse_layers
from moderation.engine import Moderator
from moderation.settings import Settings
from moderation.types import Layer

BYTES_PER_WORKER = 1_000_000


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "audit",
        help="audit archived stream transcripts (.srt .vtt .jsonl .txt, optionally .gz)",
        description="Audit transcripts with the live service's judgement (cross-segment window "
        "included). Writes DIR/findings.jsonl, DIR/summary.csv and DIR/report.html. Streamer and "
        "product category come from `<stream>.meta.json` beside a file or a manifest.jsonl|csv.",
    )
    p.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="transcript files or directories (recursive)"
    )
    p.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="where the results and the report go"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes or Ray actors (default: all cores, fewer for small inputs)",
    )
    p.add_argument(
        "--engine", choices=("local", "ray"), default="local", help="local processes, or Ray at RAY_ADDRESS"
    )
    p.add_argument("--resume", action="store_true", help="keep the streams an earlier run into DIR finished")
    p.add_argument(
        "--expected", type=Path, metavar="FILE", help="compare the findings with expected violations (JSONL)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_layers_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moderation.audit.compare import compare_files, format_comparison
    from moderation.audit.run import run_audit
    from moderation.cli.main import CliError

    layers = parse_layers(args.layers)
    if args.workers is not None and args.workers < 1:
        raise CliError("--workers must be at least 1")
    if args.expected is not None and not args.expected.is_file():
        raise CliError(f"{args.expected}: no such file")
    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"--out {args.out}: exists and is not a directory")
    try:  # cheap, and every mistake in the paths is reported before the model loads
        sources = discover(args.paths, exclude=[args.out])
    except InputError as exc:
        raise CliError(str(exc)) from None
    base = Settings()
    moderator = _preflight(layers, base)
    options = AuditOptions(
        layers=layers,
        window_segments=base.stream_window_segments,
        cooldown_seconds=base.reminder_cooldown_seconds,
    )
    console = Console(stderr=True)
    progress = _Progress(console, enabled=not args.quiet)
    began = time.perf_counter()
    try:
        with progress:
            result = run_audit(
                args.paths,
                args.out,
                options=options,
                engine=args.engine,
                workers=args.workers
                if args.workers is not None or args.engine == "ray"
                else _default_workers(sources),
                resume=args.resume,
                settings=base,
                on_start=progress.start_run,
                on_result=progress.advance,
                moderator=moderator,
            )
    except InputError as exc:
        raise CliError(str(exc)) from None
    elapsed = time.perf_counter() - began
    if result.interrupted:
        print(
            f"interrupted: {len(result.reports)} streams are finished in {args.out}; "
            "run the same command with --resume to continue",
            file=sys.stderr,
        )
        return 130
    _print_summary(result.reports, result.judged, result.reused, elapsed, result.files)
    if args.expected is not None:
        print(format_comparison(compare_files(result.files["findings"], args.expected)))
    return 0


def _default_workers(sources: list[Source]) -> int:
    """All cores, but not more processes than the input is worth: a worker takes seconds to load
    the rules and the model, about what it needs to audit a megabyte of transcripts."""
    total = sum(s.size for s in sources)
    return max(1, min(os.cpu_count() or 1, -(-total // BYTES_PER_WORKER)))


def _preflight(layers: frozenset[Layer] | None, base: Settings) -> Moderator:
    """Fail before any work when the packs or the model cannot load (workers would all fail);
    a run in this process then uses this moderator."""
    from moderation.audit.run import settings_for
    from moderation.cli.main import CliError
    from moderation.engine import build_moderator

    try:
        return build_moderator(settings_for(layers, base))
    except (OSError, ValueError, ImportError) as exc:  # PackError, RulesetError, ModelLoadError
        hint = "" if layers == frozenset({Layer.RULES}) else " (run `make model`, or pass --layers rules)"
        raise CliError(f"cannot build the moderator: {exc}{hint}") from None


def _print_summary(
    reports: list[dict[str, Any]], judged: int, reused: int, elapsed: float, files: dict[str, Path]
) -> None:
    findings = [f for r in reports for f in r["findings"]]
    per_label = {
        label: sum(1 for f in findings if label in f["labels"]) for label in ("efficacy", "diversion")
    }
    errors = [r for r in reports if r.get("errors")]
    hours = sum(r.get("duration") or 0 for r in reports) / 3600
    print(
        f"streams: {len(reports)} ({judged} audited now, {reused} from an earlier run), {hours:.2f} stream-hours"
    )
    print(f"findings: {len(findings)} (efficacy {per_label['efficacy']}, diversion {per_label['diversion']})")
    if errors:
        print(f"streams with errors: {len(errors)} (see summary.csv)")
        for report in errors[:10]:
            print(f"  {report['stream']}: {'; '.join(report['errors'])}")
    print(f"took {elapsed:.1f} s")
    for name, path in files.items():
        print(f"{name}: {path}")


class _Progress:
    """A rich progress bar over bytes (the better ETA), counting streams in its description."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self.progress = Progress(
            TextColumn("[bold]audit[/] {task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self.task: TaskID | None = None
        self.done = 0
        self.total = 0
        self.errors = 0

    def __enter__(self) -> _Progress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def start_run(self, sources: list[Source], todo: list[Source]) -> None:
        self.total = len(todo)
        skipped = len(sources) - len(todo)
        if skipped:
            self.progress.console.print(f"resuming: {skipped} of {len(sources)} streams already finished")
        self.task = self.progress.add_task(self._describe(), total=sum(max(s.size, 1) for s in todo) or 1)

    def advance(self, source: Source, report: dict[str, Any]) -> None:
        self.done += 1
        self.errors += bool(report.get("errors"))
        if self.task is not None:
            self.progress.update(self.task, advance=max(source.size, 1), description=self._describe())

    def _describe(self) -> str:
        errors = f", {self.errors} with errors" if self.errors else ""
        return f"{self.done}/{self.total} streams{errors}"
