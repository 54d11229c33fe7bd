"""``trackgw db migrate`` and ``trackgw db url``."""

from __future__ import annotations

import argparse
from typing import Any

import psycopg

from ..store import migrate as migrations
from ._common import CommandError, run, settings


def _migrate(args: argparse.Namespace) -> int:
    url = settings(args).database.url
    try:
        applied = migrations.migrate(url)
    except psycopg.OperationalError as exc:
        raise CommandError(f"cannot reach the database at {url}: {str(exc).strip()}") from exc
    if applied:
        for m in applied:
            print(f"applied {m.version:03d}_{m.name}")
    else:
        print("database is up to date")
    return 0


def _url(args: argparse.Namespace) -> int:
    print(settings(args).database.url)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("db", help="database migrations and connection")
    dbsub = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    dbsub.add_parser("migrate", help="apply the SQL migrations not applied yet").set_defaults(
        func=run(_migrate)
    )
    dbsub.add_parser("url", help="print the database URL the gateway uses").set_defaults(
        func=run(_url)
    )
