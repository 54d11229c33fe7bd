"""``trackgw accounts delete ACCOUNT``."""

from __future__ import annotations

import argparse
from typing import Any

from ..store import admin
from ._common import CommandError, connect, print_json, run


def _delete(args: argparse.Namespace) -> int:
    with connect(args) as conn:
        try:
            counts = admin.delete_account(conn, args.account)
        except LookupError as exc:
            raise CommandError(str(exc.args[0])) from exc
    print_json({"account": args.account, "deleted": counts})
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("accounts", help="account operations")
    asub = parser.add_subparsers(dest="accounts_command", metavar="ACTION", required=True)
    delete = asub.add_parser(
        "delete", help="delete an account's history and deactivate its devices"
    )
    delete.add_argument("account")
    delete.set_defaults(func=run(_delete))
