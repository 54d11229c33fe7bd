"""One transaction per batch: COPY positions (deduplicated), events, latest positions and
geofence state. The caller acknowledges to devices only after ``write`` returns."""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import psycopg

from . import outbox

log = logging.getLogger(__name__)

#: libpq keepalives for the writer's connection: a half-open connection (the database host
#: gone, a NAT dropping the flow) is noticed within about idle + interval * count seconds
#: instead of the kernel's two hours; ``tcp_user_timeout`` bounds unacknowledged sends too.
KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # ms
}


def connection_kwargs(statement_timeout_ms: int, connect_timeout_s: int = 5) -> dict[str, Any]:
    """``psycopg.connect`` keyword arguments for a long-lived writer connection: keepalives,
    a connect timeout and a ``statement_timeout`` (a statement that hangs is cancelled and
    surfaces as an ``OperationalError``, which the writer retries)."""
    return {
        "connect_timeout": connect_timeout_s,
        "options": f"-c statement_timeout={int(statement_timeout_ms)}",
        **KEEPALIVES,
    }


#: errors that belong to the rows of a batch, not to the connection: the batch is split to
#: find the rows at fault. Client-side encoding errors (a NUL in text, an int out of int2's
#: range when dumped) count too: they come from the row's values.
ROW_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.DataError,
    psycopg.IntegrityError,
    psycopg.errors.InvalidTextRepresentation,
    psycopg.errors.UntranslatableCharacter,
    ValueError,
    TypeError,
    OverflowError,
    struct.error,
)

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
    #: a pending exit (inside only): its first outside fix, and the run's observations
    exit_since: datetime | None = None
    pending_fixes: int = 0


