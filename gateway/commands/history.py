"""``trackgw history export``: one device's stored track as GPX, GeoJSON or CSV on stdout.

    trackgw history export --device UNIQUE_ID --from ISO --to ISO
                           [--format gpx|geojson|csv] [--bucket SECONDS] [--replay-csv]

Times are ISO 8601 with a zone (``2024-05-01T00:00:00Z``); the window is ``from <= t < to``.
``--bucket`` keeps the first fix of every SECONDS-wide time bucket. The track is read page by
page (keyset paging) and written as it is read, so a long track never sits in memory.
This is an operator's tool: it reads everything stored; plan windows are the API's concern.

Exit status: 0 ok, 1 unknown device or database unreachable, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg

from .. import exports
from ..store import history
from ._common import CommandError, run, settings

PAGE = 5000


def parse_time(text: str, name: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{name}: not an ISO 8601 time: {text!r}", 2) from None
    if when.utcoffset() is None:
        raise CommandError(f"{name}: add a zone (Z or +hh:mm) to {text!r}", 2)
    return when


def _fixes(
    runner: asyncio.Runner,
    conn: psycopg.AsyncConnection[Any],
    device_id: int,
    start: datetime,
    end: datetime,
    bucket_s: int | None,
) -> Iterator[history.Fix]:
    """Every fix of the window, fetched a page at a time as the writer asks for more."""
    cursor: str | None = None
    while True:
        page = runner.run(
            history.track(conn, device_id, start, end, limit=PAGE, cursor=cursor, bucket_s=bucket_s)
        )
        yield from page.fixes
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _export(args: argparse.Namespace) -> int:
    start = parse_time(args.start, "--from")
    end = parse_time(args.end, "--to")
    if start >= end:
        raise CommandError("--from must be before --to", 2)
    if args.bucket is not None and args.bucket < 1:
        raise CommandError("--bucket must be a whole number of seconds >= 1", 2)
    if args.replay_csv and args.format != "csv":
        raise CommandError("--replay-csv needs --format csv", 2)
    url = settings(args).database.url
    with asyncio.Runner() as runner:
        try:
            conn = runner.run(
                psycopg.AsyncConnection.connect(url, connect_timeout=5, autocommit=True)
            )
        except psycopg.OperationalError as exc:
            raise CommandError(f"cannot reach the database at {url}: {str(exc).strip()}") from exc
        try:
            device_id = runner.run(history.device_id_of(conn, args.device))
            if device_id is None:
                raise CommandError(f"no device {args.device!r}", 1)
            fixes = _fixes(runner, conn, device_id, start, end, args.bucket)
            if args.replay_csv:
                chunks = exports.csv(fixes, args.device, replay=True)
            else:
                chunks = exports.write(args.format, fixes, args.device)
            out = sys.stdout
            for chunk in chunks:
                out.write(chunk)
            out.flush()
        finally:
            runner.run(conn.close())
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("history", help="stored tracks")
    hsub = parser.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    exp = hsub.add_parser(
        "export",
        help="print one device's track as GPX, GeoJSON or CSV",
        description="Print the fixes of DEVICE with FROM <= time < TO, oldest first.",
    )
    exp.add_argument("--device", required=True, metavar="UNIQUE_ID", help="IMEI or phone id")
    exp.add_argument("--from", dest="start", required=True, metavar="ISO", help="window start")
    exp.add_argument("--to", dest="end", required=True, metavar="ISO", help="window end")
    exp.add_argument("--format", choices=tuple(exports.FORMATS), default="gpx")
    exp.add_argument(
        "--bucket", type=int, metavar="SECONDS", help="keep the first fix of each time bucket"
    )
    exp.add_argument(
        "--replay-csv",
        action="store_true",
        help="CSV with only the columns `trackgw geofence replay --track` reads",
    )
    exp.set_defaults(func=run(_export))
