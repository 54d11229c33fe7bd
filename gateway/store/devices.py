"""Device identities for the gateway's directory: all of them at start, one device or one
account's devices after a change (``trackgw_devices`` NOTIFY, migration 005), and the
holding-account registration of unknown devices."""

from __future__ import annotations

from typing import Any

import psycopg

#: the channel migration 005's triggers notify: 'device:<unique_id>' or 'account:<id>'
CHANNEL = "trackgw_devices"

#: (id, unique_id, account_id, kind, protocol, active, account status)
DeviceRow = tuple[int, str, str, str, str, bool, str]

_SELECT = """
    select d.id, d.unique_id, d.account_id, d.kind, d.protocol, d.active, a.status
    from devices d join accounts a on a.id = d.account_id
"""


async def all_devices(conn: psycopg.AsyncConnection[Any]) -> list[DeviceRow]:
    return await (await conn.execute(_SELECT)).fetchall()


async def device(conn: psycopg.AsyncConnection[Any], unique_id: str) -> DeviceRow | None:
    row: DeviceRow | None = await (
        await conn.execute(_SELECT + " where d.unique_id = %s", (unique_id,))
    ).fetchone()
    return row


async def account_devices(conn: psycopg.AsyncConnection[Any], account_id: str) -> list[DeviceRow]:
    return await (
        await conn.execute(_SELECT + " where d.account_id = %s", (account_id,))
    ).fetchall()


async def register(
    conn: psycopg.AsyncConnection[Any], unique_id: str, protocol: str, kind: str, account: str
) -> DeviceRow | None:
    """Add an unknown device to the holding account ``account``; its row."""
    async with conn.transaction():
        await conn.execute(
            "insert into accounts (id, name) values (%s, 'devices seen but not provisioned')"
            " on conflict do nothing",
            (account,),
        )
        await conn.execute(
            "insert into devices (account_id, unique_id, protocol, kind)"
            " values (%s, %s, %s, %s) on conflict (unique_id) do nothing",
            (account, unique_id, protocol, kind),
        )
    return await device(conn, unique_id)