@dataclass(slots=True)
class Batch:
    positions: list[PositionRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    geofence_state: list[GeofenceStateRow] = field(default_factory=list)
    #: geofence state rows to remove (device, place, airport) — e.g. a place that was deleted
    geofence_state_deleted: list[tuple[int, str, bool]] = field(default_factory=list)
    #: who the batch's events may be told to (None: no outbox rows, e.g. a replay)
    audience_of: outbox.AudienceOf | None = None
    #: the device watch's default intervals (tag s, phone s); None: the watch is not kept
    watch: tuple[int, int] | None = None
    #: (device, battery low?) changes of the phone battery hysteresis
    battery: list[tuple[int, bool]] = field(default_factory=list)
    #: devices whose connection died (OwnTracks ``lwt``), and how soon after it their
    #: "tracking stopped" is due at the latest (a report in between cancels it)
    offline: list[int] = field(default_factory=list)
    offline_grace_s: int = 900


@dataclass(frozen=True, slots=True)
class RefusedRow:
    """A row the database (or the driver) refused, found by splitting its batch."""

    kind: Literal["position", "event", "geofence_state"]
    index: int  #: its index in ``Batch.positions`` / ``Batch.events`` (0 for geofence state)
    reason: str  #: the error class, e.g. ``check_violation`` or ``ValueError``
    error: str
    row_text: str


@dataclass(frozen=True, slots=True)
class WriteResult:
    positions_inserted: int
    events_inserted: int
    #: the events that were new (not resent duplicates): only these become alerts
    new_events: tuple[EventRow, ...]
    #: rows refused and left out (see ``write_isolating``); the rest was committed
    refused: tuple[RefusedRow, ...] = ()


_STAGE = """
create temp table if not exists positions_stage
    (like positions including defaults) on commit delete rows
"""


async def prepare(conn: psycopg.AsyncConnection[Any]) -> None:
    """Once per writer connection."""
    await conn.execute(_STAGE)
    await conn.commit()


_WATCH = """
insert into device_watch as w (device_id, last_seen, due_at)
select s.device_id, s.seen, s.seen + make_interval(secs => coalesce(d.expected_interval_s,
    case d.kind when 'phone' then %(phone)s else %(tag)s end))
from (select device_id, max(received_at) as seen from positions_stage group by device_id) s
join devices d on d.id = s.device_id
order by s.device_id
on conflict (device_id) do update set
    last_seen = greatest(w.last_seen, excluded.last_seen),
    due_at = greatest(w.due_at, excluded.due_at),
    woke = w.stopped,
    stopped = false
returning w.device_id, w.woke
"""

_WOKEN = """
select distinct on (device_id) device_id, received_at, fix_time, lat, lon, accuracy_m
from positions_stage where device_id = any(%s) order by device_id, fix_time desc
"""


async def _watch(
    cur: psycopg.AsyncCursor[Any], batch: Batch, tag_s: int, phone_s: int
) -> list[EventRow]:
    """The device watch of the batch's devices (in its transaction): next due time, and a
    "back online" event for each that had been "tracking stopped\"."""
    await cur.execute(_WATCH, {"tag": tag_s, "phone": phone_s})
    woken = [device_id for device_id, woke in await cur.fetchall() if woke]
    if batch.battery:
        await cur.executemany(
            "update device_watch set battery_low = %s where device_id = %s",
            [(low, device_id) for device_id, low in batch.battery],
        )
    if not woken:
        return []
    await cur.execute(_WOKEN, (woken,))
    return [
        EventRow(
            device_id,
            None,
            "back_online",
            received,
            "",
            {"lat": lat, "lon": lon, "accuracy_m": acc, "fix_time": fix_time.isoformat()},
        )
        for device_id, received, fix_time, lat, lon, acc in await cur.fetchall()
    ]


async def write(conn: psycopg.AsyncConnection[Any], batch: Batch) -> WriteResult:
    inserted = 0
    new_events: list[EventRow] = []
    stored: list[outbox.NewEvent] = []
    async with conn.transaction():
        woken: list[EventRow] = []
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
                if batch.watch is not None:
                    woken = await _watch(cur, batch, *batch.watch)
        if batch.offline:
            await conn.execute(
                "update device_watch set due_at = least(due_at, now() + make_interval(secs => %s))"
                " where device_id = any(%s) and not stopped",
                (batch.offline_grace_s, sorted(set(batch.offline))),
            )
        if batch.events or woken:
            async with conn.cursor() as cur:
                for event in [*batch.events, *woken]:
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
                    found = await cur.fetchone()
                    if found is not None:
                        new_events.append(event)
                        stored.append(
                            outbox.NewEvent(
                                found[0],
                                event.device_id,
                                event.circle_id,
                                event.kind,
                                event.time,
                                event.subject,
                                event.payload,
                            )
                        )
            if stored and batch.audience_of is not None:
                await outbox.add_for_events(conn, stored, batch.audience_of)
        if batch.geofence_state:
            async with conn.cursor() as cur:
                await cur.executemany(
                    """insert into geofence_state (device_id, place_id, airport, inside, since,
                           dwell_since, exit_since, pending_fixes)
                       values (%s, %s, %s, %s, %s, %s, %s, %s)
                       on conflict (device_id, place_id, airport) do update set
                         inside = excluded.inside, since = excluded.since,
                         dwell_since = excluded.dwell_since, exit_since = excluded.exit_since,
                         pending_fixes = excluded.pending_fixes""",
                    [
                        (
                            g.device_id,
                            g.place_id,
                            g.airport,
                            g.inside,
                            g.since,
                            g.dwell_since,
                            g.exit_since,
                            min(max(g.pending_fixes, 0), 100),
                        )
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


_Unit = tuple[Literal["position", "event", "geofence_state"], int]


def _sub_batch(batch: Batch, units: Sequence[_Unit]) -> Batch:
    out = Batch(
        audience_of=batch.audience_of,
        watch=batch.watch,
        battery=batch.battery,
        offline=batch.offline,
        offline_grace_s=batch.offline_grace_s,
    )
    for kind, i in units:
        if kind == "position":
            out.positions.append(batch.positions[i])
        elif kind == "event":
            out.events.append(batch.events[i])
        else:
            out.geofence_state = batch.geofence_state
            out.geofence_state_deleted = batch.geofence_state_deleted
    return out


def _reason(exc: BaseException) -> str:
    """A short label: the SQLSTATE's name for a server error (``CheckViolation`` ->
    ``check_violation``), else the exception's class name."""
    name = type(exc).__name__
    if getattr(exc, "sqlstate", None):
        return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return name


def _row_text(batch: Batch, unit: _Unit) -> str:
    kind, i = unit
    if kind == "position":
        return repr(batch.positions[i])
    if kind == "event":
        return repr(batch.events[i])
    return repr((batch.geofence_state, batch.geofence_state_deleted))


async def write_isolating(conn: psycopg.AsyncConnection[Any], batch: Batch) -> WriteResult:
    """``write``, and when the batch fails with a row error (``ROW_ERRORS``), split it in
    halves until the rows at fault are alone: every other row is committed (in several
    transactions) and the refused ones are returned in ``WriteResult.refused``. Connection
    errors propagate (nothing may then be acknowledged). One bad row in n costs about
    2 log2(n) extra transactions."""
    try:
        return await write(conn, batch)
    except ROW_ERRORS as exc:
        first = exc
    await _recover(conn)
    units: list[_Unit] = [("position", i) for i in range(len(batch.positions))]
    units += [("event", i) for i in range(len(batch.events))]
    if batch.geofence_state or batch.geofence_state_deleted:
        units.append(("geofence_state", 0))
    inserted = 0
    new_events: list[EventRow] = []
    refused: list[RefusedRow] = []

    async def attempt(part: list[_Unit], known: BaseException | None) -> None:
        nonlocal inserted
        if known is None:
            try:
                result = await write(conn, _sub_batch(batch, part))
            except ROW_ERRORS as exc:
                known = exc
                await _recover(conn)
            else:
                inserted += result.positions_inserted
                new_events.extend(result.new_events)
                return
        if len(part) == 1:
            kind, index = part[0]
            refused.append(
                RefusedRow(kind, index, _reason(known), str(known), _row_text(batch, part[0]))
            )
            return
        half = len(part) // 2
        await attempt(part[:half], None)
        await attempt(part[half:], None)

    await attempt(units, first)
    return WriteResult(inserted, len(new_events), tuple(new_events), tuple(refused))


async def _recover(conn: psycopg.AsyncConnection[Any]) -> None:
    """After a row error the transaction has been rolled back; make sure nothing is left
    open (a client-side error in the middle of COPY)."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        await conn.rollback()


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
