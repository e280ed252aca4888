"""`moderation users add NAME --role …`: create a user of the rule store and print their token once."""

from __future__ import annotations

import argparse

from moderation.ruleset import store
from moderation.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("users", help="manage the reviewers who may edit rules")
    sub = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="add a user and print their bearer token (shown once)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in store.Role])
    add.add_argument("--db", default=None, help="store URL (default: SQLite file in the data directory)")
    add.set_defaults(func=run_add)
    ls = sub.add_parser("list", help="list users and roles (never tokens)")
    ls.add_argument("--db", default=None)
    ls.set_defaults(func=run_list)


def run_add(args: argparse.Namespace) -> int:
    from moderation.cli.main import CliError

    if not args.name.strip():
        raise CliError("the user name is empty")
    sessions = store.open_store(Settings(db_url=args.db).resolved_db_url())
    with sessions() as session:
        try:
            token = store.add_user(session, name=args.name.strip(), role=store.Role(args.role))
        except store.StoreError as exc:
            raise CliError(exc.message) from None
    print(f"added {args.name.strip()} as {args.role}; the token below is shown only this once:")
    print(token)
    return 0


def run_list(args: argparse.Namespace) -> int:
    sessions = store.open_store(Settings(db_url=args.db).resolved_db_url())
    with sessions() as session:
        for user in store.list_users(session):
            print(f"{user.name}\t{user.role.value}")
    return 0
