"""What the pipeline's per-device state is recovered from at start: each device's newest
stored fix (``latest_positions``), the geofence state, and the circles' places."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

#: (device_id, fix_time, lat, lon)
FixRow = tuple[int, datetime, float, float]
#: (device_id, place_id, inside, since, dwell_since, airport, exit_since, pending_fixes)
StateRow = tuple[int, str, bool, datetime, datetime | None, bool, datetime | None, int]
#: (id, circle_id, name, geometry, radius_m)
PlaceRow = tuple[Any, str, str, Any, float | None]


async def latest_fixes(conn: psycopg.AsyncConnection[Any]) -> list[FixRow]:
    return await (
        await conn.execute("select device_id, fix_time, lat, lon from latest_positions")
    ).fetchall()


async def states(conn: psycopg.AsyncConnection[Any]) -> list[StateRow]:
    return await (
        await conn.execute(
            "select device_id, place_id, inside, since, dwell_since, airport, exit_since,"
            " pending_fixes from geofence_state"
        )
    ).fetchall()


async def place_rows(conn: psycopg.AsyncConnection[Any]) -> list[PlaceRow]:
    return await (
        await conn.execute("select id, circle_id, name, geometry, radius_m from places order by id")
    ).fetchall()
