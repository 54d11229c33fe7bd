"""``trackgw places add|list``."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from entitlements import LimitExceeded
from geofence import InvalidGeometry

from ..store import places as store
from ..store.subscriptions import load_snapshot
from ._common import CommandError, print_json, run, settings


def _add(args: argparse.Namespace) -> int:
    try:
        doc = json.loads(Path(args.geojson).read_text())
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read {args.geojson}: {exc}", 2) from exc
    try:
        new = store.parse_places(doc)
    except (InvalidGeometry, AttributeError, KeyError, TypeError) as exc:
        raise CommandError(f"{args.geojson}: {exc}", 2) from exc

    async def add() -> list[dict[str, Any]]:
        url = settings(args).database.url
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=5) as conn:
            now = datetime.now(UTC)
            snapshot = await load_snapshot(conn, 0, now)
            return await store.add_places(conn, args.circle, new, snapshot, now)

    try:
        created = asyncio.run(add())
    except LimitExceeded as exc:
        raise CommandError(f"refused: {exc}") from exc
    except (LookupError, ValueError) as exc:
        raise CommandError(str(exc.args[0])) from exc
    except psycopg.OperationalError as exc:
        raise CommandError(f"cannot reach the database: {exc}") from exc
    for place in created:
        print_json(place)
    return 0


def _list(args: argparse.Namespace) -> int:
    async def listing() -> list[dict[str, Any]]:
        url = settings(args).database.url
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=5) as conn:
            return await store.list_places(conn, args.circle)

    for place in asyncio.run(listing()):
        print_json(place)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("places", help="a circle's places (geofences)")
    psub = parser.add_subparsers(dest="places_command", metavar="ACTION", required=True)
    add = psub.add_parser("add", help="add places from a GeoJSON Feature or FeatureCollection")
    add.add_argument("--circle", required=True)
    add.add_argument("--geojson", required=True, metavar="FILE")
    add.set_defaults(func=run(_add))
    lst = psub.add_parser("list", help="list a circle's places as JSON lines")
    lst.add_argument("--circle", required=True)
    lst.set_defaults(func=run(_list))
