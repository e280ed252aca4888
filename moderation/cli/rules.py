"""`moderation rules validate [DIR] | import DIR | export DIR`: packs on disk ⇄ the rule store."""

from __future__ import annotations

import argparse
from pathlib import Path

from moderation.ruleset import store
from moderation.ruleset.packs import PackError, dump_packs, load_rules
from moderation.ruleset.workflow import validate
from moderation.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("rules", help="validate rule packs, import them into the store, export it")
    sub = p.add_subparsers(dest="rules_command", required=True, metavar="ACTION")

    v = sub.add_parser("validate", help="check packs: schema, RE2 patterns, duplicate terms, exceptions")
    v.add_argument("dir", nargs="?", type=Path, default=None, help="pack directory (default: shipped packs)")
    v.set_defaults(func=run_validate)

    i = sub.add_parser("import", help="make the packs in DIR the draft and publish them as a new version")
    i.add_argument("dir", type=Path)
    i.add_argument("--message", default=None, help="why (kept in the audit log)")
    i.add_argument("--draft-only", action="store_true", help="replace the draft without publishing")
    i.add_argument("--as", dest="actor", default="cli", help="who imports (audit log)")
    i.add_argument("--db", default=None, help="store URL (default: SQLite file in the data directory)")
    i.set_defaults(func=run_import)

    e = sub.add_parser("export", help="write the newest published version (or the draft) as packs")
    e.add_argument("dir", type=Path)
    e.add_argument("--draft", action="store_true", help="export the draft instead")
    e.add_argument("--version", type=int, default=None, help="a published version (default: newest)")
    e.add_argument("--db", default=None)
    e.set_defaults(func=run_export)


def _load(directory: Path) -> list:
    from moderation.cli.main import CliError

    try:
        rules = load_rules(directory)
    except PackError as exc:
        raise CliError("\n".join(exc.problems)) from None
    problems = validate(rules)
    if problems:
        raise CliError("\n".join(problems))
    return rules


def run_validate(args: argparse.Namespace) -> int:
    directory = args.dir or Settings().rules_dir
    rules = _load(directory)
    print(f"{directory}: {len(rules)} rules, no problems")
    return 0


def run_import(args: argparse.Namespace) -> int:
    rules = _load(args.dir)
    sessions = store.open_store(Settings(db_url=args.db).resolved_db_url())
    message = args.message or f"import {args.dir}"
    with sessions() as session:
        store.replace_draft(session, rules=rules, actor=args.actor, reason=message)
        if args.draft_only:
            print(f"draft replaced with {len(rules)} rules from {args.dir}")
            return 0
        version = store.publish_draft(session, actor=args.actor, message=message)
    print(f"published version {version}: {len(rules)} rules from {args.dir}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from moderation.cli.main import CliError

    sessions = store.open_store(Settings(db_url=args.db).resolved_db_url())
    with sessions() as session:
        try:
            if args.draft:
                rules, what = store.draft_rules(session), "the draft"
            else:
                version = args.version or store.latest_version(session)
                if version is None:
                    raise CliError("nothing is published yet")
                rules, what = store.version_rules(session, version=version), f"version {version}"
        except store.StoreError as exc:
            raise CliError(exc.message) from None
    written = dump_packs(rules, args.dir)
    print(f"wrote {what} ({len(rules)} rules) to {len(written)} packs in {args.dir}")
    return 0
