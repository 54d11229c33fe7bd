"""``trackgw circles add|join``."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import Any

import psycopg

from entitlements import LimitExceeded

from ..store import admin
from ..store.subscriptions import load_snapshot
from ._common import CommandError, connect, print_json, run, settings


def _owner_may_create(args: argparse.Namespace, owner: str) -> None:
    async def check() -> None:
        url = settings(args).database.url
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=5) as conn:
            now = datetime.now(UTC)
            snapshot = await load_snapshot(conn, 0, now)
        try:
            snapshot.check_create_circle(owner, now)
        except LimitExceeded as exc:
            raise CommandError(f"refused: {exc}") from exc
        except LookupError:
            pass  # a new account: owns nothing yet

    asyncio.run(check())


def _add(args: argparse.Namespace) -> int:
    with connect(args) as conn:
        exists = conn.execute(
            "select owner_account_id from circles where id = %s", (args.id,)
        ).fetchone()
    if exists is None:
        _owner_may_create(args, args.owner)
    with connect(args) as conn:
        try:
            created = admin.add_circle(conn, args.id, args.owner, args.name)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
    print_json({"circle": args.id, "owner": args.owner, "created": created})
    return 0


def _join(args: argparse.Namespace) -> int:
    with connect(args) as conn:
        try:
            position = admin.join_circle(conn, args.circle, args.account)
        except LookupError as exc:
            raise CommandError(str(exc.args[0])) from exc
    print_json({"circle": args.circle, "account": args.account, "join_order": position})
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("circles", help="create circles and add members")
    csub = parser.add_subparsers(dest="circles_command", metavar="ACTION", required=True)
    add = csub.add_parser("add", help="create a circle (its owner is its first member)")
    add.add_argument("--id", required=True)
    add.add_argument("--owner", required=True, help="owning account (created if needed)")
    add.add_argument("--name")
    add.set_defaults(func=run(_add))
    join = csub.add_parser("join", help="add an account to a circle (members in join order)")
    join.add_argument("circle")
    join.add_argument("account")
    join.set_defaults(func=run(_join))
