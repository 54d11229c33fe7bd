"""What the member API reads and writes about circles, members, devices, places and events
(async psycopg 3). Authorisation is the caller's (``gateway.api.access``); these functions
take ids that have already been checked."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from protocols.registry import kind_of

from . import ids
from .places import NewPlace

AsyncConn = psycopg.AsyncConnection[Any]


# -- circles ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Membership:
    circle_id: str
    owner_account_id: str
    name: str | None
    join_seq: int
    created_at: datetime
    joined_at: datetime


async def membership(conn: AsyncConn, circle_id: str, account_id: str) -> Membership | None:
    row = await (
        await conn.execute(
            "select c.id, c.owner_account_id, c.name, m.join_seq, c.created_at, m.joined_at"
            " from circles c join circle_members m on m.circle_id = c.id"
            " where c.id = %s and m.account_id = %s",
            (circle_id, account_id),
        )
    ).fetchone()
    return None if row is None else Membership(*row)


async def my_circles(conn: AsyncConn, account_id: str) -> list[Membership]:
    rows = await (
        await conn.execute(
            "select c.id, c.owner_account_id, c.name, m.join_seq, c.created_at, m.joined_at"
            " from circles c join circle_members m on m.circle_id = c.id"
            " where m.account_id = %s order by m.join_seq",
            (account_id,),
        )
    ).fetchall()
    return [Membership(*r) for r in rows]


async def create_circle(conn: AsyncConn, owner: str, name: str) -> str:
    circle_id = ids.new_id("cir")
    async with conn.transaction():
        await conn.execute(
            "insert into circles (id, owner_account_id, name) values (%s, %s, %s)",
            (circle_id, owner, name),
        )
        await conn.execute(
            "insert into circle_members (circle_id, account_id) values (%s, %s)",
            (circle_id, owner),
        )
    return circle_id


async def remove_member(conn: AsyncConn, circle_id: str, account_id: str) -> bool:
    cur = await conn.execute(
        "delete from circle_members where circle_id = %s and account_id = %s",
        (circle_id, account_id),
    )
    return cur.rowcount > 0


async def members(conn: AsyncConn, circle_id: str) -> list[dict[str, Any]]:
    """The circle's members in join order (account id, name, joined_at)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "select m.account_id as account, a.name, m.joined_at, c.owner_account_id = m.account_id"
            " as owner from circle_members m join accounts a on a.id = m.account_id"
            " join circles c on c.id = m.circle_id"
            " where m.circle_id = %s order by m.join_seq",
            (circle_id,),
        )
        return list(await cur.fetchall())


async def devices_with_latest(conn: AsyncConn, account_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Active devices of these accounts, each with its latest position (or None)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "select d.id, d.account_id, d.unique_id, d.protocol, d.kind, d.name,"
            " l.fix_time, l.lat, l.lon, l.speed_kmh, l.course_deg, l.accuracy_m, l.battery_pct"
            " from devices d left join latest_positions l on l.device_id = d.id"
            " where d.account_id = any(%s) and d.active order by d.id",
            (list(account_ids),),
        )
        rows = await cur.fetchall()
    out = []
    for r in rows:
        latest = None
        if r["fix_time"] is not None:
            latest = {
                k: r[k]
                for k in (
                    "fix_time",
                    "lat",
                    "lon",
                    "speed_kmh",
                    "course_deg",
                    "accuracy_m",
                    "battery_pct",
                )
            }
        out.append(
            {
                "id": r["id"],
                "account": r["account_id"],
                "name": r["name"],
                "protocol": r["protocol"],
                "kind": r["kind"],
                "latest": latest,
            }
        )
    return out


# -- devices ---------------------------------------------------------------------------


class DeviceTaken(ValueError):
    """The device's own id is provisioned to another account (or another protocol)."""


@dataclass(frozen=True, slots=True)
class MemberDevice:
    id: int
    unique_id: str
    protocol: str
    kind: str
    name: str | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "unique_id": self.unique_id,
            "protocol": self.protocol,
            "kind": self.kind,
            "name": self.name,
            "created_at": self.created_at,
        }


_DEVICE = "select id, unique_id, protocol, kind, name, created_at from devices"


async def add_device(
    conn: AsyncConn, account_id: str, protocol: str, unique_id: str, name: str | None
) -> tuple[MemberDevice, bool]:
    """Provision (or re-activate) the account's device; (device, created)."""
    ids.check_unique_id(protocol, unique_id)
    async with conn.transaction():
        row = await (
            await conn.execute(
                "insert into devices (account_id, unique_id, protocol, kind, name)"
                " values (%s, %s, %s, %s, %s) on conflict (unique_id) do nothing returning id",
                (account_id, unique_id, protocol, kind_of(protocol), name),
            )
        ).fetchone()
        created = row is not None
        if not created:
            existing = await (
                await conn.execute(
                    "select account_id, protocol from devices where unique_id = %s for update",
                    (unique_id,),
                )
            ).fetchone()
            assert existing is not None
            if (existing[0], existing[1]) != (account_id, protocol):
                raise DeviceTaken(unique_id)
            await conn.execute(
                "update devices set active = true, name = coalesce(%s, name) where unique_id = %s",
                (name, unique_id),
            )
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_DEVICE + " where unique_id = %s", (unique_id,))
            found = await cur.fetchone()
    assert found is not None
    return MemberDevice(**found), created


