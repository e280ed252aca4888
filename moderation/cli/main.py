"""Entry point: one sub-command module per command group, registered explicitly."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines register(subparsers); the sub-parser's `func(args) -> int` runs the command.
COMMAND_MODULES = (
    "moderation.cli.check",
    "moderation.cli.evaluate",
    "moderation.cli.audit",
    "moderation.cli.rules",
    "moderation.cli.users",
    "moderation.cli.serve",
)


class CliError(Exception):
    """A user's mistake: printed as one line on stderr, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moderation",
        description="Compliance checks for live-stream commerce: efficacy claims and off-platform diversion.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"moderation {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
