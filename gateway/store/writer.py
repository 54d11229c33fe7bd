"""One transaction per batch: COPY positions (deduplicated), events, latest positions and
geofence state. The caller acknowledges to devices only after ``write`` returns."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

log = logging.getLogger(__name__)

_POSITION_COLUMNS = (
    "device_id, fix_time, received_at, lat, lon, valid, speed_kmh, course_deg, altitude_m,"
    " accuracy_m, satellites, battery_pct, flags, attributes"
)
_POSITION_TYPES = [
    "int8",
    "timestamptz",
    "timestamptz",
    "float8",
    "float8",
    "bool",
    "float4",
    "float4",
    "float4",
    "float4",
    "int2",
    "float4",
    "int2",
    # attributes: jsonb, sent already in jsonb's binary form (version byte + JSON text, see
    # ``attributes_json``); declared bytea so that psycopg passes the bytes through untouched
    # instead of JSON-encoding them a second time (which stored a jsonb *string*)
    "bytea",
]

#: one row of ``positions``, in _POSITION_COLUMNS order
PositionRow = tuple[
    int,
    datetime,
    datetime,
    float,
    float,
    bool,
    float | None,
    float | None,
    float | None,
    float | None,
    int | None,
    float | None,
    int,
    bytes | None,
]


@dataclass(frozen=True, slots=True)
class EventRow:
    device_id: int
    circle_id: str | None
    kind: str
    time: datetime
    subject: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GeofenceStateRow:
    device_id: int
    place_id: str
    inside: bool
    since: datetime
    dwell_since: datetime | None = None
    airport: bool = False


@dataclass(slots=True)
class Batch:
    positions: list[PositionRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    geofence_state: list[GeofenceStateRow] = field(default_factory=list)
    #: geofence state rows to remove (device, place, airport) — e.g. a place that was deleted
    geofence_state_deleted: list[tuple[int, str, bool]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class WriteResult:
    positions_inserted: int
    events_inserted: int
    #: the events that were new (not resent duplicates): only these become alerts
    new_events: tuple[EventRow, ...]


_STAGE = """
create temp table if not exists positions_stage
    (like positions including defaults) on commit delete rows
"""


async def prepare(conn: psycopg.AsyncConnection[Any]) -> None:
    """Once per writer connection."""
    await conn.execute(_STAGE)
    await conn.commit()


async def write(conn: psycopg.AsyncConnection[Any], batch: Batch) -> WriteResult:
    inserted = 0
    new_events: list[EventRow] = []
    async with conn.transaction():
        if batch.positions:
            async with conn.cursor() as cur:
                async with cur.copy(
                    f"copy positions_stage ({_POSITION_COLUMNS}) from stdin (format binary)"
                ) as copy:
                    copy.set_types(_POSITION_TYPES)
                    for row in batch.positions:
                        await copy.write_row(row)
                await cur.execute(
                    f"insert into positions ({_POSITION_COLUMNS})"
                    f" select {_POSITION_COLUMNS} from positions_stage"
                    " on conflict do nothing"
                )
                inserted = cur.rowcount
                await cur.execute(
                    """
                    insert into latest_positions as l (device_id, fix_time, received_at, lat, lon,
                        valid, speed_kmh, course_deg, altitude_m, accuracy_m, battery_pct)
                    select distinct on (device_id) device_id, fix_time, received_at, lat, lon,
                        valid, speed_kmh, course_deg, altitude_m, accuracy_m, battery_pct
                    from positions_stage
                    order by device_id, fix_time desc
                    on conflict (device_id) do update set
                        fix_time = excluded.fix_time, received_at = excluded.received_at,
                        lat = excluded.lat, lon = excluded.lon, valid = excluded.valid,
                        speed_kmh = excluded.speed_kmh, course_deg = excluded.course_deg,
                        altitude_m = excluded.altitude_m, accuracy_m = excluded.accuracy_m,
                        battery_pct = excluded.battery_pct
                    where l.fix_time < excluded.fix_time
                    """
                )
        if batch.events:
            async with conn.cursor() as cur:
                for event in batch.events:
                    await cur.execute(
                        "insert into events (device_id, circle_id, kind, time, subject, payload)"
                        " values (%s, %s, %s, %s, %s, %s)"
                        " on conflict do nothing returning id",
                        (
                            event.device_id,
                            event.circle_id,
                            event.kind,
                            event.time,
                            event.subject,
                            json.dumps(event.payload, default=str),
                        ),
                    )
                    if await cur.fetchone() is not None:
                        new_events.append(event)
        if batch.geofence_state:
            async with conn.cursor() as cur:
                await cur.executemany(
                    """insert into geofence_state
                           (device_id, place_id, airport, inside, since, dwell_since)
                       values (%s, %s, %s, %s, %s, %s)
                       on conflict (device_id, place_id, airport) do update set
                         inside = excluded.inside, since = excluded.since,
                         dwell_since = excluded.dwell_since""",
                    [
                        (g.device_id, g.place_id, g.airport, g.inside, g.since, g.dwell_since)
                        for g in batch.geofence_state
                    ],
                )
        if batch.geofence_state_deleted:
            async with conn.cursor() as cur:
                await cur.executemany(
                    "delete from geofence_state where device_id = %s and place_id = %s"
                    " and airport = %s",
                    batch.geofence_state_deleted,
                )
    return WriteResult(inserted, len(new_events), tuple(new_events))


#: jsonb's binary input format: a version byte, then the JSON text
_JSONB_VERSION = b"\x01"
_encode_json: Callable[[Any], str] = json.JSONEncoder(
    separators=(",", ":"), default=str, check_circular=False
).encode
#: recent attribute sets -> their encoding. Trackers send the same few small sets (priority,
#: event IO, ignition ...) over and over, so most lookups hit. Bounded: cleared when full.
_ATTRIBUTES_CACHE: dict[tuple[Any, ...], bytes] = {}
_ATTRIBUTES_CACHE_MAX = 4096


def attributes_json(attributes: Any) -> bytes | None:
    """``attributes`` as the bytes of a jsonb value in binary COPY format (None when empty)."""
    if not attributes:
        return None
    values = attributes.values()
    types = tuple(map(type, values))
    # The key holds the value types too (1, 1.0 and True are equal keys but different JSON);
    # floats are not cached at all (-0.0 == 0.0, nan != nan, and they rarely repeat).
    if float in types:
        return _JSONB_VERSION + _encode_json(dict(attributes)).encode()
    try:
        key = (*attributes.items(), *types)
        encoded = _ATTRIBUTES_CACHE.get(key)
    except TypeError:  # an unhashable value (not in the model, but never fail a batch on it)
        return _JSONB_VERSION + _encode_json(dict(attributes)).encode()
    if encoded is None:
        encoded = _JSONB_VERSION + _encode_json(dict(attributes)).encode()
        if len(_ATTRIBUTES_CACHE) >= _ATTRIBUTES_CACHE_MAX:
            _ATTRIBUTES_CACHE.clear()
        _ATTRIBUTES_CACHE[key] = encoded
    return encoded


def position_row(device_id: int, pos: Any, received_at: datetime, flags: int = 0) -> PositionRow:
    return (
        device_id,
        pos.fix_time,
        received_at,
        pos.lat,
        pos.lon,
        pos.valid,
        pos.speed_kmh,
        pos.course_deg,
        pos.altitude_m,
        pos.accuracy_m,
        pos.satellites,
        pos.battery_pct,
        flags,
        attributes_json(pos.attributes),
    )
