"""Commands to devices (migration 009): queued, claimed by the gateway process that holds the
device's connection, answered by the device's reply, or expired.

Every state change is one ``UPDATE ... WHERE state = <the state it leaves>``, so two gateway
processes never both send one command, and an answer lands on exactly one command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

#: the channel migration 009's trigger notifies on (payload: the device id)
CHANNEL = "trackgw_commands"

STATES = ("queued", "sent", "answered", "expired", "failed")

_COLUMNS = (
    "c.id, c.device_id, d.unique_id, d.protocol, c.name, c.argument, c.state, "
    "c.requested_by, c.created_at, c.expires_at, c.sent_at, c.answered_at, c.payload, "
    "c.response, c.error"
)
_FROM = "from commands c join devices d on d.id = c.device_id"


@dataclass(frozen=True, slots=True)
class Command:
    id: int
    device_id: int
    unique_id: str
    protocol: str
    name: str
    argument: str | None
    state: str
    requested_by: str
    created_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    answered_at: datetime | None
    payload: bytes | None
    response: dict[str, Any] | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "device": self.device_id,
            "unique_id": self.unique_id,
            "protocol": self.protocol,
            "command": self.name,
            "argument": self.argument,
            "state": self.state,
            "requested_by": self.requested_by,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "sent_at": None if self.sent_at is None else self.sent_at.isoformat(),
            "answered_at": None if self.answered_at is None else self.answered_at.isoformat(),
            "payload": None if self.payload is None else bytes(self.payload).hex(),
            "response": self.response,
            "error": self.error,
        }


async def queue(
    conn: psycopg.AsyncConnection[Any],
    device_id: int,
    name: str,
    argument: str | None,
    requested_by: str,
    expires_at: datetime,
) -> Command:
    async with conn.cursor() as cur:
        await cur.execute(
            "insert into commands (device_id, name, argument, requested_by, expires_at)"
            " values (%s, %s, %s, %s, %s) returning id",
            (device_id, name, argument, requested_by, expires_at),
        )
        row = await cur.fetchone()
    assert row is not None
    command = await get(conn, int(row[0]))
    assert command is not None
    return command


async def get(conn: psycopg.AsyncConnection[Any], command_id: int) -> Command | None:
    async with conn.cursor(row_factory=class_row(Command)) as cur:
        await cur.execute(f"select {_COLUMNS} {_FROM} where c.id = %s", (command_id,))
        return await cur.fetchone()


async def listed(
    conn: psycopg.AsyncConnection[Any],
    *,
    device_id: int | None = None,
    state: str | None = None,
    limit: int = 100,
) -> list[Command]:
    """Newest first."""
    where: list[str] = ["true"]
    params: list[object] = []
    if device_id is not None:
        where.append("c.device_id = %s")
        params.append(device_id)
    if state is not None:
        where.append("c.state = %s")
        params.append(state)
    async with conn.cursor(row_factory=class_row(Command)) as cur:
        await cur.execute(
            f"select {_COLUMNS} {_FROM} where {' and '.join(where)} order by c.id desc limit %s",
            (*params, limit),
        )
        return await cur.fetchall()


async def due(
    conn: psycopg.AsyncConnection[Any], device_ids: list[int] | None = None, limit: int = 1000
) -> list[Command]:
    """Queued commands that have not expired, oldest first (a device's in the order given):
    of ``device_ids`` only, or of every device."""
    only = "" if device_ids is None else " and c.device_id = any(%s)"
    params: tuple[object, ...] = (limit,) if device_ids is None else (device_ids, limit)
    async with conn.cursor(row_factory=class_row(Command)) as cur:
        await cur.execute(
            f"select {_COLUMNS} {_FROM} where c.state = 'queued' and c.expires_at > now()"
            f"{only} order by c.id limit %s",
            params,
        )
        return await cur.fetchall()


async def claim(conn: psycopg.AsyncConnection[Any], command_id: int, payload: bytes) -> bool:
    """queued -> sent with the bytes about to be written; False if another process (or the
    expiry) took it first."""
    cur = await conn.execute(
        "update commands set state = 'sent', sent_at = now(), payload = %s"
        " where id = %s and state = 'queued' and expires_at > now()",
        (payload, command_id),
    )
    return cur.rowcount == 1


async def unclaim(conn: psycopg.AsyncConnection[Any], command_id: int) -> None:
    """sent -> queued: the connection closed before the bytes could be written."""
    await conn.execute(
        "update commands set state = 'queued', sent_at = null, payload = null"
        " where id = %s and state = 'sent'",
        (command_id,),
    )


async def fail(conn: psycopg.AsyncConnection[Any], command_id: int, error: str) -> None:
    await conn.execute(
        "update commands set state = 'failed', error = %s where id = %s and state = 'queued'",
        (error[:1000], command_id),
    )


async def expire(conn: psycopg.AsyncConnection[Any]) -> list[tuple[int, str]]:
    """Queued commands past their expiry -> expired: (id, protocol) of each."""
    async with conn.cursor() as cur:
        await cur.execute(
            "update commands c set state = 'expired', error = 'the device did not connect in time'"
            " from devices d where d.id = c.device_id"
            " and c.state = 'queued' and c.expires_at <= now() returning c.id, d.protocol"
        )
        return [(int(r[0]), str(r[1])) for r in await cur.fetchall()]


async def answer(
    conn: psycopg.AsyncConnection[Any],
    device_id: int,
    response: Mapping[str, Any],
    window_s: float,
) -> int | None:
    """The device's answer, on its oldest command sent within ``window_s`` (sent ->
    answered); the command's id, or None when it awaited nothing."""
    async with conn.cursor() as cur:
        await cur.execute(
            "update commands set state = 'answered', answered_at = now(), response = %s"
            " where id = (select id from commands where device_id = %s and state = 'sent'"
            " and sent_at > now() - make_interval(secs => %s)"
            " order by sent_at, id limit 1 for update skip locked) returning id",
            (Jsonb(dict(response)), device_id, window_s),
        )
        row = await cur.fetchone()
    return None if row is None else int(row[0])


async def awaiting(conn: psycopg.AsyncConnection[Any], window_s: float) -> set[int]:
    """Devices with a command sent within ``window_s`` and not answered."""
    async with conn.cursor() as cur:
        await cur.execute(
            "select distinct device_id from commands where state = 'sent'"
            " and sent_at > now() - make_interval(secs => %s)",
            (window_s,),
        )
        return {int(r[0]) for r in await cur.fetchall()}


async def device(conn: psycopg.AsyncConnection[Any], device_id: int) -> tuple[str, str] | None:
    """(protocol, unique id) of a device, or None."""
    async with conn.cursor() as cur:
        await cur.execute("select protocol, unique_id from devices where id = %s", (device_id,))
        row = await cur.fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


async def device_by_unique_id(conn: psycopg.AsyncConnection[Any], unique_id: str) -> int | None:
    async with conn.cursor() as cur:
        await cur.execute("select id from devices where unique_id = %s", (unique_id,))
        row = await cur.fetchone()
    return None if row is None else int(row[0])
