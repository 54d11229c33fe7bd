"""``trackgw retention run [--dry-run]``: remove history older than each circle's plan keeps.

Prints one JSON object: the chunks dropped, the positions and events deleted per window (days)
and in total. ``--dry-run`` prints what a run now would remove, and removes nothing. Meant for
a daily timer (cron or a systemd timer); see gateway/store/retention.py for the rules.

Exit status: 0 ok, 1 database unreachable or failed.
"""

from __future__ import annotations

import argparse
from typing import Any

import psycopg

from ..store import retention
from ._common import CommandError, connect, print_json, run


def _run(args: argparse.Namespace) -> int:
    with connect(args) as conn:
        try:
            report = retention.run(conn, dry_run=args.dry_run)
        except psycopg.Error as exc:
            raise CommandError(f"retention failed: {str(exc).strip()}") from exc
    print_json(report.to_json())
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("retention", help="remove history past each plan's window")
    rsub = parser.add_subparsers(dest="retention_command", metavar="ACTION", required=True)
    cmd = rsub.add_parser(
        "run",
        help="drop old chunks, delete positions and events past each device's window",
    )
    cmd.add_argument("--dry-run", action="store_true", help="count only; remove nothing")
    cmd.set_defaults(func=run(_run))
