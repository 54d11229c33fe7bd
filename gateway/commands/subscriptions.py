"""``trackgw subscriptions set --file SUBS.json``: record purchases (e.g. from the app stores).

It replaces that circle's app-store subscriptions (never its Stripe ones, exactly as
``PUT /v1/admin/circles/{circle}/subscriptions`` does) and rewrites its entitlement timeline
in one transaction; a running gateway picks the change up through NOTIFY.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from entitlements import InvalidSubscription, load_subscriptions
from entitlements.errors import UnknownPlan

from ..store.subscriptions import replace_circle_subscriptions
from ._common import CommandError, print_json, run, settings


def _set(args: argparse.Namespace) -> int:
    try:
        doc = json.loads(Path(args.file).read_text())
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read {args.file}: {exc}", 2) from exc
    try:
        subs = load_subscriptions(doc)
    except (InvalidSubscription, UnknownPlan) as exc:
        raise CommandError(f"{args.file}: {exc}", 2) from exc

    async def write() -> None:
        url = settings(args).database.url
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=5) as conn:
            await replace_circle_subscriptions(
                conn,
                subs.circle_id,
                list(subs.subscriptions),
                datetime.now(UTC),
                source="app-store",
                only_source=True,
            )

    try:
        asyncio.run(write())
    except LookupError as exc:
        raise CommandError(str(exc.args[0])) from exc
    except ValueError as exc:  # it names a subscription of another source (Stripe's)
        raise CommandError(str(exc)) from exc
    except psycopg.OperationalError as exc:
        raise CommandError(f"cannot reach the database: {exc}") from exc
    print_json({"circle": subs.circle_id, "subscriptions": [s.id for s in subs.subscriptions]})
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("subscriptions", help="record a circle's subscriptions")
    ssub = parser.add_subparsers(dest="subscriptions_command", metavar="ACTION", required=True)
    cmd = ssub.add_parser(
        "set", help="replace a circle's app-store subscriptions from SUBS.json (Stripe's stay)"
    )
    cmd.add_argument("--file", required=True, metavar="SUBS.json")
    cmd.set_defaults(func=run(_set))
