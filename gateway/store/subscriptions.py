"""Subscriptions and the entitlement snapshot, on the database side (async psycopg 3).

The rules live in ``entitlements/``; this module only moves rows: it loads what a snapshot is
built from, stores subscription records, and rewrites a circle's resolved timeline in the
``entitlements`` table (a cache for SQL readers; the gateway always resolves from the
subscriptions themselves, so a raw UPDATE of a subscription takes effect too).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import fields
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from entitlements import (
    AccountRow,
    AccountState,
    DeviceKind,
    DeviceRow,
    Snapshot,
    Subscription,
    build_snapshot,
    timeline,
)
from entitlements.rows import circle_row_from_subscriptions
from entitlements.subscription import Cycle

AsyncConn = psycopg.AsyncConnection[Any]

#: subscription columns, in the order of the Subscription fields they hold
_SUB_FIELDS = [f.name for f in fields(Subscription)]
_SUB_COLUMNS = ", ".join(_SUB_FIELDS)


def subscription_from_row(row: dict[str, Any]) -> Subscription:
    values = {name: row[name] for name in _SUB_FIELDS}
    values["cycle"] = Cycle.parse(values["cycle"])
    return Subscription(**values)


async def circle_subscriptions(conn: AsyncConn, circle_id: str) -> list[Subscription]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"select {_SUB_COLUMNS} from subscriptions where circle_id = %s order by id",
            (circle_id,),
        )
        return [subscription_from_row(r) for r in await cur.fetchall()]


async def payer_subscriptions(conn: AsyncConn, payer: str) -> list[Subscription]:
    """Every subscription of ``payer`` (a card fingerprint or store account), on any circle:
    what the one-free-trial-per-12-months rule is checked against."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"select {_SUB_COLUMNS} from subscriptions where payer = %s order by id", (payer,)
        )
        return [subscription_from_row(r) for r in await cur.fetchall()]


async def get_subscription(conn: AsyncConn, subscription_id: str) -> Subscription | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"select {_SUB_COLUMNS} from subscriptions where id = %s", (subscription_id,)
        )
        row = await cur.fetchone()
    return None if row is None else subscription_from_row(row)


async def upsert_subscription(conn: AsyncConn, sub: Subscription, source: str) -> None:
    values = [getattr(sub, name) for name in _SUB_FIELDS]
    values[_SUB_FIELDS.index("cycle")] = sub.cycle.value
    updates = ", ".join(f"{n} = excluded.{n}" for n in _SUB_FIELDS if n != "id")
    await conn.execute(
        f"insert into subscriptions ({_SUB_COLUMNS}, source, updated_at)"
        f" values ({', '.join(['%s'] * len(values))}, %s, now())"
        f" on conflict (id) do update set {updates}, source = excluded.source,"
        " updated_at = now()",
        [*values, source],
    )


async def replace_circle_subscriptions(
    conn: AsyncConn,
    circle_id: str,
    subs: list[Subscription],
    now: datetime,
    source: str = "admin",
    *,
    only_source: bool = False,
) -> None:
    """Make ``subs`` the circle's subscriptions (one transaction) and rewrite its timeline.

    With ``only_source`` only the circle's subscriptions of that ``source`` are replaced
    (e.g. the app stores'); the others (Stripe's) stay, and a subscription of another
    source may not be overwritten (``ValueError``)."""
    async with conn.transaction():
        row = await (
            await conn.execute("select 1 from circles where id = %s for update", (circle_id,))
        ).fetchone()
        if row is None:
            raise LookupError(f"no circle {circle_id!r}")
        for sub in subs:
            if sub.circle_id != circle_id:
                raise ValueError(f"subscription {sub.id!r} is for circle {sub.circle_id!r}")
        if only_source:
            other = await (
                await conn.execute(
                    "select id, source from subscriptions where id = any(%s) and source <> %s",
                    ([s.id for s in subs], source),
                )
            ).fetchone()
            if other is not None:
                raise ValueError(f"subscription {other[0]!r} belongs to {other[1]!r}")
            await conn.execute(
                "delete from subscriptions where circle_id = %s and source = %s"
                " and not (id = any(%s))",
                (circle_id, source, [s.id for s in subs]),
            )
        else:
            await conn.execute(
                "delete from subscriptions where circle_id = %s and not (id = any(%s))",
                (circle_id, [s.id for s in subs]),
            )
        for sub in subs:
            await upsert_subscription(conn, sub, source)
        await write_timeline(conn, circle_id, await circle_subscriptions(conn, circle_id), now)


async def write_timeline(
    conn: AsyncConn, circle_id: str, subs: list[Subscription], now: datetime
) -> None:
    """Rewrite the circle's rows of the ``entitlements`` table from its subscriptions."""
    rows = timeline(subs, since=now)
    await conn.execute("delete from entitlements where circle_id = %s", (circle_id,))
    async with conn.cursor() as cur:
        await cur.executemany(
            "insert into entitlements (circle_id, seq, valid_from, valid_until, plan, status,"
            " subscription_id, limits) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    circle_id,
                    i,
                    e.valid_from,
                    e.valid_until,
                    e.plan,
                    e.status.value,
                    e.subscription_id,
                    json.dumps(e.limits.as_json()),
                )
                for i, e in enumerate(rows)
            ],
        )


async def load_snapshot(conn: AsyncConn, version: int, now: datetime) -> Snapshot:
    """Everything a snapshot is built from, read in one repeatable-read transaction."""
    async with conn.transaction():
        await conn.execute("set transaction isolation level repeatable read read only")
        circles = await (
            await conn.execute("select id, owner_account_id from circles order by id")
        ).fetchall()
        members: defaultdict[str, list[str]] = defaultdict(list)
        for circle_id, account_id in await (
            await conn.execute(
                "select circle_id, account_id from circle_members order by circle_id, join_seq"
            )
        ).fetchall():
            members[circle_id].append(account_id)
        places: defaultdict[str, list[str]] = defaultdict(list)
        for circle_id, place_id in await (
            await conn.execute(
                "select circle_id, id from places order by circle_id, created_at, id"
            )
        ).fetchall():
            places[circle_id].append(str(place_id))
        subs: defaultdict[str, list[Subscription]] = defaultdict(list)
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(f"select {_SUB_COLUMNS} from subscriptions")
            for row in await cur.fetchall():
                subs[row["circle_id"]].append(subscription_from_row(row))
        accounts = await (await conn.execute("select id, status from accounts")).fetchall()
        devices = await (
            await conn.execute(
                "select id, account_id, kind from devices where active order by created_at, id"
            )
        ).fetchall()
    return build_snapshot(
        version=version,
        built_at=now,
        circles=[
            circle_row_from_subscriptions(
                circle_id=cid,
                owner_account_id=owner,
                member_account_ids=members[cid],
                place_ids=places[cid],
                subscriptions=subs[cid],
                since=now,
            )
            for cid, owner in circles
        ],
        accounts=[AccountRow(account_id=a, state=AccountState(s)) for a, s in accounts],
        devices=[
            DeviceRow(device_id=str(d), account_id=a, kind=DeviceKind(k)) for d, a, k in devices
        ],
    )