async def my_devices(conn: AsyncConn, account_id: str) -> list[MemberDevice]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_DEVICE + " where account_id = %s and active order by id", (account_id,))
        return [MemberDevice(**r) for r in await cur.fetchall()]


async def device_owner(conn: AsyncConn, device_id: int) -> str | None:
    row = await (
        await conn.execute("select account_id from devices where id = %s and active", (device_id,))
    ).fetchone()
    return None if row is None else str(row[0])


async def delete_device(conn: AsyncConn, account_id: str, device_id: int) -> dict[str, int] | None:
    """Delete the account's device and everything stored of it; the counts, or None."""
    async with conn.transaction():
        row = await (
            await conn.execute(
                "select id from devices where id = %s and account_id = %s for update",
                (device_id, account_id),
            )
        ).fetchone()
        if row is None:
            return None
        counts = {}
        await conn.execute(  # they hold the device's positions (migration 008)
            "delete from notifications where event_id in"
            " (select id from events where device_id = %s)",
            (device_id,),
        )
        for table in ("positions", "events", "geofence_state", "latest_positions"):
            cur = await conn.execute(f"delete from {table} where device_id = %s", (device_id,))
            counts[table] = cur.rowcount
        await conn.execute("delete from devices where id = %s", (device_id,))
        await conn.execute("select pg_notify('trackgw_devices', %s)", (account_id,))
    return counts


# -- places ----------------------------------------------------------------------------


async def update_place(
    conn: AsyncConn, circle_id: str, place_id: int, place: NewPlace
) -> dict[str, Any] | None:
    try:
        async with conn.transaction():
            row = await (
                await conn.execute(
                    "update places set name = %s, kind = %s, geometry = %s, radius_m = %s"
                    " where id = %s and circle_id = %s returning id, created_at",
                    (
                        place.name,
                        place.kind,
                        json.dumps(place.geometry),
                        place.radius_m,
                        place_id,
                        circle_id,
                    ),
                )
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise ValueError(f"the circle already has a place {place.name!r}") from None
    if row is None:
        return None
    return {
        "id": row[0],
        "circle": circle_id,
        "name": place.name,
        "kind": place.kind,
        "geometry": place.geometry,
        "radius_m": place.radius_m,
        "created_at": row[1],
    }


async def delete_place(conn: AsyncConn, circle_id: str, place_id: int) -> bool:
    async with conn.transaction():
        cur = await conn.execute(
            "delete from places where id = %s and circle_id = %s", (place_id, circle_id)
        )
        if cur.rowcount:
            await conn.execute("delete from geofence_state where place_id = %s", (str(place_id),))
    return cur.rowcount > 0


# -- events (alerts) -------------------------------------------------------------------


class InvalidCursor(ValueError):
    pass


def _encode(time: datetime, event_id: int) -> str:
    return base64.urlsafe_b64encode(f"e1:{time.isoformat()}:{event_id}".encode()).decode()


def _decode(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        version, rest = raw.split(":", 1)
        when, event_id = rest.rsplit(":", 1)
        if version != "e1":
            raise ValueError(version)
        value = datetime.fromisoformat(when)
        if value.tzinfo is None:
            raise ValueError(when)
        return value, int(event_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor(f"not an alerts cursor: {cursor!r}") from exc


async def circle_events(
    conn: AsyncConn, circle_id: str, device_ids: list[int], limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The circle's events of these devices (and the devices' own alarms, which belong to no
    circle), newest first, keyset-paged on (time, id)."""
    before_time, before_id = (None, None) if cursor is None else _decode(cursor)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "select e.id, e.kind, e.time, e.device_id as device, d.name as device_name,"
            " e.subject, e.payload from events e left join devices d on d.id = e.device_id"
            " where e.device_id = any(%(d)s) and (e.circle_id = %(c)s or e.circle_id is null)"
            " and (%(t)s::timestamptz is null or (e.time, e.id) < (%(t)s, %(i)s))"
            " order by e.time desc, e.id desc limit %(n)s",
            {"c": circle_id, "d": device_ids, "t": before_time, "i": before_id, "n": limit + 1},
        )
        rows = list(await cur.fetchall())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_encode(rows[-1]["time"], rows[-1]["id"]) if more and rows else None)


# -- my data ---------------------------------------------------------------------------


async def stream_rows(
    conn: AsyncConn, sql: str, params: tuple[Any, ...], batch: int = 5000
) -> AsyncIterator[tuple[Any, ...]]:
    """Rows of ``sql`` through a server-side cursor: ``batch`` rows in memory at a time."""
    async with conn.transaction(), conn.cursor(name="trackgw_export") as cur:
        cur.itersize = batch
        await cur.execute(sql, params)
        async for row in cur:
            yield row
